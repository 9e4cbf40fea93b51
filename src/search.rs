//! `hangsim search`: many seeds, in parallel, with findings kept.
//!
//! Start at [`search`]. The seeds of a range (and shard) are numbered by index; worker threads
//! ([`in_seed_order`]) take indices from a shared counter and run whole runs, never sharing a
//! run, and the main thread takes their results back *in seed order*, so that what is printed
//! and written is the same for every `--jobs`.
//!
//! Per seed: one run (two with `--check-determinism every`), which gives the verdict and the
//! report; a failing run is run a second time, to check that it reproduces (a different trace
//! hash is `Nondeterminism`).
//!
//! Findings: one NDJSON line per failing run (`--out`), one fixture per distinct failure
//! signature keeping the smallest seed (`--fixtures`), and the report of the first run of each
//! signature on stdout; last, the summary line.
//!
//! Resume (`--out FILE --resume`): next to FILE the search keeps `FILE.progress`, which names
//! the search and how many of its seeds (in seed order) are complete. The NDJSON line of a seed
//! is written before the progress file counts that seed, so after a stop the NDJSON file may
//! hold lines past the progress mark, never fewer. `--resume` drops those lines, keeps the rest,
//! and runs on from the mark: no seed is reported twice and none is lost. Fixtures are written
//! as they are found and obey the smallest-seed rule, so writing one twice changes nothing.

use std::collections::BTreeMap;
use std::io::{BufWriter, IsTerminal, Write};
use std::panic::AssertUnwindSafe;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use clap::{Args, ValueEnum};
use consumer::ShutdownProtocol;
use scenarios::fixture::{self, Fixture, Provenance};
use scenarios::{run_checked, run_one, RunRecord, RunSpec, ScenarioName, Verdict};
use serde::{Deserialize, Serialize};
use sim::StrategyChoice;

use crate::args::{self, SeedPlan, SeedRange, Shard};
use crate::json::{self, Value};

/// What `hangsim search` takes.
#[derive(Args, Clone, Debug)]
pub struct SearchArgs {
    #[arg(long, value_parser = args::scenario)]
    pub scenario: ScenarioName,
    #[arg(long, value_parser = args::protocol)]
    pub protocol: ShutdownProtocol,
    /// The seeds, half-open: `0..1000` runs seeds 0 to 999.
    #[arg(long, value_parser = args::seed_range, value_name = "A..B")]
    pub seeds: SeedRange,
    /// Worker threads, each running whole runs; the output does not depend on it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Only the seeds with `seed % N == K`, so that N machines can split one range.
    #[arg(long, value_parser = args::shard, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// The scheduling strategy (`hangsim list` names them).
    #[arg(long, value_parser = args::strategy, default_value = "yields")]
    pub strategy: StrategyChoice,
    /// Write one JSON line per failing run here (and keep `FILE.progress` for `--resume`).
    #[arg(long, value_name = "FILE.ndjson")]
    pub out: Option<PathBuf>,
    /// Write one fixture per distinct failure signature here, keeping the smallest seed.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Also keep a fixture of the smallest passing seed (needs `--fixtures`).
    #[arg(long, requires = "fixtures")]
    pub keep_passing: bool,
    /// Continue the search recorded in `--out` and its progress file.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Stop after this many seeds in this invocation (a time-boxed job can `--resume` later).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seeds: Option<u64>,
    /// Which runs are run twice to check that they reproduce.
    #[arg(long, value_enum, default_value_t = DeterminismCheck::Failing)]
    pub check_determinism: DeterminismCheck,
    /// The date fixtures record as their provenance (default: today, UTC).
    #[arg(long)]
    pub date: Option<String>,
}

/// Which runs the search runs twice and compares.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeterminismCheck {
    /// Failing runs only: each is run a second time and the two traces compared.
    Failing,
    /// Every run (half the throughput).
    Every,
}

/// What one seed came to, as the main thread needs it.
pub struct SeedOutcome {
    pub verdict: Verdict,
    /// The run, kept for failures (report, NDJSON, fixture) and when passing runs are kept.
    pub record: Option<RunRecord>,
    /// False when the runner itself panicked: there is no run to keep as a fixture.
    pub replayable: bool,
}

