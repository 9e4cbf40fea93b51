//! `hangsim real`: runs a catalogue scenario for real (tokio, rdkafka) against librdkafka's
//! mock cluster or a broker, N times; prints each run's verdict, the report of each hang, and a
//! summary line like the search's. Exit status as the search's: 0 when every run passed, 1
//! when one did not, 2 for bad input (a scenario or fault a broker cannot do, no broker).

use std::collections::BTreeMap;
use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use clap::Args;
use real::{BrokerChoice, RealRunConfig, RealVerdict};

use crate::args::{ProtocolArg, ScenarioChoice};
use crate::output::outln;

/// The address `scripts/tansu.sh` starts Tansu on.
const TANSU: &str = "127.0.0.1:9092";

/// What `hangsim real` takes.
#[derive(Args, Clone, Debug)]
pub struct RealArgs {
    /// The scenario (resolved for each run's seed, as the search resolves it).
    #[command(flatten)]
    pub scenario: ScenarioChoice,
    /// The shutdown protocol the consumer uses.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// `mock` (librdkafka's mock cluster, in process), `tansu` (127.0.0.1:9092, see
    /// scripts/tansu.sh) or HOST:PORT of any Kafka-compatible broker.
    #[arg(long, default_value = "mock")]
    pub broker: String,
    /// How many runs; run K draws its parameters from seed `--seed` + K.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u64).range(1..=100_000))]
    pub runs: u64,
    /// A run with open obligations and no progress for this many seconds has hung.
    #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=3_600))]
    pub quiet_window_s: u64,
    /// A run still making progress after this many seconds is a timeout.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    pub deadline_s: u64,
    /// The first seed.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
}

fn broker_choice(text: &str) -> Result<BrokerChoice, String> {
    match text {
        "mock" => Ok(BrokerChoice::Mock),
        "tansu" => Ok(BrokerChoice::At(TANSU.to_string())),
        address => match address.rsplit_once(':') {
            Some((host, port)) if !host.is_empty() && port.parse::<u16>().is_ok() => {
                Ok(BrokerChoice::At(address.to_string()))
            }
            _ => Err(format!(
                "--broker {address:?}: expected mock, tansu or HOST:PORT"
            )),
        },
    }
}

/// Runs `hangsim real`.
pub fn real(args: RealArgs) -> ExitCode {
    let broker = match broker_choice(&args.broker) {
        Ok(broker) => broker,
        Err(message) => return crate::bad_input(&message),
    };
    let scenario = match args.scenario.load() {
        Ok(scenario) => scenario,
        Err(message) => return crate::bad_input(&message),
    };
    let protocol = args.protocol.0;
    let stop = real::stop::stop_on_ctrl_c();
    let started = Instant::now();
    let mut tally: BTreeMap<String, u64> = BTreeMap::new();
    let mut signatures: BTreeMap<String, (u64, u64)> = BTreeMap::new();
    let mut ran = 0;
    for index in 0..args.runs {
        if stop.load(Ordering::Relaxed) {
            break;
        }
        let seed = args.seed.wrapping_add(index);
        let resolved = scenario.resolve(seed);
        let real_scenario = match real::from_resolved(&resolved) {
            Ok(real_scenario) => real_scenario,
            Err(message) => return crate::bad_input(&message),
        };
        let config = RealRunConfig {
            scenario: real_scenario,
            protocol,
            broker: broker.clone(),
            quiet_window: Duration::from_secs(args.quiet_window_s),
            deadline: Duration::from_secs(args.deadline_s),
            seed,
            run_id: format!("{}-{seed}", std::process::id()),
        };
        let run_started = Instant::now();
        let run = match real::run_real(&config, &stop) {
            Ok(run) => run,
            Err(message) => return crate::bad_input(&message),
        };
        if let Some(error) = run.seen.setup_errors.first() {
            return crate::bad_input(error);
        }
        ran += 1;
        let judgement = real::judge(&scenario, protocol, seed, &run);
        outln!(
            "run {index} (seed {seed}): {} {} in {:.2} s, {} records processed",
            judgement.verdict,
            judgement.signature,
            run_started.elapsed().as_secs_f64(),
            run.seen.records_processed
        );
        if matches!(judgement.verdict, RealVerdict::Judged(ref verdict) if verdict.is_failure())
            || judgement.verdict == RealVerdict::Timeout
        {
            let first = !signatures.contains_key(&judgement.signature);
            if first {
                outln!("{}", judgement.report);
            }
        }
        let kind = match &judgement.verdict {
            RealVerdict::Judged(verdict) => verdict.kind().name().to_string(),
            other => other.to_string(),
        };
        *tally.entry(kind).or_default() += 1;
        if judgement.verdict.is_failure() {
            let entry = signatures
                .entry(judgement.signature.clone())
                .or_insert((seed, 0));
            entry.1 += 1;
        }
    }
    if !signatures.is_empty() {
        outln!("failure signatures (smallest seed first):");
        let mut listed: Vec<_> = signatures.iter().collect();
        listed.sort_by_key(|(_, (seed, _))| *seed);
        for (signature, (seed, runs)) in listed {
            outln!("  seed {seed}: {runs} runs: {signature}");
        }
    }
    let count = |kind: &str| tally.get(kind).copied().unwrap_or(0);
    let failing = ran - count("pass") - count("stopped");
    outln!(
        "ran {ran} real runs of {} under {} on {}: {failing} failing ({} hang, {} timeout, {} violation, {} panic) in {:.2} s{}",
        scenario.name(),
        protocol.name(),
        args.broker,
        count("hang"),
        count("timeout"),
        count("violation"),
        count("panic"),
        started.elapsed().as_secs_f64(),
        if stop.load(Ordering::Relaxed) { ", stopped by Ctrl-C" } else { "" }
    );
    if failing > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
