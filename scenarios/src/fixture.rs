//! Fixtures: a run kept as a small, versioned TOML file, replayed from its decision log.
//!
//! Start at [`Fixture`] (what a file holds), [`Fixture::from_record`] (a run becomes a fixture),
//! [`write_fixture`] and [`read_fixture`] (files), and [`replay_fixture`] (a fixture becomes a
//! run again, and is judged strictly against what it expects).
//!
//! A fixture replays from its decision log and its own resolved scenario, never from its seed
//! alone: a change that makes the seed schedule differently, or a change of the scenario file it
//! came from, leaves the fixture reproducing its run. The seed still matters (it seeds the
//! runtime's random draws), so it is kept too.
//!
//! The format, version 2 (every key required unless said otherwise). Version 1 fixtures, from
//! before scenario files, carried hard-coded scenarios' parameters and are refused.
//!
//! ```toml
//! format_version = 2
//! scenario = "auth-crash"
//! protocol = "master"
//! seed = 0                        # past 2^63-1, a string of digits (TOML integers are i64)
//! strategy = "yields"
//! signature = "hang:..."          # the failure signature ("pass" for a passing run)
//! trace_hash = "0x0123456789abcdef"
//! decisions = "0*41 1 0*7 2"      # sim::DecisionLog::encode, run-length encoded; or, under
//!                                 # strategy "schedule", instead of it, one entry per line:
//! schedule = [                    # sim::FiberSchedule (see sim::ScheduleEntry's line form)
//!     "at 2.418000100s, runloop gives way at step 6",
//!     "at 2.418000100s, after consume_with step 0 (stop 2), consume_with:topic1 runs",
//! ]
//! deadline_secs = 600             # optional: the run's virtual deadline when the user chose
//!                                 # it (`--deadline`); without it, the derived one
//!
//! [expected]
//! verdict = "hang"                # pass, hang, timeout, violation, panic or nondeterminism
//! invariant = "..."               # violations only
//!
//! [provenance]
//! found_by = "search"             # the command that wrote it: search, run or shrink
//! seeds = "0..200"                # the seeds that command covered
//! date = "2025-01-31"             # given by the caller; never read inside a simulation
//! source = "catalogue"            # optional: where the scenario came from (catalogue or file, overrides)
//! shrunk_from = "x.toml, trace_hash 0x..."  # optional: the fixture `hangsim shrink` reduced
//! original_strategy = "pct:3"     # optional: that fixture's strategy, when this one names `log`
//!                                 # or `schedule`
//!
//! [scenario]                      # the scenario file as resolved for the seed (crate::scenario)
//!
//! [report]                        # optional: the run's report as data (crate::report)
//! ```
//!
//! Reading is bounded: only a regular file is read (a FIFO or a device is refused before it is
//! opened), and at most [`MAX_FIXTURE_BYTES`] of it; the decision log holds at most
//! [`sim::strategy::MAX_DECISIONS`] decisions; the embedded scenario must pass the checks of a
//! scenario file ([`crate::scenario::validate`]). Everything wrong is one line naming the file and what is wrong.

use std::fmt;
use std::io::Read as _;
use std::path::Path;
use std::time::Duration;

use consumer::ShutdownProtocol;
use serde::{Deserialize, Serialize};
use sim::{
    DecisionLog, FiberSchedule, ReplayDivergence, ScheduleDivergence, StrategyChoice,
    StrategyDisagreement,
};

use crate::atomic::write_atomically;
use std::sync::Arc;

use crate::catalogue::{Origin, Scenario};
use crate::invariants::Invariant;
use crate::report::RunReport;
use crate::runner::run_one;
use crate::scenario::ScenarioFile;
use crate::verdict::{RunRecord, RunSpec, Verdict, VerdictKind};

/// The fixture format this code writes and reads.
pub const FORMAT_VERSION: u32 = 2;

/// The largest fixture file read: a limit on what a stray file can make us read and parse. A
/// decision log is run-length encoded, so real fixtures are a few KiB (the largest committed
/// one is under 8 KiB).
pub const MAX_FIXTURE_BYTES: u64 = 1024 * 1024;

