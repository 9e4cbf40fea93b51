//! Runs and their verdicts.
//!
//! A run is (scenario, parameters, protocol, seed, strategy) and ends in one [`Verdict`]:
//! `Pass`; `Hang` (an obligation still open when the run ended, or nothing could run again);
//! `Violation` of a named invariant; `Panic` of the system under test (never of the search); or
//! `Nondeterminism` (the same run twice gave two traces).

use std::fmt;
use std::str::FromStr;
use std::time::Duration;

use consumer::ShutdownProtocol;
use sim::{DecisionLog, StrategyChoice};

use crate::catalogue::ScenarioName;
use crate::params::ScenarioParams;

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Pass,
    Hang,
    /// The named invariant was broken; the text says how.
    Violation {
        invariant: String,
        detail: String,
    },
    Panic,
    Nondeterminism,
}

impl Verdict {
    /// The verdict's kind, as fixtures and NDJSON name it.
    pub fn kind(&self) -> &'static str {
        match self {
            Verdict::Pass => "pass",
            Verdict::Hang => "hang",
            Verdict::Violation { .. } => "violation",
            Verdict::Panic => "panic",
            Verdict::Nondeterminism => "nondeterminism",
        }
    }

    /// Whether the run failed.
    pub fn is_failure(&self) -> bool {
        *self != Verdict::Pass
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Verdict::Violation { invariant, .. } => write!(f, "violation of {invariant}"),
            other => f.write_str(other.kind()),
        }
    }
}

/// What to run.
#[derive(Clone, Debug, PartialEq)]
pub struct RunSpec {
    pub scenario: ScenarioName,
    pub protocol: ShutdownProtocol,
    pub seed: u64,
    pub strategy: StrategyChoice,
    /// The scenario's parameters; `None` draws them from the seed.
    pub params: Option<ScenarioParams>,
    /// Replay these scheduling decisions (fixtures).
    pub replay: Option<DecisionLog>,
    /// Keep every event, for a readable trace (slower).
    pub record_events: bool,
}

impl RunSpec {
    /// A run of `scenario` under `protocol` with `seed`, parameters drawn from the seed, the
    /// default strategy.
    pub fn new(scenario: ScenarioName, protocol: ShutdownProtocol, seed: u64) -> RunSpec {
        RunSpec {
            scenario,
            protocol,
            seed,
            strategy: StrategyChoice::default(),
            params: None,
            replay: None,
            record_events: false,
        }
    }
}

/// Everything a run produced that the search, fixtures and people need.
#[derive(Clone, Debug)]
pub struct RunRecord {
    /// The run, with its parameters filled in.
    pub spec: RunSpec,
    pub params: ScenarioParams,
    pub verdict: Verdict,
    /// The plain-words report: the verdict, and for a hang who waits on what and why.
    pub report: String,
    pub trace_hash: u64,
    /// The decisions the run took; replaying them reproduces it.
    pub decisions: DecisionLog,
    /// Whether a replayed log ran out before the run ended.
    pub replay_diverged: bool,
    /// A short text that is the same for failures of the same shape (stuck command and what it
    /// waits on, or the invariant), without numbers: the search keeps one fixture per signature.
    pub signature: String,
    /// Virtual time at the end of the run.
    pub virtual_elapsed: Duration,
    /// Every event, when recorded.
    pub events: Option<Vec<sim::trace::TraceRecord>>,
}

impl FromStr for ScenarioName {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ScenarioName::ALL
            .into_iter()
            .find(|s| s.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = ScenarioName::ALL.iter().map(|s| s.name()).collect();
                format!(
                    "unknown scenario {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

impl fmt::Display for ScenarioName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}
