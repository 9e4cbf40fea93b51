//! `hangsim list`, `run` and `replay`: one run or one fixture at a time, recorded, with its
//! report.

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;

use consumer::ShutdownProtocol;
use scenarios::catalogue::Scenario;
use scenarios::fixture::{read_fixture, replay_fixture, write_fixture, Fixture, Provenance};
use scenarios::report::ObservationsReport;
use scenarios::{run_one, Invariant, RunRecord, RunSpec};
use sim::StrategyChoice;

use crate::args::{self, ProtocolArg, ScenarioChoice};
use crate::output::{out, outln};

/// Prints the scenarios, protocols, strategies and invariants, one per line with a one-line
/// description.
pub fn list() -> ExitCode {
    outln!("scenarios:");
    for scenario in Scenario::catalogue() {
        outln!("  {:<32} {}", scenario.name(), scenario.description());
    }
    outln!("protocols:");
    for protocol in ShutdownProtocol::ALL {
        outln!("  {:<32} {}", protocol.name(), protocol.description());
    }
    outln!("strategies:");
    for (name, description) in args::known_strategies() {
        outln!("  {name:<32} {description}");
    }
    outln!("invariants:");
    for invariant in Invariant::ALL {
        outln!("  {:<32} {}", invariant.name(), invariant.description());
    }
    outln!("ordering classes (search --coverage):");
    for class in scenarios::coverage::OrderingClass::ALL {
        outln!("  {:<32} {}", class.name(), class.description());
    }
    ExitCode::SUCCESS
}

/// What `hangsim describe` takes.
#[derive(Args, Clone, Debug)]
pub struct DescribeArgs {
    /// A scenario of the catalogue by name, or a scenario file's path; without it, the format
    /// alone.
    #[arg(value_name = "SCENARIO|FILE")]
    pub scenario: Option<String>,
    /// Overrides applied before describing (as `run --set`).
    #[arg(long = "set", value_name = "PATH=VALUE")]
    pub sets: Vec<String>,
}

/// The format's keys, event kinds and triggers, and the values a scenario sets.
pub fn describe(describe_args: DescribeArgs) -> ExitCode {
    let scenario = match &describe_args.scenario {
        None => None,
        Some(name)
            if scenarios::catalogue::CATALOGUE
                .iter()
                .any(|(known, _)| known == name) =>
        {
            match Scenario::builtin_with(name, &describe_args.sets) {
                Ok(scenario) => Some(scenario),
                Err(error) => return crate::bad_input(&error.to_string()),
            }
        }
        Some(path) => match Scenario::from_path(Path::new(path), &describe_args.sets) {
            Ok(scenario) => Some(scenario),
            Err(error) => return crate::bad_input(&error.to_string()),
        },
    };
    if let Some(scenario) = &scenario {
        for warning in &scenario.warnings {
            eprintln!("warning: {}: {warning}", scenario.name());
        }
    }
    out!(
        "{}",
        scenarios::scenario::describe::describe(scenario.as_ref().map(|s| &*s.file))
    );
    ExitCode::SUCCESS
}

/// What `hangsim run` takes.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    #[command(flatten)]
    pub scenario: ScenarioChoice,
    /// The shutdown protocol the consumer uses.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// The seed: it fixes the scenario's parameters, the faults and the schedule.
    #[arg(long)]
    pub seed: u64,
    /// The scheduling strategy: yields, yields:P, random, pct:D, log or schedule (`hangsim list`
    /// says what each is; log and schedule take their decisions from fixtures, so here every
    /// decision is the default).
    #[arg(long, value_parser = args::strategy, default_value = "yields")]
    pub strategy: StrategyChoice,
    /// Print every event of the run, stamped with virtual time.
    #[arg(long)]
    pub trace: bool,
    /// Do not print the scenario as resolved for the seed.
    #[arg(long)]
    pub no_scenario: bool,
    /// Print what the run observed: records processed per partition, commits and committed
    /// offsets, how each `consume_with` ended.
    #[arg(long)]
    pub observations: bool,
    /// The run's virtual deadline, in seconds (default: derived from the run's settings). A
    /// run that still progresses after its deadline is a timeout, not a hang; a fixture written with
    /// `--write-fixture` records it.
    #[arg(long, value_parser = args::deadline, value_name = "SECONDS")]
    pub deadline: Option<std::time::Duration>,
    /// Keep the run as a fixture in this file (written atomically), whatever its verdict. Its
    /// directory must exist.
    #[arg(long, value_name = "FILE")]
    pub write_fixture: Option<PathBuf>,
    /// The date the fixture records as its provenance (default: today, UTC).
    #[arg(long)]
    pub date: Option<String>,
}