/// The verdict a fixture expects.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ExpectedVerdict {
    #[serde(rename = "verdict")]
    pub kind: VerdictKind,
    /// The broken invariant, for violations (and only for them).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<Invariant>,
}

impl ExpectedVerdict {
    /// What `verdict` is, as a fixture records it.
    pub fn of(verdict: &Verdict) -> ExpectedVerdict {
        ExpectedVerdict {
            kind: verdict.kind(),
            invariant: verdict.invariant(),
        }
    }

    /// Whether `verdict` is this one: same kind, and for violations the same invariant.
    pub fn matches(&self, verdict: &Verdict) -> bool {
        *self == ExpectedVerdict::of(verdict)
    }
}

impl fmt::Display for ExpectedVerdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.invariant {
            Some(invariant) => write!(f, "{} of {invariant}", self.kind),
            None => write!(f, "{}", self.kind),
        }
    }
}

/// Where a fixture came from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Provenance {
    /// The command that wrote it (`search`, `run`).
    pub found_by: String,
    /// The seeds that command covered, as written on its command line (`0..200`, `7`).
    pub seeds: String,
    /// The date, as the caller gave it.
    pub date: String,
    /// Where the scenario came from: `catalogue` or the file's path, and the `--set`
    /// overrides applied.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    /// The fixture this one was shrunk from (`hangsim shrink`): its file name and trace hash.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shrunk_from: Option<String>,
    /// The strategy of the run `hangsim shrink` started from, when the shrunk fixture names
    /// another: a PCT run's schedule is shrunk, and written, under `log`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_strategy: Option<String>,
}

/// One kept run: everything needed to run it again and to know whether it still ends the same.
#[derive(Clone, Debug, PartialEq)]
pub struct Fixture {
    /// The scenario's name.
    pub scenario: String,
    pub protocol: ShutdownProtocol,
    pub seed: u64,
    pub strategy: StrategyChoice,
    /// The scenario as resolved for the seed.
    pub resolved: Arc<ScenarioFile>,
    /// The decision log (empty under strategy `schedule`, whose decisions are `schedule`'s).
    pub decisions: DecisionLog,
    /// Under strategy `schedule`: the schedule keyed by fiber the run follows.
    pub schedule: Option<FiberSchedule>,
    pub expected: ExpectedVerdict,
    pub trace_hash: u64,
    pub signature: String,
    pub provenance: Provenance,
    /// The run's report when it was kept (fixtures written before reports were data have none).
    pub report: Option<RunReport>,
    /// The virtual deadline the user chose for the run, if one was: a replay needs it to end
    /// where the run did.
    pub deadline: Option<Duration>,
}

/// The file's shape; the decision log and trace hash are checked when it becomes a
/// [`Fixture`].
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct FixtureFile {
    format_version: u32,
    scenario: String,
    #[serde(with = "crate::serde_as::protocol")]
    protocol: ShutdownProtocol,
    #[serde(with = "crate::serde_as::seed")]
    seed: u64,
    strategy: StrategyChoice,
    signature: String,
    trace_hash: String,
    /// Every strategy but `schedule`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    decisions: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    deadline_secs: Option<u64>,
    expected: ExpectedVerdict,
    provenance: Provenance,
    /// Strategy `schedule` only: one line per entry ([`sim::ScheduleEntry`]'s form). Written
    /// by [`Fixture::to_toml`] itself, one entry per line of the file.
    #[serde(default, skip_serializing)]
    schedule: Option<Vec<String>>,
    #[serde(rename = "scenario_resolved")]
    resolved: ScenarioFile,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    report: Option<RunReport>,
}

