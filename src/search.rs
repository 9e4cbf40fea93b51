//! `hangsim search`: parses its arguments into the library's search ([`scenarios::search`]),
//! and prints what it finds: the report of the first run of each failure signature, the
//! signatures, and the summary line; a progress bar on stderr when it is a terminal.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Args;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use scenarios::search::{self, SearchObserver, SearchOptions, SearchPlan, SeedRange, Shard};
use scenarios::RunRecord;
use sim::StrategyChoice;

use crate::args::{self, CheckArg, ProtocolArg, ScenarioChoice};
use crate::output::{out, outln};

/// What `hangsim search` takes.
#[derive(Args, Clone, Debug)]
pub struct SearchArgs {
    #[command(flatten)]
    pub scenario: ScenarioChoice,
    /// The shutdown protocol the consumer uses.
    #[arg(long, value_enum)]
    pub protocol: ProtocolArg,
    /// The seeds, half-open: `0..1000` runs seeds 0 to 999.
    #[arg(long, value_parser = args::seed_range, value_name = "A..B")]
    pub seeds: SeedRange,
    /// Worker threads, each running whole runs; the output does not depend on it.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Only the seeds with `seed % N == K`, so that N machines can split one range.
    #[arg(long, value_parser = args::shard, value_name = "K/N")]
    pub shard: Option<Shard>,
    /// The scheduling strategy: yields, yields:P, random or pct:D (`hangsim list` says what
    /// each is).
    #[arg(long, value_parser = args::strategy, default_value = "yields")]
    pub strategy: StrategyChoice,
    /// Write one JSON line per failing seed to FILE, and keep the search's progress in
    /// FILE.progress next to it (for `--out found.ndjson`: `found.ndjson.progress`), for
    /// `--resume`.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write one fixture per distinct failure signature here, keeping the smallest seed.
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// Also keep a fixture of the smallest passing seed (needs `--fixtures`).
    #[arg(long, requires = "fixtures")]
    pub keep_passing: bool,
    /// Continue the search recorded in `--out` and its progress file.
    #[arg(long, requires = "out")]
    pub resume: bool,
    /// Stop after this many seeds in this invocation (a time-boxed job can `--resume` later).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u64).range(1..))]
    pub max_seeds: Option<u64>,
    /// Stop taking new seeds once this much wall time has passed (`45m`, `1h 30m`, `90s`);
    /// the progress file is brought up to date, and `--resume` continues the search.
    #[arg(long, value_name = "DURATION", value_parser = args::duration)]
    pub time_budget: Option<Duration>,
    /// Every run's virtual deadline, in seconds (default: derived from each run's settings:
    /// its last action, its handling time and a quiet window). A run that still progresses
    /// after its deadline is a timeout, not a hang; a longer deadline lets it finish.
    #[arg(long, value_parser = args::deadline, value_name = "SECONDS")]
    pub deadline: Option<Duration>,
    /// Which runs are run twice to check that they reproduce.
    #[arg(long, value_enum, default_value = "failing")]
    pub check_determinism: CheckArg,
    /// The date fixtures record as their provenance (default: today, UTC).
    #[arg(long)]
    pub date: Option<String>,
    /// Tally the interleaving coverage: for every command that raced the runloop's end, the
    /// ordering class of its steps (`hangsim list` names them); print, per class, the runs
    /// that reached it and the first seed, and the classes never reached; `--out` lines get
    /// their run's classes. Counts the seeds of this invocation only (`hangsim merge` does
    /// not combine coverage).
    #[arg(long)]
    pub coverage: bool,
}

/// Prints what the search finds as it goes, with a progress bar on a terminal.
struct Printer {
    bar: Option<ProgressBar>,
}

impl Printer {
    fn new(show_bar: bool) -> Printer {
        let bar = show_bar.then(|| {
            let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("[{bar:30}] {pos}/{len} seeds, {msg} ({per_sec})")
                    .expect("a valid template")
                    .progress_chars("#> "),
            );
            bar
        });
        Printer { bar }
    }

    /// Prints above the bar, which is redrawn after.
    fn print(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| out!("{text}")),
            None => out!("{text}"),
        }
    }

    fn finish(&self) {
        if let Some(bar) = &self.bar {
            bar.finish_and_clear();
        }
    }
}

impl SearchObserver for Printer {
    fn first_of_signature(&mut self, record: &RunRecord) {
        self.print(&format!(
            "seed {}: {} ({})\n{}\n",
            record.spec.seed,
            record.verdict.to_string().to_uppercase(),
            record.signature,
            record.report
        ));
    }

    fn progress(&mut self, done: u64, total: u64, failing: u64) {
        if let Some(bar) = &self.bar {
            bar.set_length(total);
            bar.set_position(done);
            bar.set_message(format!("{failing} failing"));
        }
    }

    fn note(&mut self, message: &str) {
        let line = format!("note: {message}");
        match &self.bar {
            Some(bar) => bar.suspend(|| eprintln!("{line}")),
            None => eprintln!("{line}"),
        }
    }
}

/// The search. See [`scenarios::search`].
pub fn search(search_args: SearchArgs) -> ExitCode {
    sim::quiet_simulation_panics();
    let scenario = match search_args.scenario.load() {
        Ok(scenario) => scenario,
        Err(message) => return crate::bad_input(&message),
    };
    let plan = SearchPlan {
        scenario,
        protocol: search_args.protocol.0,
        strategy: search_args.strategy,
        seeds: search_args.seeds,
        shard: search_args.shard.unwrap_or(Shard::WHOLE),
        deadline: search_args.deadline,
    };
    let options = SearchOptions {
        jobs: search_args.jobs,
        check: search_args.check_determinism.0,
        out: search_args.out,
        fixtures: search_args.fixtures,
        keep_passing: search_args.keep_passing,
        resume: search_args.resume,
        max_seeds: search_args.max_seeds,
        time_budget: search_args.time_budget,
        date: search_args.date.unwrap_or_else(args::today_utc),
        coverage: search_args.coverage,
    };
    let mut printer = Printer::new(std::io::stderr().is_terminal());
    let result = search::search(&plan, &options, &mut printer);
    printer.finish();
    let summary = match result {
        Ok(summary) => summary,
        Err(message) => return crate::bad_input(&message),
    };
    outln!("{summary}");
    if let Some(coverage) = &summary.coverage {
        outln!("{coverage}");
    }
    if summary.failed() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
