//! Whole real runs against librdkafka's mock cluster: outcomes, not interleavings, each
//! bounded by the run's own watchdog (quiet window) and deadline.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use consumer::ShutdownProtocol;
use real::{from_resolved, judge, run_real, BrokerChoice, RealRunConfig, RealVerdict};
use scenarios::catalogue::Scenario;
use scenarios::verdict::Verdict;

/// `auth-crash` with no authorization retry: the runloop crashes at librdkafka's first denial
/// errors.
fn auth_crash_without_retries() -> Scenario {
    Scenario::builtin_with("auth-crash", &["consumer[0].auth_error_retries=0".into()])
        .expect("the override applies")
}

fn run(scenario: Scenario, protocol: ShutdownProtocol, seed: u64) -> real::Judgement {
    let config = RealRunConfig {
        scenario: from_resolved(&scenario.resolve(seed)).expect("the scenario maps"),
        protocol,
        broker: BrokerChoice::Mock,
        quiet_window: Duration::from_secs(3),
        deadline: Duration::from_secs(90),
        seed,
        run_id: format!("test-{seed}"),
    };
    let run = run_real(&config, &AtomicBool::new(false)).expect("the mock cluster starts");
    assert!(
        run.seen.setup_errors.is_empty(),
        "{:?}",
        run.seen.setup_errors
    );
    judge(&scenario, protocol, seed, &run)
}

/// Seed 2 of auth-crash without authorization retries: under
/// `master` the real client hangs as the simulator's does, a `RemoveSubscription` never
/// answered after the runloop crashed.
#[test]
fn auth_crash_under_master_hangs_on_remove_subscription() {
    let judgement = run(auth_crash_without_retries(), ShutdownProtocol::Master, 2);
    assert_eq!(
        judgement.verdict,
        RealVerdict::Judged(Verdict::Hang),
        "{}",
        judgement.report
    );
    assert!(
        judgement.signature.contains("RemoveSubscription"),
        "{}",
        judgement.signature
    );
    let hang = judgement.report.hang.as_ref().expect("a hang report");
    assert!(hang
        .stuck
        .iter()
        .any(|caller| caller.label.starts_with("RemoveSubscription")));
}

/// The same run under `closed-queue` passes: the crash fails every pending request.
#[test]
fn auth_crash_under_closed_queue_passes() {
    let judgement = run(
        auth_crash_without_retries(),
        ShutdownProtocol::ClosedQueue,
        2,
    );
    assert_eq!(
        judgement.verdict,
        RealVerdict::Judged(Verdict::Pass),
        "{}",
        judgement.report
    );
}

/// A graceful shutdown against the real client passes and commits what it processed.
#[test]
fn graceful_shutdown_passes_and_commits() {
    let scenario = Scenario::builtin("graceful-shutdown").unwrap();
    assert!(
        scenario.resolve(1).topics[0].records_per_partition.value() > 0,
        "seed 1 draws records"
    );
    let judgement = run(scenario, ShutdownProtocol::ClosedQueue, 1);
    assert_eq!(
        judgement.verdict,
        RealVerdict::Judged(Verdict::Pass),
        "{}",
        judgement.report
    );
}

/// What a real broker cannot do is refused, with the reason, never silently skipped.
#[test]
fn scenarios_a_broker_cannot_produce_are_refused() {
    let chaos = from_resolved(&Scenario::builtin("chaos").unwrap().resolve(0));
    assert!(chaos.unwrap_err().contains("chaos"));
    let silent = Scenario::builtin_with("auth-crash", &["event[0].mode=silent".into()]).unwrap();
    assert!(from_resolved(&silent.resolve(0)).is_err());
    let external =
        real::broker::Broker::external("127.0.0.1:1").expect("a producer is made lazily");
    let deny = real::broker::Fault::DenyRead {
        topic: "topic0".into(),
    };
    let refused = external.check_faults([&deny]).unwrap_err();
    assert!(refused.contains("cannot produce"), "{refused}");
}