impl Fixture {
    /// The fixture of a finished run.
    pub fn from_record(record: &RunRecord, provenance: Provenance) -> Fixture {
        Fixture {
            scenario: record.spec.scenario.name().to_string(),
            protocol: record.spec.protocol,
            seed: record.spec.seed,
            strategy: record.spec.strategy.clone(),
            resolved: record.resolved.clone(),
            decisions: if record.spec.strategy == StrategyChoice::Schedule {
                DecisionLog::default()
            } else {
                record.decisions.clone()
            },
            schedule: (record.spec.strategy == StrategyChoice::Schedule)
                .then(|| record.fiber_schedule.clone().unwrap_or_default()),
            expected: ExpectedVerdict::of(&record.verdict),
            trace_hash: record.trace_hash,
            signature: record.signature.clone(),
            provenance: Provenance {
                source: provenance
                    .source
                    .or_else(|| source_of(&record.spec.scenario)),
                ..provenance
            },
            report: Some(record.report.clone()),
            deadline: record.spec.deadline,
        }
    }

    /// The run this fixture replays: its parameters, and its decision log or schedule.
    pub fn spec(&self) -> RunSpec {
        let schedule = self.schedule.clone().map(Arc::new);
        RunSpec {
            resolved: Some(self.resolved.clone()),
            replay: schedule.is_none().then(|| self.decisions.clone()),
            schedule,
            strategy: self.strategy.clone(),
            deadline: self.deadline,
            ..RunSpec::new(
                Scenario::embedded((*self.resolved).clone()),
                self.protocol,
                self.seed,
            )
        }
    }

    /// The file text, or why it cannot be written.
    pub fn to_toml(&self) -> Result<String, String> {
        let file = FixtureFile {
            format_version: FORMAT_VERSION,
            scenario: self.scenario.clone(),
            protocol: self.protocol,
            seed: self.seed,
            strategy: self.strategy.clone(),
            signature: self.signature.clone(),
            trace_hash: format!("{:#018x}", self.trace_hash),
            decisions: self.schedule.is_none().then(|| self.decisions.encode()),
            schedule: None,
            deadline_secs: self.deadline.map(|deadline| deadline.as_secs()),
            expected: self.expected.clone(),
            provenance: self.provenance.clone(),
            resolved: (*self.resolved).clone(),
            report: self.report.clone(),
        };
        let mut body = toml::to_string(&file)
            .map_err(|error| format!("cannot write the fixture as TOML: {error}"))?;
        if let Some(schedule) = &self.schedule {
            // One entry per line (the serializer writes an array on one line); with the other
            // top-level keys, before the first table.
            let mut array = String::from("schedule = [\n");
            for line in schedule.to_lines() {
                array.push_str(&format!("    {},\n", toml::Value::String(line)));
            }
            array.push_str("]\n\n");
            let first_table = body
                .lines()
                .scan(0, |offset, line| {
                    let start = *offset;
                    *offset += line.len() + 1;
                    Some((start, line))
                })
                .find(|(_, line)| line.starts_with('['))
                .map_or(body.len(), |(start, _)| start);
            body.insert_str(first_table, &array);
        }
        let source = if self.schedule.is_some() {
            "schedule"
        } else {
            "decision log"
        };
        Ok(format!(
            "# A hangsim fixture (format {FORMAT_VERSION}): `cargo test` and `hangsim replay` run it again\n\
             # from its {source} and check its verdict and trace hash.\n{body}"
        ))
    }

