//! `hangsim bench`: per protocol on one scenario (`auth-crash` by default), how fast, how good
//! at finding hangs, and how flat in memory. Prints a table; BENCHMARKS.md records it with the
//! command that produced it.
//!
//! - Throughput: seeds per second with 1 and 2 worker threads, one plain run per seed (what the
//!   search does for every passing seed; the search runs a failing seed a second time, to
//!   check that it reproduces). Measured `--throughput-repeats` times per job count,
//!   alternately; the table shows the medians, and the median of the ratios of adjacent
//!   pairs, because a shared machine's load comes in bursts longer than one measurement.
//! - Bug-finding power: for each strategy, the median over disjoint windows of seeds (window w
//!   is `w*S..(w+1)*S`) of how many seeds it takes to the first `Hang`; `>S` when a window has
//!   none. The median is the lower one, so that it is always a measured window.
//! - Memory: resident memory after the first seeds and after many, hanging protocols included.
//! - Interleaving coverage: the reachable ordering classes ([`scenarios::coverage`]), that is
//!   the union of the classes any strategy reached in any window, and per strategy the median
//!   over the same windows of the seeds from the window's first until it had seen every
//!   reachable class (`>S` when a window missed one; the lower median, as above). A class that
//!   only one window reached makes the other windows `>S`: the column answers "how long until
//!   the search has seen every ordering it can reach", not only those its own window reached.
//!
//! One pass over each window serves both columns: every run is classified (the runner then
//! also watches `promise:runloop_done`, which only observes), and the first hang is read off
//! the same runs.
//!
//! Every option scales the work down, so that a test can run a tiny bench.
//!
//! `--instructions` measures something else: instructions per seed under callgrind, on fixed
//! seed ranges ([`crate::bench_instructions`]).

use std::process::ExitCode;
use std::time::Instant;

use clap::Args;
use consumer::ShutdownProtocol;
use scenarios::coverage::RunCoverage;
use scenarios::{run_one, RunRecord, RunSpec, Verdict};
use sim::StrategyChoice;

use scenarios::search::{in_seed_order, Flow, SeedPlan, SeedRange, Shard};

use crate::args::{self, ProtocolArg, ScenarioArg};
use crate::bench_instructions;
use crate::output::outln;

/// What `hangsim bench` takes.
#[derive(Args, Clone, Debug)]
pub struct BenchArgs {
    /// The scenario to measure.
    #[arg(long, value_enum, default_value = "auth-crash")]
    pub scenario: ScenarioArg,
    /// Only these protocols (repeatable; default: all seven).
    #[arg(long = "protocol", value_enum)]
    pub protocols: Vec<ProtocolArg>,
    /// Only these strategies for seeds-to-first-hang (repeatable; default: every family this
    /// build knows, one setting each).
    #[arg(long = "strategy", value_parser = args::strategy)]
    pub strategies: Vec<StrategyChoice>,
    /// Seeds per throughput measurement.
    #[arg(long, default_value_t = 20_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub throughput_seeds: u64,
    /// Throughput measurements per job count, taken alternately (1 job, 2 jobs, 1 job...); the
    /// table shows medians, so that a burst of load on a shared machine moves no figure.
    #[arg(long, default_value_t = 3, value_parser = clap::value_parser!(u64).range(1..=100))]
    pub throughput_repeats: u64,
    /// Disjoint seed windows for seeds-to-first-hang.
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    pub windows: u64,
    /// Seeds per window.
    #[arg(long, default_value_t = 10_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub window_size: u64,
    /// Threads searching each window (the result does not depend on it).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u32).range(1..=256))]
    pub jobs: u32,
    /// Seeds after which memory is first measured.
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub memory_first: u64,
    /// Seeds after which memory is measured again (at least `--memory-first`).
    #[arg(long, default_value_t = 100_000, value_parser = clap::value_parser!(u64).range(1..=100_000_000))]
    pub memory_seeds: u64,
    /// Instead of the above: instructions per seed, counted by valgrind's callgrind on
    /// `--instruction-seeds` of `auth-crash` under `closed-queue` and `master` and of `chaos`
    /// under `offer-then-check`, one job, with the start-up (measured on no seed) subtracted.
    #[arg(long)]
    pub instructions: bool,
    /// The seeds `--instructions` counts.
    #[arg(long, value_parser = args::seed_range, value_name = "A..B", default_value = "0..100")]
    pub instruction_seeds: SeedRange,
    /// The valgrind to run (`--instructions`).
    #[arg(long, value_name = "PATH", default_value = "valgrind")]
    pub valgrind: std::path::PathBuf,
    /// The child `--instructions` runs under callgrind: searches the first N seeds of
    /// `--instruction-seeds` (none, for the start-up) of `--scenario` under the one
    /// `--protocol`.
    #[arg(long, value_name = "N", hide = true)]
    pub instructions_child: Option<u64>,
}

