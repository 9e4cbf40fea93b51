//! `hangsim list`, `run` and `replay`: one run or one fixture at a time, recorded, with its
//! report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use consumer::ShutdownProtocol;
use scenarios::fixture::{read_fixture, replay_fixture, write_fixture, Fixture, Provenance};
use scenarios::{run_one, RunRecord, RunSpec, ScenarioName};
use sim::StrategyChoice;

use crate::args;

/// Prints the scenarios, protocols and strategies, one per line with a one-line description.
pub fn list() -> ExitCode {
    println!("scenarios:");
    for scenario in ScenarioName::ALL {
        println!("  {:<26} {}", scenario.name(), scenario.description());
    }
    println!("protocols:");
    for protocol in ShutdownProtocol::ALL {
        println!("  {:<26} {}", protocol.name(), protocol.description());
    }
    println!("strategies:");
    for (name, description) in args::known_strategies() {
        println!("  {name:<26} {description}");
    }
    ExitCode::SUCCESS
}

/// What `hangsim run` takes.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[arg(long, value_parser = args::scenario)]
    pub scenario: ScenarioName,
    #[arg(long, value_parser = args::protocol)]
    pub protocol: ShutdownProtocol,
    #[arg(long)]
    pub seed: u64,
    /// The scheduling strategy (`hangsim list` names them).
    #[arg(long, value_parser = args::strategy, default_value = "yields")]
    pub strategy: StrategyChoice,
    /// Print every event of the run, stamped with virtual time.
    #[arg(long)]
    pub trace: bool,
    /// Keep the run as a fixture in this file (written atomically), whatever its verdict.
    #[arg(long, value_name = "FILE")]
    pub write_fixture: Option<PathBuf>,
    /// The date the fixture records as its provenance (default: today, UTC).
    #[arg(long)]
    pub date: Option<String>,
}

/// One run, recorded: the verdict, the report, and with `--trace` every event.
pub fn run(run_args: RunArgs) -> ExitCode {
    sim::quiet_simulation_panics();
    let mut spec = RunSpec::new(run_args.scenario, run_args.protocol, run_args.seed);
    spec.strategy = run_args.strategy;
    spec.record_events = true;
    let record = run_one(&spec);
    println!("verdict: {}", record.verdict);
    println!("signature: {}", record.signature);
    println!("trace hash: {:#018x}", record.trace_hash);
    print!("{}", with_newline(&record.report));
    if run_args.trace {
        print_events(&record);
    }
    if let Some(path) = &run_args.write_fixture {
        let provenance = Provenance {
            found_by: "run".into(),
            seeds: run_args.seed.to_string(),
            date: run_args.date.unwrap_or_else(args::today_utc),
        };
        let fixture = Fixture::from_record(&record, provenance);
        if let Err(error) = write_fixture(path, &fixture) {
            return crate::bad_input(&format!("cannot write fixture {}: {error}", path.display()));
        }
        println!("wrote fixture {}", path.display());
    }
    if record.verdict.is_failure() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_events(record: &RunRecord) {
    let events = record.events.as_deref().unwrap_or(&[]);
    println!("events ({}):", events.len());
    for event in events {
        println!("{event}");
    }
}

fn with_newline(text: &str) -> String {
    if text.ends_with('\n') || text.is_empty() {
        text.to_string()
    } else {
        format!("{text}\n")
    }
}

/// Replays fixtures. Every file is read first, so that a malformed one is reported (exit 2)
/// before anything runs.
pub fn replay(files: &[PathBuf]) -> ExitCode {
    sim::quiet_simulation_panics();
    let mut fixtures: Vec<(&Path, Fixture)> = Vec::with_capacity(files.len());
    for path in files {
        match read_fixture(path) {
            Ok(fixture) => fixtures.push((path, fixture)),
            Err(error) => return crate::bad_input(&error),
        }
    }
    let mut matched = 0usize;
    for (path, fixture) in &fixtures {
        let outcome = replay_fixture(fixture);
        let record = &outcome.record;
        println!(
            "{}: {}: verdict {} (expected {}), trace hash {:#018x} (expected {:#018x}){}",
            path.display(),
            if outcome.matched() {
                "matched"
            } else {
                "MISMATCH"
            },
            record.verdict,
            fixture.expected,
            record.trace_hash,
            fixture.trace_hash,
            if record.replay_diverged {
                "; the replay left its decision log"
            } else {
                ""
            },
        );
        print!("{}", with_newline(&record.report));
        matched += usize::from(outcome.matched());
    }
    println!(
        "replayed {} fixtures: {matched} matched, {} did not",
        fixtures.len(),
        fixtures.len() - matched
    );
    if matched == fixtures.len() {
        ExitCode::SUCCESS
    } else {
        ExitCode::from(1)
    }
}
