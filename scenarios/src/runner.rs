//! The runner: one run of a scenario under a protocol, seed and strategy, judged; and the one
//! place where a run is run twice and the two compared.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

use consumer::internal::labels::COMMAND_QUEUE;
use serde::{Deserialize, Serialize};
use sim::{run, RunConfig, RunResult};

use std::sync::Arc;

use crate::invariants;
use crate::scenario::ScenarioFile;
use crate::workload::{workload, Observations};
use crate::report::{self, Nondeterminism, RunReport};
use crate::verdict::{RunRecord, RunSpec, Verdict};

/// A run's virtual deadline: far past the driver's final stop (30 s), a commit timeout (15 s)
/// and the consumer's close; a run still going then has hung.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `spec` once and judges it.
pub fn run_one(spec: &RunSpec) -> RunRecord {
    let resolved = spec
        .resolved
        .clone()
        .unwrap_or_else(|| Arc::new(spec.scenario.resolve(spec.seed)));
    let sink = Rc::new(RefCell::new(Vec::<Observations>::new()));
    let mut config = RunConfig::new(spec.seed)
        .with_strategy(spec.strategy.clone())
        .with_deadline(DEADLINE)
        // The hang report tells each stuck command's history from these operations.
        .watching(COMMAND_QUEUE);
    if let Some(log) = &spec.replay {
        config = config.replaying(log.clone());
    }
    if spec.record_events {
        config = config.recording();
    }
    let (protocol, file, workload_sink) = (
        spec.protocol,
        Rc::new((*resolved).clone()),
        sink.clone(),
    );
    let result = run(&config, move |rt| workload(rt, file, protocol, workload_sink));
    let observations = sink.take();
    judge(spec, resolved, result, &observations)
}

/// Which runs are run twice and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeterminismCheck {
    /// Failing runs only: a finding must reproduce before it is reported.
    Failing,
    /// Every run (half the throughput).
    Every,
}

impl DeterminismCheck {
    /// Both, for the command line's list.
    pub const ALL: [DeterminismCheck; 2] = [DeterminismCheck::Failing, DeterminismCheck::Every];

    /// The name on the command line and in progress files.
    pub fn name(self) -> &'static str {
        match self {
            DeterminismCheck::Failing => "failing",
            DeterminismCheck::Every => "every",
        }
    }

    /// One line for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            DeterminismCheck::Failing => {
                "failing runs only: each is run a second time and the two traces compared"
            }
            DeterminismCheck::Every => "every run (half the throughput)",
        }
    }
}

impl fmt::Display for DeterminismCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeterminismCheck {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        DeterminismCheck::ALL
            .into_iter()
            .find(|check| check.name() == text)
            .ok_or_else(|| format!("unknown determinism check {text:?}: expected failing or every"))
    }
}

/// Runs `spec`, and again when `check` asks for it (every run, or a failing one): the second
/// run must give the same trace hash and the same decision log, else the record's verdict is
/// `Nondeterminism`. This is the only place that runs a spec twice and compares.
pub fn run_checked(spec: &RunSpec, check: DeterminismCheck) -> RunRecord {
    let first = run_one(spec);
    if check == DeterminismCheck::Failing && !first.verdict.is_failure() {
        return first;
    }
    let second = run_one(spec);
    compare(first, &second)
}

/// The first record, or a `Nondeterminism` verdict when the second run differs from it.
fn compare(first: RunRecord, second: &RunRecord) -> RunRecord {
    let decisions_differ = first.decisions != second.decisions;
    if first.trace_hash == second.trace_hash && !decisions_differ {
        return first;
    }
    let mut record = first;
    record.report.nondeterminism = Some(Nondeterminism {
        first_trace_hash: record.trace_hash,
        second_trace_hash: second.trace_hash,
        decisions_differ,
    });
    record.report.verdict = crate::verdict::VerdictKind::Nondeterminism;
    record.report.invariant = None;
    record.verdict = Verdict::Nondeterminism;
    record.signature = "nondeterminism".into();
    record
}

fn judge(
    spec: &RunSpec,
    resolved: Arc<ScenarioFile>,
    result: RunResult,
    seen: &[Observations],
) -> RunRecord {
    let broken = invariants::check_all(&resolved, seen);
    let under_test = seen.first().cloned().unwrap_or_default();
    let seen = &under_test;
    let (verdict, signature) = if let Some(panic) = result.panics.first() {
        (Verdict::Panic, report::panic_signature(&panic.message))
    } else if result.is_hang() {
        (Verdict::Hang, report::hang_signature(&result))
    } else if let Some(first) = broken.first() {
        (
            Verdict::Violation {
                invariant: first.invariant,
                detail: first.detail.clone(),
            },
            format!("violation:{}", first.invariant),
        )
    } else {
        (Verdict::Pass, "pass".to_string())
    };
    let report = RunReport::of(spec, &verdict, &result, seen, &broken);
    RunRecord {
        spec: RunSpec {
            resolved: Some(resolved.clone()),
            replay: spec.replay.clone(),
            ..spec.clone()
        },
        resolved,
        verdict,
        report,
        trace_hash: result.trace_hash,
        decisions: result.decisions,
        replay_divergence: result.replay_divergence,
        strategy_disagreement: result.strategy_disagreement,
        signature,
        events: result.events,
    }
}
