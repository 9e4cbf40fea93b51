//! Real runs against a real Kafka-compatible broker (Tansu from `scripts/tansu.sh`, or any
//! broker): ignored unless asked for, since they need the broker running. Run them with
//!
//! ```text
//! scripts/tansu.sh start
//! HANGSIM_BROKER=127.0.0.1:9092 cargo test -p real --test tansu -- --ignored
//! scripts/tansu.sh stop
//! ```
//!
//! Each run uses topics and a group of its own, so the suite can run against a broker that
//! keeps its data.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use consumer::ShutdownProtocol;
use real::{from_resolved, judge, run_real, BrokerChoice, RealRunConfig, RealVerdict};
use scenarios::catalogue::Scenario;
use scenarios::verdict::Verdict;

/// The broker the suite runs against; a missing variable fails the test (it was asked for).
fn broker() -> String {
    std::env::var("HANGSIM_BROKER")
        .expect("HANGSIM_BROKER names the broker (HOST:PORT), see scripts/tansu.sh")
}

fn run(name: &str, protocol: ShutdownProtocol, seed: u64) -> Result<real::Judgement, String> {
    let scenario = Scenario::builtin(name).map_err(|error| error.to_string())?;
    let config = RealRunConfig {
        scenario: from_resolved(&scenario.resolve(seed))?,
        protocol,
        broker: BrokerChoice::At(broker()),
        quiet_window: Duration::from_secs(10),
        deadline: Duration::from_secs(120),
        seed,
        // Tests run side by side on one broker: each run its own topics and group.
        run_id: format!(
            "{}-{}-{seed}-{}",
            std::process::id(),
            scenario.name(),
            protocol.name()
        ),
    };
    let run = run_real(&config, &AtomicBool::new(false))?;
    if let Some(error) = run.seen.setup_errors.first() {
        return Err(error.clone());
    }
    Ok(judge(&scenario, protocol, seed, &run))
}

/// Stop consumption with commits in flight, against a real broker: the fixed protocol
/// passes, records are processed and committed.
#[test]
#[ignore = "needs a broker: HANGSIM_BROKER=HOST:PORT (scripts/tansu.sh start)"]
fn graceful_shutdown_passes_on_a_real_broker() {
    let judgement =
        run("graceful-shutdown", ShutdownProtocol::ClosedQueue, 1).expect("the run is set up");
    assert_eq!(
        judgement.verdict,
        RealVerdict::Judged(Verdict::Pass),
        "{}",
        judgement.report
    );
}

/// Peers join and leave a real group while subscriptions end: the fixed protocol passes.
#[test]
#[ignore = "needs a broker: HANGSIM_BROKER=HOST:PORT (scripts/tansu.sh start)"]
fn rebalance_during_shutdown_passes_on_a_real_broker() {
    let judgement = run(
        "rebalance-during-shutdown",
        ShutdownProtocol::ClosedQueue,
        1,
    )
    .expect("the run is set up");
    assert_eq!(
        judgement.verdict,
        RealVerdict::Judged(Verdict::Pass),
        "{}",
        judgement.report
    );
}

/// A real broker cannot deny READ on demand: the scenario is refused, not run without it.
#[test]
#[ignore = "needs a broker: HANGSIM_BROKER=HOST:PORT (scripts/tansu.sh start)"]
fn an_authorization_scenario_is_refused_on_a_real_broker() {
    let refused = run("auth-crash", ShutdownProtocol::ClosedQueue, 0)
        .err()
        .expect("refused");
    assert!(refused.contains("cannot produce"), "{refused}");
}