/// Runs one seed the way the search does.
pub fn examine(
    template: &RunSpec,
    seed: u64,
    check: DeterminismCheck,
    keep_passing: bool,
) -> SeedOutcome {
    let spec = RunSpec {
        seed,
        ..template.clone()
    };
    let first = match guarded(|| match check {
        DeterminismCheck::Failing => run_one(&spec),
        DeterminismCheck::Every => run_checked(&spec),
    }) {
        Ok(record) => record,
        Err(message) => return runner_panic(&spec, &message),
    };
    if !first.verdict.is_failure() {
        return SeedOutcome {
            verdict: Verdict::Pass,
            record: keep_passing.then_some(first),
            replayable: true,
        };
    }
    // A failing run is run again, to tell a real finding from nondeterminism. Its report is
    // complete already: the command history comes from the watched command queue, not from a
    // recorded trace.
    let mut recorded = first;
    if check == DeterminismCheck::Failing && recorded.verdict != Verdict::Nondeterminism {
        let again = match guarded(|| run_one(&spec)) {
            Ok(record) => record,
            Err(message) => return runner_panic(&spec, &message),
        };
        if again.trace_hash != recorded.trace_hash {
            recorded.report = format!(
                "NONDETERMINISM: the same run gave trace {:#018x}, then {:#018x}\n{}",
                recorded.trace_hash, again.trace_hash, recorded.report
            );
            recorded.verdict = Verdict::Nondeterminism;
            recorded.signature = "nondeterminism".into();
        }
    }
    SeedOutcome {
        verdict: recorded.verdict.clone(),
        record: Some(recorded),
        replayable: true,
    }
}

/// Runs `work`, turning a panic of the runner itself (not of the simulated system, which the
/// runner judges) into an error, so that the search goes on.
fn guarded(work: impl FnOnce() -> RunRecord) -> Result<RunRecord, String> {
    std::panic::catch_unwind(AssertUnwindSafe(work)).map_err(|payload| {
        payload
            .downcast_ref::<&str>()
            .map(|text| text.to_string())
            .or_else(|| payload.downcast_ref::<String>().cloned())
            .unwrap_or_else(|| "a panic without a message".into())
    })
}

fn runner_panic(spec: &RunSpec, message: &str) -> SeedOutcome {
    let first_line = message.lines().next().unwrap_or("");
    let record = RunRecord {
        spec: spec.clone(),
        params: spec
            .params
            .clone()
            .unwrap_or_else(|| scenarios::params::draw(spec.scenario, spec.seed)),
        verdict: Verdict::Panic,
        report: format!(
            "{} under {}, seed {}: PANIC of the runner itself (a hangsim bug, not a finding \
             about the protocol)\nwhy: the runner panicked: {first_line}\n",
            spec.scenario, spec.protocol, spec.seed
        ),
        trace_hash: 0,
        decisions: sim::DecisionLog::default(),
        replay_diverged: false,
        signature: format!(
            "panic:runner:{}",
            scenarios::report::without_numbers(first_line)
        ),
        virtual_elapsed: Duration::ZERO,
        events: None,
    };
    SeedOutcome {
        verdict: Verdict::Panic,
        record: Some(record),
        replayable: false,
    }
}

/// How far workers may run ahead of the seed the main thread waits for: a limit on the results
/// held back for ordering.
const REORDER_WINDOW: u64 = 4_096;

/// Whether [`in_seed_order`] goes on after a result.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Flow {
    Continue,
    Stop,
}