    /// Parses a fixture's text; the error is one line saying what is wrong (without the file
    /// name, which [`read_fixture`] adds).
    pub fn from_toml(text: &str) -> Result<Fixture, String> {
        if text.len() as u64 > MAX_FIXTURE_BYTES {
            return Err(format!(
                "{} bytes, more than the {MAX_FIXTURE_BYTES} a fixture may hold",
                text.len()
            ));
        }
        // The version first, so that a fixture of another format says so rather than failing
        // on a key this version does not know.
        #[derive(Deserialize)]
        struct VersionOnly {
            format_version: Option<i64>,
        }
        if let Ok(VersionOnly {
            format_version: Some(version),
        }) = toml::from_str::<VersionOnly>(text)
        {
            if version == 1 {
                return Err(
                    "format_version 1 predates scenario files: its hard-coded scenario is gone; \
                     record the run again with `hangsim search --fixtures`"
                        .into(),
                );
            }
            if version != i64::from(FORMAT_VERSION) {
                return Err(format!(
                    "format_version {version} is not supported: expected {FORMAT_VERSION}"
                ));
            }
        }
        let file: FixtureFile = toml::from_str(text).map_err(|error| one_line(&error, text))?;
        let (decisions, schedule) =
            match (&file.strategy, &file.decisions, &file.schedule) {
                (StrategyChoice::Schedule, None, Some(entries)) => (
                    DecisionLog::default(),
                    Some(FiberSchedule::from_lines(entries)?),
                ),
                (StrategyChoice::Schedule, _, _) => return Err(
                    "strategy \"schedule\" takes its decisions from `schedule`, and no `decisions`"
                        .into(),
                ),
                (_, Some(decisions), None) => (DecisionLog::decode(decisions)?, None),
                (strategy, _, _) => {
                    return Err(format!(
                        "strategy {:?} takes its decisions from `decisions`, and no `schedule`",
                        strategy.to_string()
                    ))
                }
            };
        let trace_hash = parse_trace_hash(&file.trace_hash)?;
        // A violation names its invariant, and only a violation does: either way round the
        // expectation could never match a verdict.
        match (file.expected.kind, file.expected.invariant) {
            (VerdictKind::Violation, None) => {
                return Err("an expected violation needs `invariant` in [expected]".into())
            }
            (kind, Some(_)) if kind != VerdictKind::Violation => {
                return Err(format!(
                    "[expected] has an `invariant` but its verdict is {kind}, not a violation"
                ))
            }
            _ => {}
        }
        crate::scenario::validate::check(&file.resolved).map_err(|problem| {
            format!("[scenario_resolved] {}: {}", problem.path, problem.message)
        })?;
        if file.resolved.name != file.scenario {
            return Err(format!(
                "scenario {:?} embeds a scenario named {:?}",
                file.scenario, file.resolved.name
            ));
        }
        let deadline = file.deadline_secs.map(Duration::from_secs);
        if let Some(deadline) = deadline {
            crate::runner::check_deadline(deadline)?;
        }
        Ok(Fixture {
            scenario: file.scenario,
            protocol: file.protocol,
            seed: file.seed,
            strategy: file.strategy,
            resolved: Arc::new(file.resolved),
            decisions,
            schedule,
            expected: file.expected,
            trace_hash,
            signature: file.signature,
            provenance: file.provenance,
            report: file.report,
            deadline,
        })
    }
}

/// Where a scenario came from, as provenance records it.
fn source_of(scenario: &Scenario) -> Option<String> {
    let origin = match &scenario.origin {
        Origin::Catalogue => "catalogue".to_string(),
        Origin::File(path) => path.clone(),
        Origin::Embedded => return None,
    };
    Some(if scenario.overrides.is_empty() {
        origin
    } else {
        format!("{origin} --set {}", scenario.overrides.join(" --set "))
    })
}

/// `0x` and one to sixteen hex digits, nothing else (no sign, no spaces).
fn parse_trace_hash(text: &str) -> Result<u64, String> {
    let bad = || format!("bad trace_hash {text:?}: expected 0x and 1 to 16 hex digits");
    let hex = text.strip_prefix("0x").ok_or_else(bad)?;
    if hex.is_empty() || hex.len() > 16 || !hex.bytes().all(|byte| byte.is_ascii_hexdigit()) {
        return Err(bad());
    }
    u64::from_str_radix(hex, 16).map_err(|_| bad())
}

/// A TOML error in one line: where (line and column) and what, without the source excerpt toml
/// prints on several lines.
fn one_line(error: &toml::de::Error, text: &str) -> String {
    let what = error.message().trim().replace('\n', "; ");
    match error.span() {
        Some(span) => {
            let start = span.start.min(text.len());
            // A span inside a multi-byte character would make the slice below panic.
            let start = (0..=start)
                .rev()
                .find(|&at| text.is_char_boundary(at))
                .unwrap_or(0);
            let before = &text[..start];
            let line = before.matches('\n').count() + 1;
            let column = before.len() - before.rfind('\n').map_or(0, |at| at + 1) + 1;
            format!("line {line}, column {column}: {what}")
        }
        None => what,
    }
}

