//! The seed search, as a library: many seeds of one scenario, in parallel, with every finding
//! kept. The `hangsim search` command parses its arguments into a [`SearchPlan`] and
//! [`SearchOptions`], calls [`search`], and prints what its [`SearchObserver`] hears.
//!
//! Map:
//! - [`seeds`]: [`SeedRange`], [`Shard`] and the [`SeedPlan`] that numbers a shard's seeds.
//! - [`pool`]: worker threads running whole runs, results handed back in seed order.
//! - [`finding`]: a failing seed as one NDJSON line ([`Finding`]).
//! - [`progress`]: the progress file and resuming.
//! - [`keep`]: one fixture per failure signature, keeping the smallest seed.
//! - this file: [`search`] itself, and [`examine`], what the search does with one seed.
//!
//! Per seed: one run, and a second one when it failed (or for every seed, with
//! [`DeterminismCheck::Every`]) to check that it reproduces ([`crate::runner::run_checked`]). A
//! panic of the runner itself (not of the simulated system, which the runner judges) is a
//! `Panic` finding, and the search goes on.
//!
//! Findings: one NDJSON line per failing seed (`out`), one fixture per distinct failure
//! signature keeping the smallest seed (`fixtures`), and the first run of each signature handed
//! to the observer. Everything is in seed order, so it does not depend on the number of jobs.
//!
//! A search may stop before its last seed (`max_seeds`, `time_budget`) and resume later; the
//! shards of one search (`--shard K/N`), each searched on its own machine, are joined by
//! [`crate::merge`] into what one search of every seed would have written.

use std::fmt;
use std::io::{BufWriter, Write};
use std::panic::AssertUnwindSafe;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use consumer::ShutdownProtocol;
use sim::StrategyChoice;

use crate::atomic::{remove_stale_temporaries, write_atomically};
use crate::catalogue::Scenario;
use crate::coverage::{CoverageTally, RunCoverage};
use crate::fixture::Provenance;
use crate::report::{without_numbers, RunReport};
use crate::runner::{run_checked, DeterminismCheck};
use crate::verdict::{RunRecord, RunSpec, Verdict, VerdictKind};

pub mod finding;
pub mod keep;
pub mod pool;
pub mod progress;
pub mod seeds;

pub use finding::Finding;
pub use keep::{fixture_path, keep_fixture, Kept};
pub use pool::{in_seed_order, Flow};
pub use progress::{progress_path, Progress};
pub use seeds::{SeedPlan, SeedRange, Shard};

/// What a search covers: one scenario under one protocol and strategy, over a range of seeds
/// (or one shard of it). Two searches with the same plan find the same things.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchPlan {
    pub scenario: Scenario,
    pub protocol: ShutdownProtocol,
    pub strategy: StrategyChoice,
    pub seeds: SeedRange,
    pub shard: Shard,
    /// The user's virtual deadline for every run (`--deadline`); `None`: each run's derived
    /// one ([`crate::runner::RunLimits`]).
    pub deadline: Option<Duration>,
}

impl SearchPlan {
    /// The seeds this plan runs, numbered in order.
    pub fn seed_plan(&self) -> SeedPlan {
        SeedPlan::new(self.seeds, self.shard)
    }

    /// The seeds as fixtures' provenance names them: the range, and the shard if not whole.
    pub fn seeds_covered(&self) -> String {
        seeds_covered(self.seeds, self.shard)
    }
}

/// The seeds of `shard` of `seeds` as fixtures' provenance names them: `0..100`, or `0..100
/// shard 1/4`.
pub fn seeds_covered(seeds: SeedRange, shard: Shard) -> String {
    if shard == Shard::WHOLE {
        seeds.to_string()
    } else {
        format!("{seeds} shard {shard}")
    }
}