/// One protocol's row.
struct Row {
    protocol: ShutdownProtocol,
    /// Medians of the measurements with 1 and 2 jobs, and of the ratios of adjacent pairs.
    one_job: f64,
    two_jobs: f64,
    speedup: f64,
    /// Per strategy: the median seeds to the first hang, `None` for more than a window.
    to_first_hang: Vec<Option<u64>>,
    memory_first_kib: Option<u64>,
    memory_last_kib: Option<u64>,
    /// The ordering classes some strategy reached in some window.
    reachable: RunCoverage,
    /// Per strategy: the median over windows of the seeds until every reachable class was
    /// seen, `None` for more than a window.
    to_full_coverage: Vec<Option<u64>>,
}

pub fn bench(bench_args: BenchArgs) -> ExitCode {
    if let Some(count) = bench_args.instructions_child {
        return bench_instructions::child(&bench_args, count);
    }
    if bench_args.instructions {
        return bench_instructions::run(&bench_args);
    }
    sim::quiet_simulation_panics();
    if bench_args.memory_seeds < bench_args.memory_first {
        return crate::bad_input(&format!(
            "--memory-seeds {} is less than --memory-first {}",
            bench_args.memory_seeds, bench_args.memory_first
        ));
    }
    let span = bench_args.windows.checked_mul(bench_args.window_size);
    if span.is_none() {
        return crate::bad_input("--windows times --window-size is past the last seed");
    }
    let protocols = if bench_args.protocols.is_empty() {
        ShutdownProtocol::ALL.to_vec()
    } else {
        bench_args
            .protocols
            .iter()
            .map(|protocol| protocol.0)
            .collect()
    };
    let strategies = if bench_args.strategies.is_empty() {
        args::bench_strategies()
    } else {
        bench_args.strategies.clone()
    };
    if let Some(fixed) = strategies.iter().find(|strategy| !strategy.searchable()) {
        return crate::bad_input(&format!(
            "strategy {fixed} gives every seed the same schedule, so a bench of it means nothing (use yields, yields:P, random or pct:D)"
        ));
    }
    outln!(
        "bench: {} (throughput: median of {} measurements of {} seeds per job count; seeds to the first hang: median over {} windows of {} seeds; memory after {} and {} seeds; classes: the ordering classes any strategy reached in any window, and per strategy the median over the windows of the seeds until it saw them all)",
        bench_args.scenario.0,
        bench_args.throughput_repeats,
        bench_args.throughput_seeds,
        bench_args.windows,
        bench_args.window_size,
        bench_args.memory_first,
        bench_args.memory_seeds
    );
    let mut rows = Vec::with_capacity(protocols.len());
    for protocol in protocols {
        let template = RunSpec::new(bench_args.scenario.scenario(), protocol, 0);
        let (mut one_job, mut two_jobs, mut speedup) = (Vec::new(), Vec::new(), Vec::new());
        for _ in 0..bench_args.throughput_repeats {
            let one = throughput(&template, bench_args.throughput_seeds, 1);
            let two = throughput(&template, bench_args.throughput_seeds, 2);
            one_job.push(one);
            two_jobs.push(two);
            speedup.push(two / one.max(1e-9));
        }
        // Per strategy, per window: the window's runs (first hang, classes of every seed).
        let windows: Vec<Vec<WindowRuns>> = strategies
            .iter()
            .map(|strategy| {
                let template = RunSpec {
                    strategy: strategy.clone(),
                    ..template.clone()
                };
                (0..bench_args.windows)
                    .map(|window| {
                        window_runs(
                            &template,
                            window * bench_args.window_size,
                            bench_args.window_size,
                            bench_args.jobs,
                        )
                    })
                    .collect()
            })
            .collect();
        let to_first_hang = windows
            .iter()
            .map(|runs| lower_median(runs.iter().map(|window| window.first_hang).collect()))
            .collect();
        let reachable = windows
            .iter()
            .flatten()
            .flat_map(|window| &window.coverages)
            .fold(RunCoverage::default(), |all, run| all.union(*run));
        let to_full_coverage = windows
            .iter()
            .map(|runs| {
                lower_median(
                    runs.iter()
                        .map(|window| seeds_to_cover(&window.coverages, reachable))
                        .collect(),
                )
            })
            .collect();
        let (memory_first_kib, memory_last_kib) =
            memory(&template, bench_args.memory_first, bench_args.memory_seeds);
        let row = Row {
            protocol,
            one_job: median(one_job),
            two_jobs: median(two_jobs),
            speedup: median(speedup),
            to_first_hang,
            memory_first_kib,
            memory_last_kib,
            reachable,
            to_full_coverage,
        };
        eprintln!("bench: {} done", protocol.name());
        rows.push(row);
    }
    print_table(&bench_args, &strategies, &rows);
    ExitCode::SUCCESS
}

