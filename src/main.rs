//! `hangsim`: the command line.
//!
//! Today it has one command, `demo`, which runs the heart of zio-kafka's hang in miniature on the
//! simulated runtime and explains it. The scenario catalogue, `run`, `search`, `replay` and
//! `bench` arrive with the scenarios issue.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod demo;

/// Deterministic simulation testbed for Kafka consumer shutdown races.
#[derive(Parser)]
#[command(name = "hangsim", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Runs the request/response hang in miniature: a runloop serving a command queue crashes
    /// while a subscription finalizer, uninterruptible, waits for its reply. Prints the verdict
    /// and the hang report; exits 0 when no run hung, 1 when one did.
    Demo {
        /// The first seed to run.
        #[arg(long, default_value_t = 0)]
        seed: u64,
        /// How many seeds to run, from `--seed` on.
        #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
        seeds: u64,
        /// Print every event of the first hanging run, stamped with virtual time.
        #[arg(long)]
        trace: bool,
    },
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            use clap::error::ErrorKind;
            let informational = matches!(
                error.kind(),
                ErrorKind::DisplayHelp | ErrorKind::DisplayVersion
            );
            let _ = error.print();
            return if informational {
                ExitCode::SUCCESS
            } else {
                ExitCode::from(2)
            };
        }
    };
    match cli.command {
        Command::Demo { seed, seeds, trace } => demo::run_demo(seed, seeds, trace),
    }
}