/// How a search runs and what it keeps.
#[derive(Clone, Debug, PartialEq)]
pub struct SearchOptions {
    /// Worker threads; the results do not depend on it.
    pub jobs: u32,
    /// Which runs are run twice to check that they reproduce.
    pub check: DeterminismCheck,
    /// One NDJSON line per failing seed here, and the progress file next to it.
    pub out: Option<PathBuf>,
    /// One fixture per failure signature here, keeping the smallest seed.
    pub fixtures: Option<PathBuf>,
    /// Also keep a fixture of the smallest passing seed.
    pub keep_passing: bool,
    /// Continue the search recorded in `out` and its progress file.
    pub resume: bool,
    /// Stop after this many seeds in this call (a later call can resume).
    pub max_seeds: Option<u64>,
    /// Stop taking seeds once this much wall time has passed in this call (a later call can
    /// resume). Only how far the search gets depends on it, never what a seed finds.
    pub time_budget: Option<Duration>,
    /// The date fixtures record as their provenance.
    pub date: String,
    /// Tally the interleaving coverage ([`crate::coverage`]) and record each finding's classes.
    pub coverage: bool,
}

impl SearchOptions {
    /// One job, failing runs checked, nothing written.
    pub fn new(date: impl Into<String>) -> SearchOptions {
        SearchOptions {
            jobs: 1,
            check: DeterminismCheck::Failing,
            out: None,
            fixtures: None,
            keep_passing: false,
            resume: false,
            max_seeds: None,
            time_budget: None,
            date: date.into(),
            coverage: false,
        }
    }
}

/// What the caller of [`search`] hears as it goes, on the calling thread, in seed order.
pub trait SearchObserver {
    /// The first failing run of a failure signature (its report is `record.report`).
    fn first_of_signature(&mut self, record: &RunRecord);
    /// `done` of `total` seeds are complete, `failing` of them failed.
    fn progress(&mut self, done: u64, total: u64, failing: u64);
    /// Something worth a `note:` line (a resume's dropped lines, a replaced fixture).
    fn note(&mut self, message: &str);
}

/// An observer that hears nothing, for callers that only want the summary.
pub struct Quiet;

impl SearchObserver for Quiet {
    fn first_of_signature(&mut self, _record: &RunRecord) {}
    fn progress(&mut self, _done: u64, _total: u64, _failing: u64) {}
    fn note(&mut self, _message: &str) {}
}

/// Runs per verdict kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Tally {
    counts: [u64; VerdictKind::ALL.len()],
}

impl Tally {
    fn slot(kind: VerdictKind) -> usize {
        match kind {
            VerdictKind::Pass => 0,
            VerdictKind::Hang => 1,
            VerdictKind::Timeout => 2,
            VerdictKind::Violation => 3,
            VerdictKind::Panic => 4,
            VerdictKind::Nondeterminism => 5,
        }
    }

    /// Counts one run.
    pub fn count(&mut self, kind: VerdictKind) {
        self.counts[Tally::slot(kind)] += 1;
    }

    /// The runs of `kind`.
    pub fn of(&self, kind: VerdictKind) -> u64 {
        self.counts[Tally::slot(kind)]
    }

    /// The failing runs, of every kind.
    pub fn failing(&self) -> u64 {
        VerdictKind::ALL
            .into_iter()
            .filter(|kind| kind.is_failure())
            .map(|kind| self.of(kind))
            .sum()
    }
}

/// One failure signature seen by a search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    pub signature: String,
    pub smallest_seed: u64,
    pub runs: u64,
}

/// What a search found, over all its calls (a resumed search counts the seeds before too).
#[derive(Clone, Debug, PartialEq)]
pub struct SearchSummary {
    /// Seeds completed, in seed order from the plan's first.
    pub searched: u64,
    /// The seeds of the whole plan.
    pub planned: u64,
    /// Failing runs by verdict kind (passing runs are not counted here: `searched` minus the
    /// failing ones).
    pub tally: Tally,
    /// Every failure signature, smallest seed first.
    pub signatures: Vec<Signature>,
    /// Wall time, over all calls.
    pub elapsed: Duration,
    /// The interleaving coverage of the seeds this call ran, with `--coverage`.
    pub coverage: Option<CoverageTally>,
}

impl SearchSummary {
    /// Whether some run failed.
    pub fn failed(&self) -> bool {
        self.tally.failing() > 0
    }
}