/// Runs `work` on the seeds of `plan` from index `from` to `until` (exclusive) on `jobs`
/// threads, and hands each result to `emit` in seed order, on the calling thread. `emit`
/// may stop the search; seeds already started finish and are dropped. Returns how many results
/// were emitted.
pub fn in_seed_order<T: Send>(
    plan: SeedPlan,
    from: u64,
    until: u64,
    jobs: u32,
    work: impl Fn(u64) -> T + Sync,
    mut emit: impl FnMut(u64, u64, T) -> Flow,
) -> u64 {
    assert!(jobs >= 1 && from <= until && until <= plan.len);
    let next = AtomicU64::new(from);
    let emitted = AtomicU64::new(from);
    let stop = AtomicBool::new(false);
    let (sender, receiver) = mpsc::channel::<(u64, T)>();
    std::thread::scope(|scope| {
        for _ in 0..jobs {
            let sender = sender.clone();
            let (next, emitted, stop, work) = (&next, &emitted, &stop, &work);
            scope.spawn(move || loop {
                if stop.load(Ordering::Relaxed) {
                    return;
                }
                let index = next.fetch_add(1, Ordering::Relaxed);
                if index >= until {
                    return;
                }
                // Wait (in the driver, never in a run) while too far ahead of the main thread;
                // it only waits for seeds that are running, so the wait ends.
                while index >= emitted.load(Ordering::Relaxed) + REORDER_WINDOW
                    && !stop.load(Ordering::Relaxed)
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
                let result = work(plan.seed(index));
                if sender.send((index, result)).is_err() {
                    return;
                }
            });
        }
        drop(sender);
        let mut waiting: BTreeMap<u64, T> = BTreeMap::new();
        let mut cursor = from;
        while cursor < until {
            let Ok((index, result)) = receiver.recv() else {
                break;
            };
            waiting.insert(index, result);
            while let Some(result) = waiting.remove(&cursor) {
                let flow = emit(cursor, plan.seed(cursor), result);
                cursor += 1;
                emitted.store(cursor, Ordering::Relaxed);
                if flow == Flow::Stop {
                    stop.store(true, Ordering::Relaxed);
                    return cursor - from;
                }
            }
        }
        cursor - from
    })
}

/// The search's progress file: which search, and how many of its seeds are complete.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Progress {
    scenario: String,
    protocol: String,
    strategy: String,
    seeds: String,
    shard: String,
    check_determinism: DeterminismCheck,
    /// The first `completed` seeds of the search, in seed order, are done and their NDJSON
    /// lines written.
    completed: u64,
    /// Wall seconds spent so far, for the summary's rate.
    elapsed_seconds: f64,
}

impl Progress {
    fn same_search(&self, other: &Progress) -> bool {
        (
            &self.scenario,
            &self.protocol,
            &self.strategy,
            &self.seeds,
            &self.shard,
            self.check_determinism,
        ) == (
            &other.scenario,
            &other.protocol,
            &other.strategy,
            &other.seeds,
            &other.shard,
            other.check_determinism,
        )
    }
}

/// How often (in seeds) the progress file is brought up to date; a stop loses at most this
/// much work, and never a finding.
const PROGRESS_EVERY: u64 = 256;

fn progress_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// Failing runs by verdict kind.
#[derive(Clone, Copy, Debug, Default)]
struct Tally {
    hang: u64,
    violation: u64,
    panic: u64,
    nondeterminism: u64,
}

impl Tally {
    fn count(&mut self, kind: &str) {
        match kind {
            "hang" => self.hang += 1,
            "violation" => self.violation += 1,
            "panic" => self.panic += 1,
            "nondeterminism" => self.nondeterminism += 1,
            _ => {}
        }
    }

    fn failing(&self) -> u64 {
        self.hang + self.violation + self.panic + self.nondeterminism
    }
}

/// One failure shape seen by this search.
struct Shape {
    smallest_seed: u64,
    runs: u64,
}

/// What the search has found so far, kept on the main thread.
struct Findings {
    tally: Tally,
    shapes: BTreeMap<String, Shape>,
}

impl Findings {
    fn note(&mut self, kind: &str, signature: &str, seed: u64) -> bool {
        self.tally.count(kind);
        let shape = self.shapes.entry(signature.to_string()).or_insert(Shape {
            smallest_seed: seed,
            runs: 0,
        });
        shape.runs += 1;
        shape.smallest_seed = shape.smallest_seed.min(seed);
        shape.runs == 1
    }
}

/// The line of a report that says why (a hang's `why:` line), or else its most telling line.
pub fn why_line(record: &RunRecord) -> String {
    if let Some(line) = record
        .report
        .lines()
        .find_map(|line| line.strip_prefix("why: "))
    {
        return line.to_string();
    }
    match &record.verdict {
        Verdict::Violation { invariant, detail } => format!("{invariant}: {detail}"),
        _ => record
            .report
            .lines()
            .nth(1)
            .unwrap_or_else(|| record.report.lines().next().unwrap_or(""))
            .to_string(),
    }
}

fn ndjson_line(record: &RunRecord) -> String {
    json::object(&[
        ("seed", Value::Integer(record.spec.seed)),
        ("scenario", Value::Text(record.spec.scenario.name().into())),
        ("protocol", Value::Text(record.spec.protocol.name().into())),
        ("strategy", Value::Text(record.spec.strategy.to_string())),
        ("verdict", Value::Text(record.verdict.kind().into())),
        (
            "invariant",
            match &record.verdict {
                Verdict::Violation { invariant, .. } => Value::Text(invariant.clone()),
                _ => Value::Null,
            },
        ),
        ("signature", Value::Text(record.signature.clone())),
        (
            "trace_hash",
            Value::Text(format!("{:#018x}", record.trace_hash)),
        ),
        ("why", Value::Text(why_line(record))),
    ])
}

