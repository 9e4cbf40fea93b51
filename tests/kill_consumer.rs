//! `kill-consumer` in a scenario: a peer's process dies mid-stream; the consumer under test
//! survives, gets the dead peer's partitions after its session timeout, and the group's
//! invariants (at-least-once among them) hold with the dead peer's processing counted.

use std::path::Path;

use consumer::ShutdownProtocol;
use scenarios::runner::run_one;
use scenarios::workload::Milestone;
use scenarios::{RunSpec, Scenario, VerdictKind};
use sim::StrategyChoice;

fn kill_peer() -> Scenario {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/kill-peer.toml");
    Scenario::from_path(&path, &[]).expect("tests/scenarios/kill-peer.toml is valid")
}

/// Under `closed-queue`, for several seeds (both rebalance protocols), the run passes; the
/// peer is killed and never finishes; the survivor processes the last record of every
/// partition the dead peer had, and every record of the topic was processed by somebody.
#[test]
fn a_killed_peers_partitions_go_to_the_survivor_and_the_run_passes() {
    assert!(sim::SIMULATED, "these tests need --cfg madsim");
    let scenario = kill_peer();
    for seed in 0..6 {
        let mut spec = RunSpec::new(scenario.clone(), ShutdownProtocol::ClosedQueue, seed);
        spec.strategy = StrategyChoice::Yields(0.0);
        let record = run_one(&spec);
        assert_eq!(
            record.verdict.kind(),
            VerdictKind::Pass,
            "seed {seed}: {}",
            record.report
        );
        let (survivor, dead) = (&record.observations[0], &record.observations[1]);
        assert!(
            survivor.finished,
            "seed {seed}: the survivor closed normally"
        );
        assert!(
            dead.was_killed() && !dead.finished,
            "seed {seed}: app-2 was killed"
        );
        let killed_at = dead
            .milestones
            .iter()
            .find(|(_, _, milestone)| *milestone == Milestone::Killed)
            .map(|(at, _, _)| *at)
            .expect("a kill milestone");
        assert!(
            dead.milestones
                .iter()
                .all(|(at, _, milestone)| *at <= killed_at
                    || !matches!(milestone, Milestone::ConsumerFinalized)),
            "seed {seed}: no finalizer of the dead peer ran after its death"
        );
        assert!(
            !dead.processed.is_empty(),
            "seed {seed}: the peer processed records before it died"
        );
        for partition in dead.processed.keys() {
            assert!(
                survivor
                    .processed
                    .get(partition)
                    .is_some_and(|offsets| offsets.contains(19)),
                "seed {seed}: the survivor took over {partition}: {:?}",
                survivor.processed
            );
        }
        for partition in 0..4 {
            let name = format!("orders-{partition}");
            let mut all = survivor.processed.get(&name).cloned().unwrap_or_default();
            if let Some(offsets) = dead.processed.get(&name) {
                all.extend(offsets);
            }
            assert!(
                all.missing_below(20).is_empty(),
                "seed {seed}: {name} fully processed by the group: {all}"
            );
        }
    }
}

/// A kill of the consumer under test is refused: a killed consumer never shuts down, so its
/// protocol would go untested.
#[test]
fn killing_the_consumer_under_test_is_refused() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/scenarios/kill-peer.toml");
    let error = Scenario::from_path(&path, &["event[0].consumer=app-1".to_string()])
        .expect_err("the first consumer cannot be killed");
    assert!(
        error.to_string().contains("kill-consumer kills a peer"),
        "{error}"
    );
}
