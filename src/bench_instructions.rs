//! `hangsim bench --instructions`: what a seed costs, in instructions counted by valgrind's
//! callgrind, on fixed seed ranges. Instructions, unlike wall time, do not depend on what else
//! the machine is doing, so two commits can be compared on a shared machine.
//!
//! For each case ([`CASES`]: `auth-crash` under `closed-queue` and under `master`, `chaos`
//! under `offer-then-check`) the command runs itself under callgrind as a child that searches
//! the seed range on one job (`bench --instructions-child N`, hidden: the library's search, as
//! `hangsim search --jobs 1` does it, with nothing written), and once more with no seed at all,
//! for the start-up (process start, argument parsing, the search's set-up), which it subtracts:
//! per seed = (count of the range - count of start-up) / seeds. A failing seed costs two runs
//! (the search runs it again to check that it reproduces); the table says how many failed.

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use consumer::ShutdownProtocol;
use scenarios::search::{self, Quiet, SearchOptions, SearchPlan, SeedRange, Shard};
use sim::StrategyChoice;

use crate::bench::BenchArgs;
use crate::output::outln;

/// The cases measured: the canonical scenario under ours (every seed passes) and under
/// zio-kafka's `master` (every seed hangs), and the stormiest scenario under #1712 as merged.
pub const CASES: [(&str, ShutdownProtocol); 3] = [
    ("auth-crash", ShutdownProtocol::ClosedQueue),
    ("auth-crash", ShutdownProtocol::Master),
    ("chaos", ShutdownProtocol::OfferThenCheck),
];

/// What the child prints last, and the parent reads: `counted N seeds: F failing`.
const CHILD_LINE: &str = "counted";

/// The child: searches the first `count` seeds of the range (none for the start-up) on one
/// job, and prints how many there were and how many failed.
pub fn child(bench_args: &BenchArgs, count: u64) -> ExitCode {
    sim::quiet_simulation_panics();
    let protocol = match bench_args.protocols.as_slice() {
        [protocol] => protocol.0,
        _ => return crate::bad_input("--instructions-child takes exactly one --protocol"),
    };
    let start = bench_args.instruction_seeds.start;
    let failing = if count == 0 {
        0
    } else {
        let Some(end) = start.checked_add(count) else {
            return crate::bad_input("--instructions-child: past the last seed");
        };
        let plan = SearchPlan {
            deadline: None,
            scenario: bench_args.scenario.scenario(),
            protocol,
            strategy: StrategyChoice::default(),
            seeds: SeedRange { start, end },
            shard: Shard::WHOLE,
        };
        match search::search(&plan, &SearchOptions::new("bench"), &mut Quiet) {
            Ok(summary) => summary.tally.failing(),
            Err(message) => return crate::bad_input(&message),
        }
    };
    outln!("{CHILD_LINE} {count} seeds: {failing} failing");
    ExitCode::SUCCESS
}

/// One child run under callgrind: its instruction count and the child's last line.
fn count_instructions(
    valgrind: &Path,
    scratch: &Path,
    scenario: &str,
    protocol: ShutdownProtocol,
    seeds: SeedRange,
    count: u64,
) -> Result<(u64, u64), String> {
    let me = std::env::current_exe()
        .map_err(|error| format!("cannot find the hangsim executable: {error}"))?;
    let out_file = scratch.join(format!(
        "callgrind.{}.{}.{count}.out",
        scenario,
        protocol.name()
    ));
    let output = Command::new(valgrind)
        .arg("--tool=callgrind")
        .arg(format!("--callgrind-out-file={}", out_file.display()))
        .arg(&me)
        .args(["bench", "--instructions-child", &count.to_string()])
        .args(["--scenario", scenario, "--protocol", protocol.name()])
        .args(["--instruction-seeds", &seeds.to_string()])
        .output()
        .map_err(|error| {
            format!(
                "cannot run {} ({error}): install valgrind (Debian: apt-get install valgrind) or \
                 name it with --valgrind PATH",
                valgrind.display()
            )
        })?;
    if !output.status.success() {
        let stderr = String::from_utf8_lossy(&output.stderr);
        let last = stderr.lines().rev().find(|line| !line.trim().is_empty());
        return Err(format!(
            "{} under callgrind failed ({}): {}",
            me.display(),
            output.status,
            last.unwrap_or("no message")
        ));
    }
    let stdout = String::from_utf8_lossy(&output.stdout);
    let failing = stdout
        .lines()
        .rev()
        .find_map(|line| {
            let rest = line.strip_prefix(CHILD_LINE)?;
            let (_, failing) = rest.split_once(": ")?;
            failing.strip_suffix(" failing")?.parse::<u64>().ok()
        })
        .ok_or_else(|| format!("the counted child printed no `{CHILD_LINE}` line: {stdout}"))?;
    let text = std::fs::read_to_string(&out_file)
        .map_err(|error| format!("cannot read {}: {error}", out_file.display()))?;
    Ok((callgrind_total(&text)?, failing))
}

