//! Runs and their verdicts.
//!
//! A run is (scenario resolved for its seed, protocol, seed, strategy) and ends in one [`Verdict`]:
//! `Pass`; `Hang` (proven: nothing but background loops could ever run again, or a whole quiet
//! window passed without progress, or the workload ended with an obligation open); `Timeout`
//! (the run still progressed after its deadline: slow, not proven stuck); `Violation`
//! of a named [`Invariant`]; `Panic` of the system under test (never of the search); or
//! `Nondeterminism` (the same run twice gave two traces). DESIGN 3.4 "Hang versus Timeout".

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use consumer::ShutdownProtocol;
use serde::{Deserialize, Serialize};
use sim::{
    DecisionLog, FiberSchedule, ReplayDivergence, ScheduleDivergence, StrategyChoice,
    StrategyDisagreement,
};

use std::sync::Arc;

use crate::catalogue::Scenario;
use crate::invariants::Invariant;
use crate::report::RunReport;
use crate::scenario::ScenarioFile;

/// A verdict's kind, without its details: what fixtures expect, NDJSON lines carry and
/// summaries count.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum VerdictKind {
    Pass,
    Hang,
    Timeout,
    Violation,
    Panic,
    Nondeterminism,
}

impl VerdictKind {
    /// Every kind, passing first.
    pub const ALL: [VerdictKind; 6] = [
        VerdictKind::Pass,
        VerdictKind::Hang,
        VerdictKind::Timeout,
        VerdictKind::Violation,
        VerdictKind::Panic,
        VerdictKind::Nondeterminism,
    ];

    /// The kind's name in fixtures, NDJSON lines and summaries.
    pub fn name(self) -> &'static str {
        match self {
            VerdictKind::Pass => "pass",
            VerdictKind::Hang => "hang",
            VerdictKind::Timeout => "timeout",
            VerdictKind::Violation => "violation",
            VerdictKind::Panic => "panic",
            VerdictKind::Nondeterminism => "nondeterminism",
        }
    }

    /// Whether a run of this kind failed.
    pub fn is_failure(self) -> bool {
        self != VerdictKind::Pass
    }
}

impl fmt::Display for VerdictKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for VerdictKind {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        VerdictKind::ALL
            .into_iter()
            .find(|kind| kind.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = VerdictKind::ALL.iter().map(|kind| kind.name()).collect();
                format!(
                    "unknown verdict {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Hang,
    /// The deadline passed while the run still progressed: give it a longer `--deadline`.
    Timeout,
    /// The invariant was broken; the detail says how.
    Violation {
        invariant: Invariant,
        detail: String,
    },
    Panic,
    Nondeterminism,
}

impl Verdict {
    /// The verdict's kind.
    pub fn kind(&self) -> VerdictKind {
        match self {
            Verdict::Pass => VerdictKind::Pass,
            Verdict::Hang => VerdictKind::Hang,
            Verdict::Timeout => VerdictKind::Timeout,
            Verdict::Violation { .. } => VerdictKind::Violation,
            Verdict::Panic => VerdictKind::Panic,
            Verdict::Nondeterminism => VerdictKind::Nondeterminism,
        }
    }

    /// The broken invariant, for a violation.
    pub fn invariant(&self) -> Option<Invariant> {
        match self {
            Verdict::Violation { invariant, .. } => Some(*invariant),
            _ => None,
        }
    }

    /// Whether the run failed.
    pub fn is_failure(&self) -> bool {
        self.kind().is_failure()
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Violation { invariant, .. } => write!(f, "violation of {invariant}"),
            other => f.write_str(other.kind().name()),
        }
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    pub scenario: Scenario,
    pub protocol: ShutdownProtocol,
    pub seed: u64,
    pub strategy: StrategyChoice,
    /// The scenario as resolved for the seed; `None` resolves it from the seed.
    pub resolved: Option<Arc<ScenarioFile>>,
    /// Replay these scheduling decisions (fixtures).
    pub replay: Option<DecisionLog>,
    /// Follow this schedule keyed by fiber (fixtures under strategy `schedule`).
    pub schedule: Option<Arc<FiberSchedule>>,
    /// Also record the run's decisions keyed by fiber ([`RunRecord::fiber_schedule`]).
    pub key_decisions: bool,
    /// While keying, also record every pick at this instant ([`sim::RunConfig::pin_picks_at`]).
    pub pin_picks_at: Option<Duration>,
    /// Keep every event, for a readable trace (slower).
    pub record_events: bool,
    /// Classify the interleaving coverage ([`crate::coverage`]): watches `runloop_done` too.
    /// Off in a plain search, whose runs need no classes.
    pub coverage: bool,
    /// A virtual deadline chosen by the user (`--deadline`); `None`: the one derived from the
    /// scenario's settings ([`crate::runner::RunLimits`]).
    pub deadline: Option<Duration>,
}

impl RunSpec {
    /// A run of `scenario` under `protocol` with `seed`, parameters drawn from the seed, the
    /// default strategy.
    pub fn new(scenario: Scenario, protocol: ShutdownProtocol, seed: u64) -> RunSpec {
        RunSpec {
            scenario,
            protocol,
            seed,
            strategy: StrategyChoice::default(),
            resolved: None,
            replay: None,
            schedule: None,
            key_decisions: false,
            pin_picks_at: None,
            record_events: false,
            coverage: false,
            deadline: None,
        }
    }
}

/// Everything a run produced that the search, fixtures and people need.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The run, with its resolved scenario filled in.
    pub spec: RunSpec,
    /// The scenario as resolved for the run's seed.
    pub resolved: Arc<ScenarioFile>,
    pub verdict: Verdict,
    /// The report: how the run ended and, for a hang, who waits on what and why. Data that
    /// prints itself (`Display`) and serializes into NDJSON lines and fixtures.
    pub report: RunReport,
    pub trace_hash: u64,
    /// The decisions the run took; replaying them reproduces it.
    pub decisions: DecisionLog,
    /// How a replay left its decision log, if it did.
    pub replay_divergence: Option<ReplayDivergence>,
    /// The first logged decision the strategy could not have taken, if any.
    pub strategy_disagreement: Option<StrategyDisagreement>,
    /// The run's non-default decisions keyed by fiber, when it followed a schedule or was asked
    /// to key them.
    pub fiber_schedule: Option<FiberSchedule>,
    /// How the run left the schedule it followed, if it did.
    pub schedule_divergence: Option<ScheduleDivergence>,
    /// A short text that is the same for failures of the same shape (stuck command and what it
    /// waits on, or the invariant), without numbers: the search keeps one fixture per signature.
    pub signature: String,
    /// Every event, when recorded.
    pub events: Option<Vec<sim::trace::TraceRecord>>,
    /// What the workload observed, per consumer in the file's order (`hangsim run
    /// --observations` prints it); a peer that took no part has empty, unfinished observations.
    pub observations: Vec<crate::workload::Observations>,
    /// The ordering classes of the commands that raced the runloop's end ([`crate::coverage`]);
    /// empty unless the spec asked for coverage.
    pub coverage: crate::coverage::RunCoverage,
}

impl RunRecord {
    /// Whether a replay left its decision log.
    pub fn replay_diverged(&self) -> bool {
        self.replay_divergence.is_some()
    }
}
