//! The simulator with librdkafka's READ denial mode (`sim::kafka::ReadAccess::
//! DeniedThrownOncePerPartitionThenSilent`) predicts real runs seed for seed: for each seed,
//! the simulator's failure signature of `auth-crash` with that mode equals the real run's.
//! Ignored by default (about ten seconds of wall clock per real run):
//!
//! ```text
//! cargo test -p real --test crosscheck -- --ignored --nocapture
//! ```
//!
//! This is the evidence behind BENCHMARKS.md's "Real mode cross-check": the simulator's
//! catalogue draws every-poll denials, librdkafka reports a denial once per partition, and
//! that difference alone explains where the two tables differ on the auth scenarios.

use std::sync::atomic::AtomicBool;
use std::time::Duration;

use consumer::ShutdownProtocol;
use real::{from_resolved, judge, run_real, BrokerChoice, RealRunConfig};
use scenarios::catalogue::Scenario;
use scenarios::{run_one, RunSpec};

/// Seeds per protocol.
const SEEDS: u64 = 10;

/// `auth-crash` with librdkafka's denial mode.
fn auth_crash_as_librdkafka_denies() -> Scenario {
    Scenario::builtin_with(
        "auth-crash",
        &["event[0].mode=throw-once-per-partition".into()],
    )
    .expect("the override applies")
}

fn simulated(protocol: ShutdownProtocol, seed: u64) -> String {
    run_one(&RunSpec::new(
        auth_crash_as_librdkafka_denies(),
        protocol,
        seed,
    ))
    .signature
}

fn real_run(protocol: ShutdownProtocol, seed: u64) -> String {
    let scenario = auth_crash_as_librdkafka_denies();
    let config = RealRunConfig {
        scenario: from_resolved(&scenario.resolve(seed)).expect("maps"),
        protocol,
        broker: BrokerChoice::Mock,
        quiet_window: Duration::from_secs(5),
        deadline: Duration::from_secs(120),
        seed,
        run_id: format!("crosscheck-{seed}"),
    };
    let run = run_real(&config, &AtomicBool::new(false)).expect("the mock cluster starts");
    judge(&scenario, protocol, seed, &run).signature
}

/// `master`, `race-only` and `check-then-race` (the protocols whose auth-crash results differ
/// between the catalogue and real runs): the same signature, seed by seed.
#[test]
#[ignore = "slow: real runs on the wall clock"]
fn the_simulator_with_librdkafkas_denial_mode_predicts_real_runs() {
    let mut disagreements = Vec::new();
    for protocol in [
        ShutdownProtocol::Master,
        ShutdownProtocol::RaceOnly,
        ShutdownProtocol::CheckThenRace,
    ] {
        for seed in 0..SEEDS {
            let (sim, real) = (simulated(protocol, seed), real_run(protocol, seed));
            println!(
                "{} seed {seed}: simulator {sim}, real {real}",
                protocol.name()
            );
            if sim != real {
                disagreements.push(format!("{} seed {seed}: {sim} vs {real}", protocol.name()));
            }
        }
    }
    assert!(disagreements.is_empty(), "{disagreements:#?}");
}