/// Whether a fixture can be written at `path`, checked before the run so that a bad path is
/// refused (exit 2) before it could hide the run's verdict: its directory must exist and be a
/// directory, and the path must not be one.
fn check_fixture_destination(path: &Path) -> Result<(), String> {
    let directory = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if path.is_dir() {
        return Err(format!(
            "cannot write fixture {}: it is a directory",
            path.display()
        ));
    }
    match std::fs::metadata(directory) {
        Ok(metadata) if metadata.is_dir() => Ok(()),
        Ok(_) => Err(format!(
            "cannot write fixture {}: {} is not a directory",
            path.display(),
            directory.display()
        )),
        Err(error) => Err(format!(
            "cannot write fixture {}: {}: {error}",
            path.display(),
            directory.display()
        )),
    }
}

/// One run, recorded: the verdict, the report, and with `--trace` every event.
pub fn run(run_args: RunArgs) -> ExitCode {
    if let Some(path) = &run_args.write_fixture {
        if let Err(message) = check_fixture_destination(path) {
            return crate::bad_input(&message);
        }
    }
    let scenario = match run_args.scenario.load() {
        Ok(scenario) => scenario,
        Err(message) => return crate::bad_input(&message),
    };
    sim::quiet_simulation_panics();
    let mut spec = RunSpec::new(scenario, run_args.protocol.0, run_args.seed);
    spec.strategy = run_args.strategy;
    spec.record_events = true;
    spec.deadline = run_args.deadline;
    let record = run_one(&spec);
    if !run_args.no_scenario {
        outln!(
            "scenario {} as resolved for seed {} (--no-scenario to leave it out):",
            record.resolved.name,
            run_args.seed
        );
        let text = toml::to_string(&*record.resolved).expect("a scenario serializes");
        for line in text.lines() {
            if line.is_empty() {
                outln!();
            } else {
                outln!("  {line}");
            }
        }
    }
    outln!("verdict: {}", record.verdict);
    outln!("signature: {}", record.signature);
    outln!("trace hash: {:#018x}", record.trace_hash);
    out!("{}", record.report);
    if run_args.observations {
        let several = record.observations.len() > 1;
        for (consumer, seen) in record.resolved.consumers.iter().zip(&record.observations) {
            if !consumer.is_enabled() {
                out!(
                    "{}: took no part in this run (its `enabled` coin)\n",
                    consumer.name
                );
            } else {
                out!(
                    "{}",
                    ObservationsReport {
                        seen,
                        named: several
                    }
                );
            }
        }
        let settlement = scenarios::invariants::settlement(&record.resolved, &record.observations);
        if settlement != scenarios::invariants::Settlement::NotAsked {
            outln!("settled-at-least-once: {settlement}");
        }
    }
    if run_args.trace {
        print_events(&record);
    }
    if let Some(path) = &run_args.write_fixture {
        let provenance = Provenance {
            found_by: "run".into(),
            seeds: run_args.seed.to_string(),
            date: run_args.date.unwrap_or_else(args::today_utc),
            source: None,
            shrunk_from: None,
            original_strategy: None,
        };
        let fixture = Fixture::from_record(&record, provenance);
        if let Err(error) = write_fixture(path, &fixture) {
            // The verdict and report are printed above; the error line says the fixture is
            // missing.
            return crate::bad_input(&format!("cannot write fixture {}: {error}", path.display()));
        }
        outln!("wrote fixture {}", path.display());
    }
    if record.verdict.is_failure() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

fn print_events(record: &RunRecord) {
    let events = record.events.as_deref().unwrap_or(&[]);
    outln!("events ({}):", events.len());
    for event in events {
        outln!("{event}");
    }
}

/// What `hangsim replay` takes.
#[derive(Args, Clone, Debug)]
pub struct ReplayArgs {
    /// The fixture files to replay (for example tests/fixtures/*.toml). Each must be a regular
    /// file of at most 1 MiB.
    #[arg(required = true, value_name = "FIXTURE")]
    pub files: Vec<PathBuf>,
}

/// Replays fixtures, strictly. Every file is read first, so that a malformed one is reported
/// (exit 2) before anything runs.
pub fn replay(replay_args: ReplayArgs) -> ExitCode {
    sim::quiet_simulation_panics();
    let mut fixtures: Vec<(&Path, Fixture)> = Vec::with_capacity(replay_args.files.len());
    for path in &replay_args.files {
        match read_fixture(path) {
            Ok(fixture) => fixtures.push((path, fixture)),
            Err(error) => return crate::bad_input(&error),
        }
    }
    let mut matched = 0usize;
    for (path, fixture) in &fixtures {
        let outcome = replay_fixture(fixture);
        let record = &outcome.record;
        outln!(
            "{}: {}: verdict {} (expected {}), trace hash {:#018x} (expected {:#018x})",
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
        );
        for mismatch in &outcome.mismatches {
            outln!("  differs: {mismatch}");
        }
        out!("{}", record.report);
        matched += usize::from(outcome.matched());
    }
    outln!(
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
