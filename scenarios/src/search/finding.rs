//! A [`Finding`]: one failing seed, as one NDJSON line (`--out`).

use consumer::ShutdownProtocol;
use serde::{Deserialize, Serialize};
use sim::StrategyChoice;

use crate::coverage::OrderingClass;
use crate::invariants::Invariant;
use crate::report::RunReport;
use crate::verdict::{RunRecord, VerdictKind};

/// One failing seed of a search: what failed, how, its signature and trace hash, the one-line
/// why, and the whole report as data. One NDJSON line each, in seed order.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub seed: u64,
    /// The scenario's name.
    pub scenario: String,
    #[serde(with = "crate::serde_as::protocol")]
    pub protocol: ShutdownProtocol,
    pub strategy: StrategyChoice,
    pub verdict: VerdictKind,
    /// The broken invariant, for a violation.
    pub invariant: Option<Invariant>,
    /// The failure signature: the same for failures of the same shape.
    pub signature: String,
    /// `0x` and 16 hex digits.
    pub trace_hash: String,
    /// One line of why ([`RunReport::why`]).
    pub why: String,
    pub report: RunReport,
    /// The run's interleaving ordering classes, when the search tallied coverage.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub classes: Option<Vec<OrderingClass>>,
}

impl Finding {
    /// The finding of a failing run.
    pub fn of(record: &RunRecord) -> Finding {
        Finding {
            seed: record.spec.seed,
            scenario: record.spec.scenario.name().to_string(),
            protocol: record.spec.protocol,
            strategy: record.spec.strategy.clone(),
            verdict: record.verdict.kind(),
            invariant: record.verdict.invariant(),
            signature: record.signature.clone(),
            trace_hash: format!("{:#018x}", record.trace_hash),
            why: record.report.why(),
            report: record.report.clone(),
            classes: None,
        }
    }

    /// The finding as one line of JSON, without its newline.
    pub fn to_line(&self) -> String {
        serde_json::to_string(self).expect("a finding is plain data and always serializes")
    }

    /// A line written by [`Finding::to_line`].
    pub fn from_line(line: &str) -> Result<Finding, String> {
        serde_json::from_str(line).map_err(|error| error.to_string())
    }
}