impl fmt::Display for SearchSummary {
    /// How `hangsim search` (and `hangsim merge`) end: the failure signatures, smallest seed
    /// first, then one line of counts, time and rate (no newline after it).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if !self.signatures.is_empty() {
            writeln!(f, "failure signatures (smallest seed first):")?;
            for signature in &self.signatures {
                writeln!(
                    f,
                    "  seed {}: {} runs: {}",
                    signature.smallest_seed, signature.runs, signature.signature
                )?;
            }
        }
        let seconds = self.elapsed.as_secs_f64();
        let tally = self.tally;
        write!(
            f,
            "searched {} seeds: {} failing ({} hang, {} timeout, {} violation, {} panic, {} \
             nondeterminism) in {seconds:.2} s, {:.0} seeds/s",
            self.searched,
            tally.failing(),
            tally.of(VerdictKind::Hang),
            tally.of(VerdictKind::Timeout),
            tally.of(VerdictKind::Violation),
            tally.of(VerdictKind::Panic),
            tally.of(VerdictKind::Nondeterminism),
            self.searched as f64 / seconds.max(1e-9),
        )
    }
}

/// What one seed came to.
pub struct SeedOutcome {
    pub verdict: VerdictKind,
    /// The run, kept for failures (report, NDJSON, fixture) and when passing runs are kept.
    pub record: Option<RunRecord>,
    /// False when the runner itself panicked: there is no run to keep as a fixture.
    pub replayable: bool,
    /// The ordering classes the run reached (kept for every run: a few bits).
    pub coverage: RunCoverage,
}

/// Runs one seed the way the search does: [`run_checked`], with a panic of the runner itself
/// turned into a `Panic` outcome.
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
    match std::panic::catch_unwind(AssertUnwindSafe(|| run_checked(&spec, check))) {
        Ok(record) => SeedOutcome {
            verdict: record.verdict.kind(),
            replayable: true,
            coverage: record.coverage,
            record: (record.verdict.is_failure() || keep_passing).then_some(record),
        },
        Err(payload) => {
            let message = payload
                .downcast_ref::<&str>()
                .map(|text| text.to_string())
                .or_else(|| payload.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "a panic without a message".into());
            SeedOutcome {
                verdict: VerdictKind::Panic,
                record: Some(runner_panic(&spec, &message)),
                replayable: false,
                coverage: RunCoverage::default(),
            }
        }
    }
}

fn runner_panic(spec: &RunSpec, message: &str) -> RunRecord {
    let first_line = message.lines().next().unwrap_or("");
    RunRecord {
        spec: spec.clone(),
        resolved: spec
            .resolved
            .clone()
            .unwrap_or_else(|| std::sync::Arc::new(spec.scenario.resolve(spec.seed))),
        verdict: Verdict::Panic,
        report: RunReport::runner_panic(spec, first_line),
        trace_hash: 0,
        decisions: sim::DecisionLog::default(),
        replay_divergence: None,
        strategy_disagreement: None,
        fiber_schedule: None,
        schedule_divergence: None,
        signature: format!("panic:runner:{}", without_numbers(first_line)),
        events: None,
        observations: Default::default(),
        coverage: Default::default(),
    }
}

/// How often (in seeds) the progress file is brought up to date; a stop loses at most this
/// much work, and never a finding (a failing seed updates it at once).
const PROGRESS_EVERY: u64 = 256;

/// What the search has found so far, on the calling thread.
struct Findings {
    tally: Tally,
    signatures: Vec<Signature>,
}

impl Findings {
    /// Counts a failing run; whether it is the first of its signature.
    fn note(&mut self, kind: VerdictKind, signature: &str, seed: u64) -> bool {
        self.tally.count(kind);
        match self
            .signatures
            .iter_mut()
            .find(|known| known.signature == signature)
        {
            Some(known) => {
                known.runs += 1;
                known.smallest_seed = known.smallest_seed.min(seed);
                false
            }
            None => {
                self.signatures.push(Signature {
                    signature: signature.to_string(),
                    smallest_seed: seed,
                    runs: 1,
                });
                true
            }
        }
    }
}

/// The NDJSON file and its progress file, while a search writes them.
struct Out {
    path: PathBuf,
    writer: BufWriter<std::fs::File>,
    progress: Progress,
}

impl Out {
    /// Flushes the NDJSON lines to disk, then counts them in the progress file: never the
    /// other way round (see [`progress`]).
    fn checkpoint(&mut self, completed: u64, elapsed: Duration) -> Result<(), String> {
        self.writer
            .flush()
            .and_then(|()| self.writer.get_ref().sync_data())
            .map_err(|error| format!("cannot write {}: {error}", self.path.display()))?;
        let mut saved = self.progress.clone();
        saved.completed = completed;
        saved.elapsed_seconds += elapsed.as_secs_f64();
        let path = progress_path(&self.path);
        write_atomically(&path, &saved.to_json())
            .map_err(|error| format!("cannot write {}: {error}", path.display()))
    }
}