/// The total instruction count of a callgrind output file: its `summary:` line (`totals:` in
/// some versions).
pub fn callgrind_total(text: &str) -> Result<u64, String> {
    text.lines()
        .find_map(|line| {
            let count = line
                .strip_prefix("summary:")
                .or_else(|| line.strip_prefix("totals:"))?;
            count.split_whitespace().next()?.parse::<u64>().ok()
        })
        .ok_or_else(|| "the callgrind output holds no summary: line".to_string())
}

/// Millions, with two decimals.
fn millions(instructions: f64) -> String {
    format!("{:.2} M", instructions / 1e6)
}

/// The parent: start-up, then every case, as a table.
pub fn run(bench_args: &BenchArgs) -> ExitCode {
    let seeds = bench_args.instruction_seeds;
    let count = seeds.end - seeds.start;
    let scratch = match tempfile::Builder::new()
        .prefix("hangsim-instructions.")
        .tempdir()
    {
        Ok(directory) => directory,
        Err(error) => {
            return crate::bad_input(&format!("cannot make a scratch directory: {error}"))
        }
    };
    let valgrind: PathBuf = bench_args.valgrind.clone();
    let (first_scenario, first_protocol) = CASES[0];
    let startup = match count_instructions(
        &valgrind,
        scratch.path(),
        first_scenario,
        first_protocol,
        seeds,
        0,
    ) {
        Ok((instructions, _)) => instructions,
        Err(message) => return crate::bad_input(&message),
    };
    outln!(
        "instructions (valgrind --tool=callgrind), seeds {seeds}, one job; start-up {} \
         subtracted",
        millions(startup as f64)
    );
    let mut table = vec![[
        "scenario".to_string(),
        "protocol".into(),
        "seeds".into(),
        "failing".into(),
        "whole process".into(),
        "per seed".into(),
    ]];
    for (scenario, protocol) in CASES {
        let (total, failing) =
            match count_instructions(&valgrind, scratch.path(), scenario, protocol, seeds, count) {
                Ok(measured) => measured,
                Err(message) => return crate::bad_input(&message),
            };
        let per_seed = total.saturating_sub(startup) as f64 / count as f64;
        table.push([
            scenario.to_string(),
            protocol.name().to_string(),
            count.to_string(),
            failing.to_string(),
            millions(total as f64),
            millions(per_seed),
        ]);
    }
    let widths: Vec<usize> = (0..table[0].len())
        .map(|column| table.iter().map(|row| row[column].len()).max().unwrap_or(0))
        .collect();
    for row in &table {
        let cells: Vec<String> = row
            .iter()
            .enumerate()
            .map(|(column, cell)| {
                if column < 2 {
                    format!("{cell:<width$}", width = widths[column])
                } else {
                    format!("{cell:>width$}", width = widths[column])
                }
            })
            .collect();
        outln!("{}", cells.join("  ").trim_end());
    }
    ExitCode::SUCCESS
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The total is read from callgrind's `summary:` line, or `totals:`; a file without either
    /// is an error.
    #[test]
    fn the_total_comes_from_the_summary_line() {
        let text = "version: 1\ncreator: callgrind-3.19.0\nevents: Ir\nfl=(1) x\n0 12\nsummary: 842599\ntotals: 842599\n";
        assert_eq!(callgrind_total(text), Ok(842_599));
        assert_eq!(callgrind_total("events: Ir\ntotals: 17\n"), Ok(17));
        assert!(callgrind_total("events: Ir\n").is_err());
    }
}