/// Runs the seeds `start..end` of `template` on `jobs` threads, one plain run each, and hands
/// what `keep` takes of each run to `emit` in seed order, with the seed's index in the range.
/// Returns how many seeds were handed over (`emit` may stop early).
fn runs_in_order<T: Send>(
    template: &RunSpec,
    (start, end): (u64, u64),
    jobs: u32,
    keep: impl Fn(RunRecord) -> T + Sync,
    mut emit: impl FnMut(u64, T) -> Flow,
) -> u64 {
    let plan = SeedPlan::new(SeedRange { start, end }, Shard::WHOLE);
    in_seed_order(
        plan,
        0,
        plan.len,
        jobs,
        |seed| {
            let spec = RunSpec {
                seed,
                ..template.clone()
            };
            keep(run_one(&spec))
        },
        |index, _, kept| emit(index, kept),
    )
}

/// [`runs_in_order`], keeping each run's verdict.
fn verdicts_in_order(
    template: &RunSpec,
    start: u64,
    end: u64,
    jobs: u32,
    emit: impl FnMut(u64, Verdict) -> Flow,
) -> u64 {
    runs_in_order(template, (start, end), jobs, |record| record.verdict, emit)
}

fn throughput(template: &RunSpec, seeds: u64, jobs: u32) -> f64 {
    let started = Instant::now();
    let ran = verdicts_in_order(template, 0, seeds, jobs, |_, _| Flow::Continue);
    ran as f64 / started.elapsed().as_secs_f64().max(1e-9)
}

/// One strategy's runs of one window of seeds.
struct WindowRuns {
    /// How many seeds from the window's first it took to the first hang, if one hung.
    first_hang: Option<u64>,
    /// The ordering classes of every seed of the window, in seed order.
    coverages: Vec<RunCoverage>,
}

/// Runs the `size` seeds from `start` with their ordering classes classified.
fn window_runs(template: &RunSpec, start: u64, size: u64, jobs: u32) -> WindowRuns {
    let template = RunSpec {
        coverage: true,
        ..template.clone()
    };
    let mut window = WindowRuns {
        first_hang: None,
        coverages: Vec::with_capacity(size as usize),
    };
    runs_in_order(
        &template,
        (start, start + size),
        jobs,
        |record| (record.verdict == Verdict::Hang, record.coverage),
        |index, (hung, coverage)| {
            if hung && window.first_hang.is_none() {
                window.first_hang = Some(index + 1);
            }
            window.coverages.push(coverage);
            Flow::Continue
        },
    );
    window
}

/// The lower median of per-window seed counts, `None` (more than a window) counting as the
/// largest: always a measured window's count.
fn lower_median(mut per_window: Vec<Option<u64>>) -> Option<u64> {
    per_window.sort_by_key(|seeds| seeds.unwrap_or(u64::MAX));
    per_window[(per_window.len() - 1) / 2]
}

/// How many runs from the first it takes until every class of `reachable` was seen.
fn seeds_to_cover(runs: &[RunCoverage], reachable: RunCoverage) -> Option<u64> {
    let mut seen = RunCoverage::default();
    for (index, run) in runs.iter().enumerate() {
        seen = seen.union(*run);
        if seen.covers(reachable) {
            return Some(index as u64 + 1);
        }
    }
    None
}