/// The search. Errors are one line each: bad input (a shard without seeds, a progress file of
/// another search) or a file that cannot be read or written.
pub fn search(
    plan: &SearchPlan,
    options: &SearchOptions,
    observer: &mut dyn SearchObserver,
) -> Result<SearchSummary, String> {
    // Wall time, for the time budget and the summary's rate only: it decides how far a search
    // gets, never what a seed finds (no run reads it).
    let started = Instant::now();
    if !plan.strategy.searchable() {
        return Err(format!(
            "strategy {} gives every seed the same schedule, so a search of it means nothing; it replays fixtures (use yields, yields:P, random or pct:D to search)",
            plan.strategy
        ));
    }
    let seed_plan = plan.seed_plan();
    if seed_plan.len == 0 {
        return Err(format!(
            "shard {} holds no seed of {}",
            plan.shard, plan.seeds
        ));
    }
    if let Some(directory) = &options.fixtures {
        std::fs::create_dir_all(directory).map_err(|error| {
            format!(
                "cannot create fixture directory {}: {error}",
                directory.display()
            )
        })?;
    }
    let mut findings = Findings {
        tally: Tally::default(),
        signatures: Vec::new(),
    };
    let mut coverage = options.coverage.then(CoverageTally::default);
    let mut progress = Progress::start(plan, options);
    let mut out = match &options.out {
        Some(path) => {
            for stale in [path.clone(), progress_path(path)] {
                remove_stale_temporaries(&stale).map_err(|error| {
                    format!("cannot clean up next to {}: {error}", stale.display())
                })?;
            }
            let mut kept_lines = Vec::new();
            if options.resume {
                match progress::resume(path, &progress, seed_plan)? {
                    Some(resumed) => {
                        if resumed.dropped_bytes > 0 {
                            observer.note(&format!(
                                "dropping {} bytes of {} past the progress mark (seeds that run again)",
                                resumed.dropped_bytes,
                                path.display()
                            ));
                        }
                        for finding in &resumed.findings {
                            findings.note(finding.verdict, &finding.signature, finding.seed);
                        }
                        kept_lines = resumed.lines;
                        progress = resumed.progress;
                    }
                    None => observer.note(&format!(
                        "no progress file {}; starting the search from its first seed",
                        progress_path(path).display()
                    )),
                }
            }
            // The NDJSON file is rewritten with the kept lines (atomically), then appended to.
            let mut text = kept_lines.join("\n");
            if !text.is_empty() {
                text.push('\n');
            }
            write_atomically(path, &text)
                .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
            let file = std::fs::OpenOptions::new()
                .append(true)
                .open(path)
                .map_err(|error| format!("cannot open {}: {error}", path.display()))?;
            let mut out = Out {
                path: path.clone(),
                writer: BufWriter::new(file),
                progress: progress.clone(),
            };
            out.checkpoint(progress.completed, Duration::ZERO)?;
            Some(out)
        }
        None => None,
    };
    let resumed_from = progress.completed;
    let until = match options.max_seeds {
        Some(budget) => seed_plan.len.min(resumed_from.saturating_add(budget)),
        None => seed_plan.len,
    };
    let provenance = Provenance {
        found_by: "search".into(),
        seeds: plan.seeds_covered(),
        date: options.date.clone(),
        source: None,
        shrunk_from: None,
        original_strategy: None,
    };
    let template = RunSpec {
        strategy: plan.strategy.clone(),
        deadline: plan.deadline,
        coverage: options.coverage,
        ..RunSpec::new(plan.scenario.clone(), plan.protocol, 0)
    };
    // Workers keep passing records only until the calling thread has kept one: which seed is
    // the smallest passing one is only known in seed order.
    let passing_kept = AtomicBool::new(false);
    let mut failure: Option<String> = None;
    let mut out_of_time = false;
    let searched = in_seed_order(
        seed_plan,
        resumed_from,
        until,
        options.jobs,
        |seed| {
            let keep_passing = options.keep_passing && !passing_kept.load(Ordering::Relaxed);
            examine(&template, seed, options.check, keep_passing)
        },
        |index, seed, outcome| {
            if let Some(coverage) = coverage.as_mut() {
                coverage.count(seed, outcome.coverage);
            }
            let mut keeper = Keeper {
                options,
                provenance: &provenance,
                findings: &mut findings,
                out: out.as_mut(),
                passing_kept: &passing_kept,
            };
            let handled = keeper.take(seed, &outcome, observer).and_then(|()| {
                let completed = index + 1;
                let budget_spent = completed < until
                    && options
                        .time_budget
                        .is_some_and(|budget| started.elapsed() >= budget);
                if let Some(out) = out.as_mut() {
                    if completed % PROGRESS_EVERY == 0
                        || completed == until
                        || outcome.verdict.is_failure()
                        || budget_spent
                    {
                        out.checkpoint(completed, started.elapsed())?;
                    }
                }
                observer.progress(completed, seed_plan.len, findings.tally.failing());
                Ok(budget_spent)
            });
            match handled {
                Ok(false) => Flow::Continue,
                Ok(true) => {
                    out_of_time = true;
                    Flow::Stop
                }
                Err(message) => {
                    failure = Some(message);
                    Flow::Stop
                }
            }
        },
    );
    if let Some(message) = failure {
        return Err(message);
    }
    if out_of_time {
        observer.note(&format!(
            "the time budget of {:.0} s is spent after {} of {} seeds{}",
            options.time_budget.unwrap_or_default().as_secs_f64(),
            resumed_from + searched,
            seed_plan.len,
            if options.out.is_some() {
                "; --resume continues the search"
            } else {
                ""
            }
        ));
    }
    let mut signatures = findings.signatures;
    signatures.sort_by(|a, b| {
        (a.smallest_seed, a.signature.as_str()).cmp(&(b.smallest_seed, b.signature.as_str()))
    });
    Ok(SearchSummary {
        searched: resumed_from + searched,
        planned: seed_plan.len,
        tally: findings.tally,
        signatures,
        elapsed: Duration::from_secs_f64(progress.elapsed_seconds.max(0.0)) + started.elapsed(),
        coverage,
    })
}

