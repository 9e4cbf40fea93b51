//! The settled form of at-least-once (`run.settle_ms`, invariant `settled-at-least-once`) on
//! whole runs of `tests/scenarios/settle-after-churn.toml`: two consumers share a topic, a
//! passive member joins at 1 s and leaves at 10 s, and the group must have caught up by the
//! final stop (30 s) once undisturbed from 20 s. Each case changes the file with `--set`-style
//! overrides and says what the check must conclude.

use consumer::ShutdownProtocol;
use scenarios::invariants::{settlement, Settlement};
use scenarios::{run_one, Invariant, RunRecord, RunSpec, Scenario, Verdict};

fn run_with(sets: &[&str]) -> RunRecord {
    sim::quiet_simulation_panics();
    let path = format!(
        "{}/tests/scenarios/settle-after-churn.toml",
        env!("CARGO_MANIFEST_DIR")
    );
    let sets: Vec<String> = sets.iter().map(|set| set.to_string()).collect();
    let scenario = Scenario::from_path(std::path::Path::new(&path), &sets).expect("the file loads");
    run_one(&RunSpec::new(scenario, ShutdownProtocol::ClosedQueue, 1))
}

fn settled(record: &RunRecord) -> Settlement {
    settlement(&record.resolved, &record.observations)
}

/// The churn ends at 10 s; from 20 s the group is undisturbed, is checked, and has processed
/// every record of every partition.
#[test]
fn a_group_that_settled_after_churn_processed_every_record() {
    let record = run_with(&[]);
    assert_eq!(record.verdict, Verdict::Pass, "{}", record.report);
    assert!(
        matches!(settled(&record), Settlement::Settled { .. }),
        "{}",
        settled(&record)
    );
    for partition in 0..4 {
        let tp = format!("orders-{partition}");
        let processed: u64 = record
            .observations
            .iter()
            .filter_map(|seen| seen.processed.get(&tp))
            .map(|offsets| offsets.len())
            .sum();
        assert!(processed >= 50, "{tp}: {processed} records processed");
    }
}

/// A handler stuck for a minute on app-2, in a group nothing disturbs: the group is settled, but
/// app-2's partitions are not caught up by the final stop, and the run is a violation that
/// names the records no consumer processed.
#[test]
fn a_settled_group_that_did_not_catch_up_is_a_violation() {
    let record = run_with(&[
        "event[0].enabled=false",
        "event[1].enabled=false",
        "consumer[1].consume[0].handler_delay_ms=60000",
    ]);
    let Verdict::Violation { invariant, detail } = &record.verdict else {
        panic!("expected a violation:\n{}", record.report);
    };
    assert_eq!(*invariant, Invariant::SettledAtLeastOnce);
    assert!(
        detail.contains("the group was undisturbed from 20.000 s to the final stop at 30.000 s")
            && detail.contains("but no consumer processed"),
        "{detail}"
    );
    assert_eq!(record.signature, "violation:settled-at-least-once");
}

/// A passive member that never leaves holds partitions it never consumes: the group never
/// settles, so the run is not held to the check.
#[test]
fn a_passive_member_left_in_the_group_is_not_settled() {
    let record = run_with(&["event[1].enabled=false"]);
    assert_eq!(record.verdict, Verdict::Pass, "{}", record.report);
    assert_eq!(
        settled(&record),
        Settlement::Unsettled("a passive member was in the group at 20.000 s".into())
    );
}

/// A user action under way in the settle time (closing app-2 at 25 s) and a churn that ends
/// inside it (the member leaves at 22 s) each leave the group unsettled.
#[test]
fn disturbances_inside_the_settle_time_leave_the_group_unsettled() {
    let closing = run_with(&["event[2].enabled=true"]);
    let Settlement::Unsettled(why) = settled(&closing) else {
        panic!("settled: {}", closing.report);
    };
    // The event's fiber wakes at 25 s; the clock gains a little as fibers run.
    assert!(
        why.starts_with("close-consumer of app-2 (from 25.0")
            && why.ends_with(") lasted into 20.000 s to 30.000 s"),
        "{why}"
    );
    let late_leave = run_with(&["event[1].at_ms=22000"]);
    assert_eq!(
        settled(&late_leave),
        Settlement::Unsettled("the faults were over only at 22.000 s, after 20.000 s".into())
    );
}

/// A scenario without `run.settle_ms` is not asked to settle.
#[test]
fn without_a_settle_time_nothing_is_checked() {
    let scenario = Scenario::builtin("graceful-shutdown").expect("in the catalogue");
    let record = run_one(&RunSpec::new(scenario, ShutdownProtocol::ClosedQueue, 1));
    assert_eq!(settled(&record), Settlement::NotAsked, "{}", record.report);
}

/// `group-churn` seed 1677 (found by a 10,000-seed search of the first cut of this check): app-2
/// begins an eager revocation at 4.7 s with rebalance-safe commits, its session times out inside
/// the callback, and the callback waits for commits that can no longer succeed until
/// `max_rebalance_duration` ends it, long after the final stop. Nobody consumes its partition
/// meanwhile. The group has not settled: a rebalance-listener call in progress is a disturbance.
#[test]
fn a_revocation_still_waiting_for_commits_is_not_settled() {
    sim::quiet_simulation_panics();
    let scenario = Scenario::builtin("group-churn").expect("in the catalogue");
    let record = run_one(&RunSpec::new(scenario, ShutdownProtocol::Master, 1677));
    assert_eq!(record.verdict, Verdict::Pass, "{}", record.report);
    let Settlement::Unsettled(why) = settled(&record) else {
        panic!("settled: {}", record.report);
    };
    assert!(
        why.starts_with("a call of the rebalance listener of app-2 (from 4.7"),
        "{why}"
    );
}