/// A 64-bit FNV-1a hash, to tell signatures apart in file names.
fn fnv1a(text: &str) -> u64 {
    text.bytes().fold(0xcbf2_9ce4_8422_2325, |hash, byte| {
        (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// A file-name-safe rendering: lower case letters, digits and single dashes, at most `limit`.
fn slug(text: &str, limit: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= limit {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Where the fixture of a failure shape (or the passing fixture) of a search lives:
/// `<scenario>.<protocol>.<strategy>.<signature>.toml`, the signature as a short slug and a hash
/// of it in full.
pub fn fixture_path(
    directory: &Path,
    scenario: ScenarioName,
    protocol: ShutdownProtocol,
    strategy: &StrategyChoice,
    signature: &str,
) -> PathBuf {
    let shape = if signature == "pass" {
        "pass".to_string()
    } else {
        format!(
            "{}-{:08x}",
            slug(signature, 40),
            fnv1a(signature) & 0xffff_ffff
        )
    };
    directory.join(format!(
        "{}.{}.{}.{shape}.toml",
        scenario.name(),
        protocol.name(),
        slug(&strategy.to_string(), 20)
    ))
}

/// Keeps `record` as a fixture unless the directory already holds one of the same shape with a
/// seed no larger. Returns the path when it wrote.
fn keep_fixture(
    directory: &Path,
    record: &RunRecord,
    provenance: &Provenance,
) -> Result<Option<PathBuf>, String> {
    let path = fixture_path(
        directory,
        record.spec.scenario,
        record.spec.protocol,
        &record.spec.strategy,
        &record.signature,
    );
    if path.exists() {
        match fixture::read_fixture(&path) {
            Ok(existing)
                if existing.signature == record.signature && existing.seed <= record.spec.seed =>
            {
                return Ok(None);
            }
            Ok(_) => {}
            Err(error) => eprintln!("note: replacing {error}"),
        }
    }
    let fixture = Fixture::from_record(record, provenance.clone());
    fixture::write_fixture(&path, &fixture)
        .map_err(|error| format!("cannot write fixture {}: {error}", path.display()))?;
    Ok(Some(path))
}

/// Reads back the NDJSON lines of the completed seeds, dropping any written after the progress
/// file's mark; returns them with their tally.
fn resume_findings(
    out: &Path,
    plan: SeedPlan,
    completed: u64,
) -> Result<(Vec<String>, Findings), String> {
    let mut findings = Findings {
        tally: Tally::default(),
        shapes: BTreeMap::new(),
    };
    let text = match std::fs::read_to_string(out) {
        Ok(text) => text,
        Err(error) if error.kind() == std::io::ErrorKind::NotFound => String::new(),
        Err(error) => return Err(format!("cannot read {}: {error}", out.display())),
    };
    let boundary = (completed > 0).then(|| plan.seed(completed - 1));
    let mut kept = Vec::new();
    for (number, line) in text.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let fields = json::parse_object(line).map_err(|what| {
            format!(
                "cannot resume: {} line {}: {what}",
                out.display(),
                number + 1
            )
        })?;
        let field = |key: &str| fields.iter().find(|(name, _)| name == key).map(|(_, v)| v);
        let (Some(Value::Integer(seed)), Some(Value::Text(kind)), Some(Value::Text(signature))) =
            (field("seed"), field("verdict"), field("signature"))
        else {
            return Err(format!(
                "cannot resume: {} line {} lacks seed, verdict or signature",
                out.display(),
                number + 1
            ));
        };
        // A line past the mark was written after the last progress update: its seed will run
        // again, and write it again.
        if boundary.is_some_and(|last| *seed <= last) {
            findings.note(kind, signature, *seed);
            kept.push(line.to_string());
        }
    }
    Ok((kept, findings))
}

/// The search. See the module docs.
pub fn search(search_args: SearchArgs) -> ExitCode {
    match search_inner(&search_args) {
        Ok(code) => code,
        Err(message) => crate::bad_input(&message),
    }
}

fn search_inner(search_args: &SearchArgs) -> Result<ExitCode, String> {
    sim::quiet_simulation_panics();
    let started = Instant::now();
    let shard = search_args.shard.unwrap_or(Shard::WHOLE);
    let plan = SeedPlan::new(search_args.seeds, shard);
    if plan.len == 0 {
        return Err(format!(
            "shard {shard} holds no seed of {}",
            search_args.seeds
        ));
    }
    let mut progress = Progress {
        scenario: search_args.scenario.name().into(),
        protocol: search_args.protocol.name().into(),
        strategy: search_args.strategy.to_string(),
        seeds: search_args.seeds.to_string(),
        shard: shard.to_string(),
        check_determinism: search_args.check_determinism,
        completed: 0,
        elapsed_seconds: 0.0,
    };
    if let Some(directory) = &search_args.fixtures {
        std::fs::create_dir_all(directory).map_err(|error| {
            format!(
                "cannot create fixture directory {}: {error}",
                directory.display()
            )
        })?;
    }

    // Resume: read the mark, keep the findings before it, and go on from it.
    let mut findings = Findings {
        tally: Tally::default(),
        shapes: BTreeMap::new(),
    };
    let mut out_lines = Vec::new();
    if let (true, Some(out)) = (search_args.resume, &search_args.out) {
        let path = progress_path(out);
        match std::fs::read_to_string(&path) {
            Ok(text) => {
                let saved: Progress = toml::from_str(&text).map_err(|error| {
                    format!(
                        "cannot resume: bad progress file {}: {}",
                        path.display(),
                        error.message().trim().replace('\n', "; ")
                    )
                })?;
                if !saved.same_search(&progress) || saved.completed > plan.len {
                    return Err(format!(
                        "cannot resume: {} records another search ({} under {}, seeds {}, shard {}, \
                         strategy {}, check {:?})",
                        path.display(),
                        saved.scenario,
                        saved.protocol,
                        saved.seeds,
                        saved.shard,
                        saved.strategy,
                        saved.check_determinism
                    ));
                }
                (out_lines, findings) = resume_findings(out, plan, saved.completed)?;
                progress.completed = saved.completed;
                progress.elapsed_seconds = saved.elapsed_seconds.max(0.0);
            }
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => {
                eprintln!(
                    "note: no progress file {}; starting the search from its first seed",
                    path.display()
                );
            }
            Err(error) => {
                return Err(format!("cannot read {}: {error}", path.display()));
            }
        }
    }
    let resumed_from = progress.completed;

    // The NDJSON file is rewritten with the kept lines (atomically), then appended to.
    let mut out_writer = match &search_args.out {
        Some(out) => {
            let mut kept = out_lines.join("\n");
            if !kept.is_empty() {
                kept.push('\n');
            }
            fixture::write_atomically(out, &kept)
                .map_err(|error| format!("cannot write {}: {error}", out.display()))?;
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(out)
                .map_err(|error| format!("cannot open {}: {error}", out.display()))?;
            write_progress(out, &progress, started)?;
            Some(BufWriter::new(file))
        }
        None => None,
    };

    let until = match search_args.max_seeds {
        Some(budget) => plan.len.min(resumed_from.saturating_add(budget)),
        None => plan.len,
    };
    let provenance = Provenance {
        found_by: "search".into(),
        seeds: match search_args.shard {
            Some(shard) => format!("{} shard {shard}", search_args.seeds),
            None => search_args.seeds.to_string(),
        },
        date: search_args.date.clone().unwrap_or_else(args::today_utc),
    };
    let template = RunSpec {
        strategy: search_args.strategy.clone(),
        ..RunSpec::new(search_args.scenario, search_args.protocol, 0)
    };
    let mut bar = ProgressBar::new(plan.len, resumed_from);
    let mut passing_kept = false;
    // Workers keep passing records only until the main thread has kept one: which seed is the
    // smallest passing one is only known in seed order, on the main thread.
    let passing_kept_flag = AtomicBool::new(false);
    let mut failure: Option<String> = None;
    let check = search_args.check_determinism;
    let keep_passing = search_args.keep_passing;
    in_seed_order(
        plan,
        resumed_from,
        until,
        search_args.jobs,
        |seed| {
            examine(
                &template,
                seed,
                check,
                keep_passing && !passing_kept_flag.load(Ordering::Relaxed),
            )
        },
        |index, seed, outcome| {
            let result = (|| -> Result<(), String> {
                if let Some(record) = &outcome.record {
                    if outcome.verdict.is_failure() {
                        let first = findings.note(outcome.verdict.kind(), &record.signature, seed);
                        if first {
                            bar.clear();
                            println!(
                                "seed {seed}: {} ({})",
                                outcome.verdict.to_string().to_uppercase(),
                                record.signature
                            );
                            print!("{}", record.report);
                            if !record.report.ends_with('\n') {
                                println!();
                            }
                            println!();
                        }
                        if let Some(writer) = out_writer.as_mut() {
                            writeln!(writer, "{}", ndjson_line(record))
                                .map_err(|error| format!("cannot write NDJSON: {error}"))?;
                        }
                        if let (Some(directory), true) = (&search_args.fixtures, outcome.replayable)
                        {
                            keep_fixture(directory, record, &provenance)?;
                        }
                    } else if let (Some(directory), false) = (&search_args.fixtures, passing_kept) {
                        keep_fixture(directory, record, &provenance)?;
                        passing_kept = true;
                        passing_kept_flag.store(true, Ordering::Relaxed);
                    }
                }
                let completed = index + 1;
                if let (Some(out), Some(writer)) = (&search_args.out, out_writer.as_mut()) {
                    if completed % PROGRESS_EVERY == 0
                        || completed == until
                        || outcome.verdict.is_failure()
                    {
                        writer
                            .flush()
                            .and_then(|()| writer.get_ref().sync_data())
                            .map_err(|error| format!("cannot write {}: {error}", out.display()))?;
                        progress.completed = completed;
                        write_progress(out, &progress, started)?;
                    }
                }
                bar.show(completed, findings.tally.failing());
                Ok(())
            })();
            match result {
                Ok(()) => Flow::Continue,
                Err(message) => {
                    failure = Some(message);
                    Flow::Stop
                }
            }
        },
    );
    bar.clear();
    if let Some(message) = failure {
        return Err(message);
    }
    let searched = until;
    if !findings.shapes.is_empty() {
        let mut shapes: Vec<(&String, &Shape)> = findings.shapes.iter().collect();
        shapes.sort_by_key(|(signature, shape)| (shape.smallest_seed, signature.as_str()));
        println!("failure signatures (smallest seed first):");
        for (signature, shape) in shapes {
            println!(
                "  seed {}: {} runs: {signature}",
                shape.smallest_seed, shape.runs
            );
        }
    }
    let seconds = progress.elapsed_seconds + started.elapsed().as_secs_f64();
    let tally = findings.tally;
    println!(
        "searched {searched} seeds: {} failing ({} hang, {} violation, {} panic, {} nondeterminism) in {seconds:.2} s, {:.0} seeds/s",
        tally.failing(),
        tally.hang,
        tally.violation,
        tally.panic,
        tally.nondeterminism,
        searched as f64 / seconds.max(1e-9),
    );
    Ok(if tally.failing() == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    })
}

fn write_progress(out: &Path, progress: &Progress, started: Instant) -> Result<(), String> {
    let mut saved = progress.clone();
    saved.elapsed_seconds += started.elapsed().as_secs_f64();
    let text = toml::to_string(&saved).expect("progress serializes");
    let path = progress_path(out);
    fixture::write_atomically(&path, &text)
        .map_err(|error| format!("cannot write {}: {error}", path.display()))
}

/// A progress bar on stderr, drawn only when stderr is a terminal.
struct ProgressBar {
    total: u64,
    shown_at: u64,
    step: u64,
    on_terminal: bool,
}

impl ProgressBar {
    fn new(total: u64, done: u64) -> ProgressBar {
        ProgressBar {
            total,
            shown_at: done,
            step: (total / 200).max(1),
            on_terminal: std::io::stderr().is_terminal(),
        }
    }

    fn show(&mut self, done: u64, failing: u64) {
        if !self.on_terminal || (done < self.shown_at + self.step && done != self.total) {
            return;
        }
        self.shown_at = done;
        let width = 30u64;
        let filled = (done * width / self.total.max(1)) as usize;
        eprint!(
            "\r[{}{}] {done}/{} seeds, {failing} failing",
            "#".repeat(filled),
            " ".repeat(width as usize - filled),
            self.total
        );
    }

    fn clear(&mut self) {
        if self.on_terminal {
            eprint!("\r\x1b[K");
        }
    }
}