/// Reads a file that must be a regular file of at most `limit` bytes: a FIFO, a device (a
/// symlink to `/dev/zero`) or a directory is refused before it is opened, and the read itself
/// stops past the limit, whatever the file claims to be. The error says what is wrong, without
/// the file's name.
pub fn read_bounded(path: &Path, limit: u64) -> Result<String, String> {
    let metadata = std::fs::metadata(path).map_err(|error| error.to_string())?;
    if !metadata.is_file() {
        return Err("not a regular file".into());
    }
    if metadata.len() > limit {
        return Err(format!(
            "{} bytes, more than the {limit} it may hold",
            metadata.len()
        ));
    }
    let file = std::fs::File::open(path).map_err(|error| error.to_string())?;
    let mut bytes = Vec::new();
    file.take(limit + 1)
        .read_to_end(&mut bytes)
        .map_err(|error| error.to_string())?;
    if bytes.len() as u64 > limit {
        return Err(format!("more than the {limit} bytes it may hold"));
    }
    String::from_utf8(bytes).map_err(|_| "not UTF-8 text".to_string())
}

/// Reads and parses a fixture file. The error is one line naming the file and what is wrong.
pub fn read_fixture(path: &Path) -> Result<Fixture, String> {
    let name = path.display();
    let text = read_bounded(path, MAX_FIXTURE_BYTES)
        .map_err(|what| format!("cannot read fixture {name}: {what}"))?;
    Fixture::from_toml(&text).map_err(|what| format!("bad fixture {name}: {what}"))
}

/// Writes a fixture atomically (see [`write_atomically`]).
pub fn write_fixture(path: &Path, fixture: &Fixture) -> Result<(), String> {
    let text = fixture.to_toml()?;
    write_atomically(path, &text).map_err(|error| error.to_string())
}

/// One way a replay differs from its fixture.
#[derive(Clone, Debug, PartialEq)]
pub enum Mismatch {
    /// The verdict is not the expected one.
    Verdict {
        expected: ExpectedVerdict,
        got: ExpectedVerdict,
    },
    /// The trace hash differs.
    TraceHash { expected: u64, got: u64 },
    /// The failure signature differs.
    Signature { expected: String, got: String },
    /// The replay did not take its decision log exactly.
    DecisionLog(ReplayDivergence),
    /// The replay did not follow its schedule exactly (strategy `schedule`).
    Schedule(ScheduleDivergence),
    /// The log holds a decision the fixture's strategy could not have taken.
    Strategy {
        strategy: StrategyChoice,
        disagreement: StrategyDisagreement,
    },
}

impl fmt::Display for Mismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Mismatch::Verdict { expected, got } => {
                write!(f, "verdict {got}, expected {expected}")
            }
            Mismatch::TraceHash { expected, got } => {
                write!(f, "trace hash {got:#018x}, expected {expected:#018x}")
            }
            Mismatch::Signature { expected, got } => {
                write!(f, "signature {got:?}, expected {expected:?}")
            }
            Mismatch::DecisionLog(divergence) => write!(f, "decision log: {divergence}"),
            Mismatch::Schedule(divergence) => write!(f, "{divergence}"),
            Mismatch::Strategy {
                strategy,
                disagreement,
            } => write!(f, "strategy {strategy}: {disagreement}"),
        }
    }
}

/// A fixture run again.
#[derive(Clone, Debug)]
pub struct ReplayOutcome {
    /// The replayed run.
    pub record: RunRecord,
    /// Every way it differs from the fixture; empty when it reproduced the fixture.
    pub mismatches: Vec<Mismatch>,
}

impl ReplayOutcome {
    /// Whether the replay reproduced the fixture exactly: the same verdict, trace hash and
    /// signature, its whole decision log taken and nothing more, every decision one its strategy
    /// could have taken.
    pub fn matched(&self) -> bool {
        self.mismatches.is_empty()
    }
}

