//! `hangsim`: the command line. It parses arguments and prints; what the commands do is
//! library code (`scenarios`: runs, reports, fixtures, the search).
//!
//! Map:
//! - this file: the commands (one clap `Args` struct each), and how errors become one `error:`
//!   line with exit status 2;
//! - [`args`]: clap's view of scenario, protocol and strategy names, seed ranges and shards;
//! - [`commands`]: `list`, `describe`, `run` and `replay`;
//! - [`search`]: `search`, printing what the library's search finds, with a progress bar;
//! - [`merge`](mod@merge): `merge`, joining the shards of one search;
//! - [`shrink`](mod@shrink): `shrink`, a failing fixture made smaller;
//! - [`bench`](mod@bench): throughput, bug-finding power and memory, as a table, and
//!   [`bench_instructions`]: instructions per seed under callgrind;
//! - [`explain`](mod@explain): `explain`, a fixture's run as an HTML page;
//! - [`demo`]: the request/response hang in miniature;
//! - [`real`](mod@real): `real`, a scenario run for real (crate `real`);
//! - [`output`]: stdout that ends quietly when its reader has gone.
//!
//! Exit statuses are a contract (tests/cli.rs): 0 when every run passed (or every fixture
//! matched), 1 when one did not, 2 on bad input, 141 when stdout was closed under the command.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

// Every run allocates thousands of small, short-lived objects (fibers, promises, futures); glibc's
// allocator spent a quarter of the search's time on them.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

mod args;
mod bench;
mod bench_instructions;
mod commands;
mod demo;
mod explain;
mod merge;
mod output;
mod real;
mod search;
mod shrink;

/// Deterministic simulation testbed for Kafka consumer shutdown races.
#[derive(Parser)]
#[command(name = "hangsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Lists the scenarios, protocols and scheduling strategies, one per line with what it is.
    List,
    /// Describes the scenario file format: every key with its meaning, default and bounds, the
    /// event kinds and triggers; given a scenario (a catalogue name or a file), also the values
    /// it sets.
    Describe(commands::DescribeArgs),
    /// Runs one seed, with every event recorded; prints the verdict and the report. Exits 0 on
    /// pass, 1 on any other verdict.
    Run(commands::RunArgs),
    /// Searches a range of seeds; prints the report of the first run of each failure shape, and
    /// last a summary line. Exits 0 when no run failed, 1 when one did.
    Search(search::SearchArgs),
    /// Joins the results of the shards of one search (`search --shard K/N --out ...`) into what
    /// one search of every seed would have written; lists the new failure signatures. Exits 0
    /// when nothing is new, 1 when something is (without `--against`: when a run failed).
    Merge(merge::MergeArgs),
    /// Replays fixtures from their decision logs, strictly; prints each verdict, whether it
    /// matched and what differed, and the report. Exits 0 when every fixture matches, 1
    /// otherwise.
    Replay(commands::ReplayArgs),
    /// Replays a fixture with every event recorded and writes it as one self-contained HTML
    /// page: a lane per fiber on a zoomable virtual-time axis, the command queue's history, Kafka
    /// events, the crash, the stuck waits in red with their wait-for chain, the report's why.
    /// Writes next to the fixture (x.toml gives x.html) unless -o says where (`-o -`: stdout).
    Explain(explain::ExplainArgs),
    /// Shrinks a failing fixture: the smallest scenario and schedule found that fail with the
    /// same signature, written as a fixture that names the original. Prints what was removed
    /// and the sizes before and after. Exits 0 when it wrote one; 2 for a fixture that passes
    /// or does not replay as recorded.
    Shrink(shrink::ShrinkArgs),
    /// Measures throughput, seeds to the first hang per strategy, and memory, per protocol on
    /// `auth-crash`; prints a table.
    Bench(bench::BenchArgs),
    /// Runs the request/response hang in miniature: a runloop serving a command queue crashes
    /// while a subscription finalizer, uninterruptible, waits for its reply. Prints the verdict
    /// and the hang report; exits 0 when no run hung, 1 when one did.
    Demo(demo::DemoArgs),
    /// Runs a scenario for real (tokio and rdkafka) against librdkafka's mock cluster or a
    /// broker, N times; prints each verdict, each hang's report and a summary line. Exits 0
    /// when every run passed, 1 when one did not.
    Real(real::RealArgs),
}

/// Bad input: prints the one `error:` line and returns exit status 2.
pub fn bad_input(message: &str) -> ExitCode {
    eprintln!("error: {message}");
    ExitCode::from(2)
}

/// A clap error as one line: clap writes the message, then a blank line and usage; missing
/// arguments and possible values come on their own indented lines, which we join.
fn clap_error_line(error: &clap::Error) -> String {
    let rendered = error.render().to_string();
    let mut parts = Vec::new();
    for line in rendered.lines() {
        if line.trim().is_empty() {
            break;
        }
        parts.push(line.trim());
    }
    let line = parts.join(" ");
    if line.starts_with("error:") {
        line
    } else {
        format!("error: {line}")
    }
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            return match error.kind() {
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion => {
                    output::say(&error.render().to_string());
                    ExitCode::SUCCESS
                }
                // `hangsim` alone: clap's usage on stderr, exit 2.
                ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand => {
                    let _ = error.print();
                    ExitCode::from(2)
                }
                _ => {
                    eprintln!("{}", clap_error_line(&error));
                    ExitCode::from(2)
                }
            };
        }
    };
    match cli.command {
        Command::List => commands::list(),
        Command::Describe(describe_args) => commands::describe(describe_args),
        Command::Run(run_args) => commands::run(run_args),
        Command::Search(search_args) => search::search(search_args),
        Command::Merge(merge_args) => merge::merge(merge_args),
        Command::Replay(replay_args) => commands::replay(replay_args),
        Command::Explain(explain_args) => explain::explain(explain_args),
        Command::Shrink(shrink_args) => shrink::shrink(shrink_args),
        Command::Bench(bench_args) => bench::bench(bench_args),
        Command::Demo(demo_args) => demo::run_demo(demo_args),
        Command::Real(real_args) => real::real(real_args),
    }
}