/// Resident memory after the first `first` seeds and after `last`, one thread.
fn memory(template: &RunSpec, first: u64, last: u64) -> (Option<u64>, Option<u64>) {
    let mut at_first = None;
    verdicts_in_order(template, 0, last, 1, |index, _| {
        if index + 1 == first {
            at_first = sim::memory::resident_kib();
        }
        Flow::Continue
    });
    (at_first, sim::memory::resident_kib())
}

fn mib(kib: Option<u64>) -> String {
    match kib {
        Some(kib) => format!("{:.1} MiB", kib as f64 / 1024.0),
        None => "n/a".into(),
    }
}

/// The median of `values` (the lower middle one of an even count, so always a measured value).
fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[(values.len() - 1) / 2]
}

fn print_table(bench_args: &BenchArgs, strategies: &[StrategyChoice], rows: &[Row]) {
    let mut header = vec![
        "protocol".to_string(),
        "seeds/s j1".into(),
        "seeds/s j2".into(),
        "j2/j1".into(),
    ];
    header.extend(strategies.iter().map(|s| format!("to hang {s}")));
    header.push(format!("RSS@{}", bench_args.memory_first));
    header.push(format!("RSS@{}", bench_args.memory_seeds));
    header.push("growth".into());
    header.push("classes".into());
    header.extend(strategies.iter().map(|s| format!("all classes {s}")));
    let mut table = vec![header];
    for row in rows {
        let mut cells = vec![
            row.protocol.name().to_string(),
            format!("{:.0}", row.one_job),
            format!("{:.0}", row.two_jobs),
            format!("{:.2}", row.speedup),
        ];
        cells.extend(row.to_first_hang.iter().map(|seeds| match seeds {
            Some(seeds) => seeds.to_string(),
            None => format!(">{}", bench_args.window_size),
        }));
        cells.push(mib(row.memory_first_kib));
        cells.push(mib(row.memory_last_kib));
        cells.push(match (row.memory_first_kib, row.memory_last_kib) {
            (Some(first), Some(last)) => {
                format!("{:+.1} MiB", (last as f64 - first as f64) / 1024.0)
            }
            _ => "n/a".into(),
        });
        cells.push(row.reachable.classes().len().to_string());
        cells.extend(row.to_full_coverage.iter().map(|seeds| match seeds {
            Some(seeds) => seeds.to_string(),
            None => format!(">{}", bench_args.window_size),
        }));
        table.push(cells);
    }
    let columns = table[0].len();
    let widths: Vec<usize> = (0..columns)
        .map(|column| table.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column == 0 {
                    format!("{cell:<width$}", width = widths[column])
                } else {
                    format!("{cell:>width$}", width = widths[column])
                }
            })
            .collect();
        outln!("{}", line.join("  "));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenarios::coverage::OrderingClass;

    /// The median of per-window counts is the lower middle one, a window that never got there
    /// counting as the largest; it is `None` only when more than half the windows are.
    #[test]
    fn lower_median_of_windows() {
        assert_eq!(lower_median(vec![Some(5), None, Some(1)]), Some(5));
        assert_eq!(lower_median(vec![Some(9), Some(3), None, None]), Some(9));
        assert_eq!(lower_median(vec![None, Some(3), None]), None);
        assert_eq!(lower_median(vec![Some(7)]), Some(7));
    }

    /// Seeds to cover count from the window's first run to the run that completes the set, and
    /// a window that never completes it is `None`.
    #[test]
    fn seeds_to_cover_counts_to_the_run_that_completes_the_set() {
        let one = RunCoverage::of_classes(&[OrderingClass::InLastChunk]);
        let other = RunCoverage::of_classes(&[OrderingClass::AfterLastDrain]);
        let both = one.union(other);
        let runs = [RunCoverage::default(), one, one, other, both];
        assert_eq!(seeds_to_cover(&runs, both), Some(4));
        assert_eq!(seeds_to_cover(&runs, one), Some(2));
        assert_eq!(seeds_to_cover(&runs[..3], both), None);
        assert_eq!(seeds_to_cover(&[], RunCoverage::default()), None);
    }
}