/// Runs a fixture again from its parameters and decision log, with events recorded, and
/// compares it strictly with what the fixture expects (see [`ReplayOutcome::matched`]).
/// `cargo test`'s fixture replay and `hangsim replay` both judge by this.
pub fn replay_fixture(fixture: &Fixture) -> ReplayOutcome {
    let mut spec = fixture.spec();
    spec.record_events = true;
    spec.coverage = true;
    let record = run_one(&spec);
    let mut mismatches = Vec::new();
    if !fixture.expected.matches(&record.verdict) {
        mismatches.push(Mismatch::Verdict {
            expected: fixture.expected.clone(),
            got: ExpectedVerdict::of(&record.verdict),
        });
    }
    if record.trace_hash != fixture.trace_hash {
        mismatches.push(Mismatch::TraceHash {
            expected: fixture.trace_hash,
            got: record.trace_hash,
        });
    }
    if record.signature != fixture.signature {
        mismatches.push(Mismatch::Signature {
            expected: fixture.signature.clone(),
            got: record.signature.clone(),
        });
    }
    if let Some(divergence) = &record.replay_divergence {
        mismatches.push(Mismatch::DecisionLog(divergence.clone()));
    }
    if let Some(divergence) = &record.schedule_divergence {
        mismatches.push(Mismatch::Schedule(divergence.clone()));
    }
    if let Some(disagreement) = record.strategy_disagreement {
        mismatches.push(Mismatch::Strategy {
            strategy: fixture.strategy.clone(),
            disagreement,
        });
    }
    ReplayOutcome { record, mismatches }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn master_seed_0() -> Fixture {
        let record = run_one(&RunSpec::new(
            crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
            ShutdownProtocol::Master,
            0,
        ));
        Fixture::from_record(
            &record,
            Provenance {
                found_by: "test".into(),
                seeds: "0".into(),
                date: "2000-01-01".into(),
                source: None,
                shrunk_from: None,
                original_strategy: None,
            },
        )
    }

    /// A fixture reads back from its text to the same fixture, report included.
    #[test]
    fn fixture_round_trips_through_toml() {
        let fixture = master_seed_0();
        assert!(fixture.report.as_ref().is_some_and(|r| r.hang.is_some()));
        assert_eq!(
            Fixture::from_toml(&fixture.to_toml().unwrap()).unwrap(),
            fixture
        );
    }

    /// A seed past what a TOML integer holds is written as digits and read back.
    #[test]
    fn the_largest_seeds_round_trip() {
        let mut fixture = master_seed_0();
        fixture.seed = u64::MAX;
        if let Some(report) = &mut fixture.report {
            report.seed = u64::MAX;
        }
        let text = fixture.to_toml().unwrap();
        assert!(text.contains("seed = \"18446744073709551615\""), "{text}");
        assert_eq!(Fixture::from_toml(&text).unwrap(), fixture);
    }

    /// A fixture replays to its verdict and trace hash, twice in one process.
    #[test]
    fn fixture_replays_identically() {
        let fixture = master_seed_0();
        let first = replay_fixture(&fixture);
        let second = replay_fixture(&fixture);
        assert!(first.matched(), "{:?}", first.mismatches);
        assert!(second.matched(), "{:?}", second.mismatches);
        assert_eq!(first.record.report, second.record.report);
    }

    /// The decision log, not the seed's strategy, drives a replay: with another strategy the
    /// seed alone schedules differently, but the replay still reproduces the run's trace; and
    /// strict replay names the strategy that could not have taken the log's decisions.
    #[test]
    fn fixture_replays_from_its_log_not_its_seed() {
        let base = master_seed_0();
        let mut proved = None;
        for seed in 0..50u64 {
            let mut record_spec = RunSpec::new(
                crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
                ShutdownProtocol::Master,
                seed,
            );
            record_spec.strategy = StrategyChoice::Yields(0.6);
            let record = run_one(&record_spec);
            let mut other = record_spec.clone();
            other.strategy = StrategyChoice::Yields(0.0);
            if run_one(&other).trace_hash == record.trace_hash {
                continue;
            }
            proved = Some(Fixture::from_record(&record, base.provenance.clone()));
            break;
        }
        let mut fixture =
            proved.expect("no seed in 0..50 schedules differently under yields:0.6 and yields:0");
        assert!(replay_fixture(&fixture).matched());
        fixture.strategy = StrategyChoice::Yields(0.0);
        let outcome = replay_fixture(&fixture);
        assert_eq!(outcome.record.trace_hash, fixture.trace_hash);
        assert!(!outcome.record.replay_diverged());
        assert!(
            matches!(outcome.mismatches[..], [Mismatch::Strategy { .. }]),
            "{:?}",
            outcome.mismatches
        );
    }

    /// Strict replay: a log that is empty, cut short, lengthened, or impossible at its first
    /// decision, and a wrong signature, are each a mismatch that says what differed.
    #[test]
    fn replay_is_strict_about_the_log_and_the_signature() {
        let fixture = master_seed_0();
        let decisions = fixture.decisions.decisions().to_vec();
        assert!(decisions.len() > 2);
        let with_log = |log: Vec<u32>| Fixture {
            decisions: DecisionLog::from_decisions(log),
            ..fixture.clone()
        };
        let mut appended = decisions.clone();
        appended.push(0);
        let mut impossible = decisions.clone();
        impossible[0] = 1_000;
        let cases = [
            (with_log(Vec::new()), "the log holds only 0"),
            (
                with_log(decisions[..decisions.len() - 1].to_vec()),
                "the log holds only",
            ),
            (with_log(appended), "but the log holds"),
            (with_log(impossible), "decision 0 of the log is 1000"),
        ];
        for (broken, expected) in cases {
            let outcome = replay_fixture(&broken);
            let said: Vec<String> = outcome.mismatches.iter().map(|m| m.to_string()).collect();
            assert!(
                said.iter().any(|line| line.contains(expected)),
                "{expected}: {said:?}"
            );
        }
        let wrong_signature = Fixture {
            signature: "hang:something-else".into(),
            ..fixture.clone()
        };
        let outcome = replay_fixture(&wrong_signature);
        assert!(
            matches!(outcome.mismatches[..], [Mismatch::Signature { .. }]),
            "{:?}",
            outcome.mismatches
        );
    }

    /// Malformed fixtures are refused with one line that says what is wrong, never a panic.
    #[test]
    fn malformed_fixtures_are_refused_in_one_line() {
        let good = master_seed_0().to_toml().unwrap();
        let cases = [
            ("not toml at all [".to_string(), "line"),
            (
                good.replace("format_version = 2", "format_version = 3"),
                "format_version 3",
            ),
            (
                good.replace("format_version = 2", "format_version = 1"),
                "predates scenario files",
            ),
            (
                good.replace("scenario = \"auth-crash\"", "scenario = \"nope\""),
                "embeds a scenario named",
            ),
            (
                good.replace("partitions = 2", "partitions = 99"),
                "99 is outside its bounds",
            ),
            (
                good.replace("protocol = \"master\"", "protocol = \"nope\""),
                "nope",
            ),
            (
                good.replace("trace_hash = \"0x", "trace_hash = \"zz"),
                "bad trace_hash",
            ),
            (
                good.replace("trace_hash = \"0x", "trace_hash = \"0x+"),
                "bad trace_hash",
            ),
            (
                good.replace("verdict = \"hang\"", "verdict = \"meh\""),
                "unknown variant",
            ),
            (good.replace("format_version = 2\n", ""), "format_version"),
            (
                good.replace("format_version = 2\n", "format_version = 2\nextra = 3\n"),
                "extra",
            ),
            (
                good.replace("partitions = 2", "partitions = 0"),
                "topic[0].partitions: 0 is outside its bounds",
            ),
            (
                good.replace("name = \"app-1\"", "name = \"app 1\""),
                "consumer[0].name",
            ),
        ];
        for (text, needle) in cases {
            let error = Fixture::from_toml(&text).expect_err(needle);
            assert!(!error.contains('\n'), "{error}");
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    /// A `pct:3` hang kept under strategy `schedule`: its decisions keyed by fiber, then
    /// followed, give a fixture with one entry per line that reads back to itself and replays
    /// strictly. An entry the run never meets is a mismatch; a `schedule` fixture with
    /// `decisions`, another one with `schedule`, and a bad entry line are refused in one line.
    #[test]
    fn a_schedule_keyed_by_fiber_is_kept_and_replayed() {
        let scenario = crate::catalogue::Scenario::builtin("auth-crash").unwrap();
        let mut keying = RunSpec::new(scenario, ShutdownProtocol::Master, 0);
        keying.strategy = StrategyChoice::Pct(3);
        keying.key_decisions = true;
        let keyed = run_one(&keying);
        let schedule = keyed.fiber_schedule.clone().unwrap();
        assert!(schedule.len() > 2, "{} entries", schedule.len());
        let following = RunSpec {
            strategy: StrategyChoice::Schedule,
            schedule: Some(Arc::new(schedule.clone())),
            key_decisions: false,
            ..keying
        };
        let record = run_one(&following);
        assert_eq!(record.trace_hash, keyed.trace_hash);
        let fixture = Fixture::from_record(&record, master_seed_0().provenance);
        assert_eq!(fixture.schedule.as_ref(), Some(&schedule));
        assert!(fixture.decisions.is_empty());
        let text = fixture.to_toml().unwrap();
        assert!(!text.contains("\ndecisions = "), "{text}");
        for line in schedule.to_lines() {
            assert!(text.contains(&format!("\n    \"{line}\",\n")), "{line}");
        }
        assert_eq!(Fixture::from_toml(&text).unwrap(), fixture);
        let replay = replay_fixture(&fixture);
        assert!(replay.matched(), "{:?}", replay.mismatches);

        let mut unmet = fixture.clone();
        unmet.schedule.as_mut().unwrap().entries.push(
            "at 999.000000000s, runloop gives way at step 1"
                .parse()
                .unwrap(),
        );
        let replay = replay_fixture(&unmet);
        assert!(
            replay
                .mismatches
                .iter()
                .any(|m| matches!(m, Mismatch::Schedule(ScheduleDivergence::NeverMet { .. }))),
            "{:?}",
            replay.mismatches
        );

        let first_entry = schedule.to_lines()[0].clone();
        let log_fixture = master_seed_0().to_toml().unwrap();
        let cases = [
            (
                text.replace("schedule = [\n", "decisions = \"0\"\nschedule = [\n"),
                "and no `decisions`",
            ),
            (
                text.replace("strategy = \"schedule\"", "strategy = \"log\""),
                "takes its decisions from `decisions`",
            ),
            (
                log_fixture.replace(
                    "\n[expected]",
                    &format!("schedule = [\"{first_entry}\"]\n\n[expected]"),
                ),
                "and no `schedule`",
            ),
            (
                text.replace(&first_entry, "at 1s, runloop gives way"),
                "schedule entry 1: bad",
            ),
        ];
        for (text, needle) in cases {
            let error = Fixture::from_toml(&text).expect_err(needle);
            assert!(!error.contains('\n'), "{error}");
            assert!(error.contains(needle), "{needle}: {error}");
        }
    }

    /// Only regular files are read: a directory and a device are refused, and so is a file
    /// past the limit, without reading it whole.
    #[test]
    fn only_bounded_regular_files_are_read() {
        let directory = tempfile::tempdir().unwrap();
        let error = read_fixture(directory.path()).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let error = read_fixture(Path::new("/dev/zero")).unwrap_err();
        assert!(error.contains("not a regular file"), "{error}");
        let big = directory.path().join("big.toml");
        std::fs::write(&big, vec![b'#'; MAX_FIXTURE_BYTES as usize + 1]).unwrap();
        let error = read_fixture(&big).unwrap_err();
        assert!(error.contains("more than the"), "{error}");
    }

    /// Writing is atomic: the file appears whole and no temporary file is left behind.
    #[test]
    fn fixtures_are_written_atomically() {
        let directory = tempfile::tempdir().unwrap();
        let path = directory.path().join("one.toml");
        let fixture = master_seed_0();
        write_fixture(&path, &fixture).unwrap();
        write_fixture(&path, &fixture).unwrap();
        assert_eq!(read_fixture(&path).unwrap(), fixture);
        let names: Vec<_> = std::fs::read_dir(directory.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, vec![std::ffi::OsString::from("one.toml")]);
    }
}
