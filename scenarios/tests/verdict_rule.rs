//! The verdict rule on whole scenarios (DESIGN 3.4 "Hang versus Timeout"): a slow but finite
//! run is a pass or a timeout, never a hang; a run stopped by a deadline the user chose too
//! short says when it last progressed and how fast.

use std::time::Duration;

use consumer::ShutdownProtocol;
use scenarios::catalogue::Scenario;
use scenarios::runner::{RunLimits, RunTimings};
use scenarios::{run_one, RunSpec, VerdictKind};

/// `graceful-shutdown` with a 5 s handler over 30 records a partition, stopped at 119 s: the
/// workload handles records until past 120 s (the fixed deadline of old, which called it a
/// hang) and then ends.
fn slow_graceful_shutdown() -> Scenario {
    let sets: Vec<String> = [
        "topic[0].records_per_partition=30",
        "topic[1].records_per_partition=30",
        "topic[0].produce_every_ms=0",
        "topic[1].produce_every_ms=0",
        "consumer[0].consume[0].handler_delay_ms=5000",
        "consumer[0].consume[1].handler_delay_ms=5000",
        "consumer[0].consume[0].commit_each_record=false",
        "consumer[0].consume[1].commit_each_record=false",
        "event[0].at_ms=119000",
        "run.final_stop_ms=119000",
    ]
    .map(String::from)
    .to_vec();
    Scenario::builtin_with("graceful-shutdown", &sets).expect("the overrides apply")
}

fn slow_run(deadline: Option<Duration>) -> scenarios::RunRecord {
    sim::quiet_simulation_panics();
    let spec = RunSpec {
        deadline,
        ..RunSpec::new(slow_graceful_shutdown(), ShutdownProtocol::ClosedQueue, 0)
    };
    run_one(&spec)
}

/// With the deadline derived from its settings, the slow run ends on its own, past 120 s, and
/// passes.
#[test]
fn a_slow_but_finite_run_passes_under_its_derived_deadline() {
    let record = slow_run(None);
    assert_eq!(
        record.verdict.kind(),
        VerdictKind::Pass,
        "{}",
        record.report
    );
    let ending = record.report.ending.as_ref().unwrap();
    assert!(ending.at.0 > Duration::from_secs(120), "{ending}");
    assert!(record.observations[0].finished);
}

/// With a deadline of 121 s the same run is cut short while its handlers still progress: a
/// timeout, never a hang, printed with its last progress and its rate.
#[test]
fn a_slow_run_cut_short_by_the_deadline_is_a_timeout() {
    let record = slow_run(Some(Duration::from_secs(121)));
    assert_eq!(
        record.verdict.kind(),
        VerdictKind::Timeout,
        "{}",
        record.report
    );
    assert_eq!(record.signature, "timeout");
    assert!(record.report.hang.is_none());
    let text = record.report.to_string();
    assert!(
        text.contains("the workload still progressed after it, at "),
        "{text}"
    );
    assert!(text.contains("per virtual second"), "{text}");
}

/// The quiet window is longer than every legitimate wait the settings allow, and the deadline
/// leaves the work after the last action and a whole quiet window; never below 120 s.
#[test]
fn limits_cover_the_longest_legitimate_wait_and_the_work() {
    let timings = RunTimings {
        commit_timeout: Duration::from_secs(15),
        max_rebalance_duration: Duration::from_secs(180),
        max_poll_interval: Duration::from_secs(300),
        handler_delay: Duration::from_secs(2),
        records_in_sequence: 60,
        longest_scenario_delay: Duration::from_secs(30),
        last_action_at: Duration::from_secs(30),
    };
    let limits = RunLimits::derive(&timings);
    assert!(limits.quiet_window > Duration::from_secs(300));
    assert_eq!(
        limits.deadline,
        Duration::from_secs(30 + 120 + 15) + limits.quiet_window
    );
    let quick = RunTimings {
        max_rebalance_duration: Duration::from_secs(1),
        max_poll_interval: Duration::from_secs(2),
        handler_delay: Duration::ZERO,
        records_in_sequence: 0,
        ..timings
    };
    let limits = RunLimits::derive(&quick);
    assert_eq!(limits.quiet_window, Duration::from_secs(40));
    assert_eq!(limits.deadline, Duration::from_secs(120));
}

/// `group-churn` seed 19581 under `check-then-race` (found by a 20,000-seed search): the
/// graceful end hangs at 168.66 s, and legitimate waits (rebalance-safe commits of up to 180 s)
/// put the derived deadline at 365.34 s, before the quiet window (310 s) since that hang ends.
/// The deadline once cut it short into a timeout; the grace after the deadline lets the quiet
/// window end, and the run is the hang it is, proven stuck past its deadline (at 468.66 s).
#[test]
fn the_deadline_does_not_cut_a_hang_short_into_a_timeout() {
    sim::quiet_simulation_panics();
    let scenario = Scenario::builtin("group-churn").expect("in the catalogue");
    let spec = RunSpec::new(scenario, ShutdownProtocol::CheckThenRace, 19_581);
    let record = run_one(&spec);
    assert_eq!(
        record.verdict.kind(),
        VerdictKind::Hang,
        "{}",
        record.report
    );
    let ending = record.report.ending.as_ref().unwrap();
    assert!(ending.outcome.is_stuck(), "{ending}");
    assert!(ending.at.0 > ending.deadline.0, "{ending}");
    assert!(
        ending.at.0 <= ending.last_progress_at.0 + ending.quiet_window.0,
        "{ending}"
    );
}