/// What the calling thread keeps of each seed's outcome, in seed order.
struct Keeper<'a> {
    options: &'a SearchOptions,
    provenance: &'a Provenance,
    findings: &'a mut Findings,
    out: Option<&'a mut Out>,
    /// Set once the smallest passing seed's fixture is kept (workers read it too).
    passing_kept: &'a AtomicBool,
}

impl Keeper<'_> {
    /// Counts the outcome, tells the observer about the first run of a signature, writes the
    /// NDJSON line and keeps the fixture.
    fn take(
        &mut self,
        seed: u64,
        outcome: &SeedOutcome,
        observer: &mut dyn SearchObserver,
    ) -> Result<(), String> {
        let Some(record) = &outcome.record else {
            return Ok(());
        };
        if !outcome.verdict.is_failure() {
            if let (Some(directory), false) = (
                &self.options.fixtures,
                self.passing_kept.load(Ordering::Relaxed),
            ) {
                note_kept(keep_fixture(directory, record, self.provenance)?, observer);
                self.passing_kept.store(true, Ordering::Relaxed);
            }
            return Ok(());
        }
        if self.findings.note(outcome.verdict, &record.signature, seed) {
            observer.first_of_signature(record);
        }
        if let Some(out) = self.out.as_mut() {
            let mut finding = Finding::of(record);
            if self.options.coverage {
                finding.classes = Some(record.coverage.classes());
            }
            writeln!(out.writer, "{}", finding.to_line())
                .map_err(|error| format!("cannot write {}: {error}", out.path.display()))?;
            out.progress.findings += 1;
        }
        if let (Some(directory), true) = (&self.options.fixtures, outcome.replayable) {
            note_kept(keep_fixture(directory, record, self.provenance)?, observer);
        }
        Ok(())
    }
}

fn note_kept(kept: Kept, observer: &mut dyn SearchObserver) {
    if let Kept::Replaced(path, error) = kept {
        observer.note(&format!("replaced {}: {error}", path.display()));
    }
}

#[cfg(test)]
mod tests;
