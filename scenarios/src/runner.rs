//! The runner: one run of a scenario under a protocol, seed and strategy, judged.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use sim::{run, RunConfig, RunResult};

use crate::catalogue::{workload, Observations};
use crate::invariants;
use crate::params;
use crate::report;
use crate::verdict::{RunRecord, RunSpec, Verdict};

/// A run's virtual deadline: far past the driver's final stop (30 s), a commit timeout (15 s)
/// and the consumer's close; a run still going then has hung.
pub const DEADLINE: Duration = Duration::from_secs(120);

/// Runs `spec` once and judges it.
pub fn run_one(spec: &RunSpec) -> RunRecord {
    let params = spec
        .params
        .clone()
        .unwrap_or_else(|| params::draw(spec.scenario, spec.seed));
    let sink = Arc::new(Mutex::new(Observations::default()));
    let mut config = RunConfig::new(spec.seed)
        .with_strategy(spec.strategy.clone())
        .with_deadline(DEADLINE)
        // The hang report tells each stuck command's history from these operations.
        .watching(report::COMMAND_QUEUE);
    if let Some(log) = &spec.replay {
        config = config.replaying(log.clone());
    }
    if spec.record_events {
        config = config.recording();
    }
    let (scenario, protocol, workload_params, workload_sink) =
        (spec.scenario, spec.protocol, params.clone(), sink.clone());
    let result = run(&config, move |rt| {
        workload(rt, scenario, workload_params, protocol, workload_sink)
    });
    let observations = sink.lock().expect("observations").clone();
    judge(spec, params, result, &observations)
}

/// Runs `spec` twice: a `Nondeterminism` verdict if the traces differ, else the first run.
pub fn run_checked(spec: &RunSpec) -> RunRecord {
    let first = run_one(spec);
    let second = run_one(spec);
    if first.trace_hash == second.trace_hash {
        return first;
    }
    let mut record = first;
    record.report = format!(
        "NONDETERMINISM: the same run gave trace {:#018x} then {:#018x}\n{}",
        record.trace_hash, second.trace_hash, record.report
    );
    record.verdict = Verdict::Nondeterminism;
    record.signature = "nondeterminism".into();
    record
}

fn judge(
    spec: &RunSpec,
    params: params::ScenarioParams,
    result: RunResult,
    seen: &Observations,
) -> RunRecord {
    let broken = invariants::check(spec.scenario, seen);
    let (verdict, signature) = if !result.panics.is_empty() {
        let message = result.panics[0]
            .message
            .lines()
            .next()
            .unwrap_or("")
            .to_string();
        (
            Verdict::Panic,
            format!("panic:{}", report::without_numbers(&message)),
        )
    } else if result.is_hang() {
        (Verdict::Hang, report::hang_signature(&result))
    } else if let Some(first) = broken.first() {
        (
            Verdict::Violation {
                invariant: first.invariant.to_string(),
                detail: first.detail.clone(),
            },
            format!("violation:{}", first.invariant),
        )
    } else {
        (Verdict::Pass, "pass".to_string())
    };
    let report = report::render(spec, &verdict, &result, seen, &broken);
    RunRecord {
        spec: RunSpec {
            params: Some(params.clone()),
            replay: spec.replay.clone(),
            ..spec.clone()
        },
        params,
        verdict,
        report,
        trace_hash: result.trace_hash,
        decisions: result.decisions,
        replay_diverged: result.replay_diverged,
        signature,
        virtual_elapsed: result.elapsed,
        events: result.events,
    }
}
