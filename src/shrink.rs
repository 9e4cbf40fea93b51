//! `hangsim shrink`: a failing fixture reduced to a smaller one that fails the same way
//! (library: `scenarios::shrink`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use clap::Args;

use scenarios::fixture::{read_fixture, write_fixture};
use scenarios::shrink::{shrink as shrink_fixture, ShrinkOptions, DEFAULT_MAX_RUNS};

use crate::output::outln;

/// What `hangsim shrink` takes.
#[derive(Args, Clone, Debug)]
pub struct ShrinkArgs {
    /// The failing fixture to shrink (it must replay strictly first).
    #[arg(value_name = "FIXTURE")]
    pub fixture: PathBuf,
    /// Where to write the shrunk fixture (default: next to FIXTURE, `NAME.shrunk.toml`).
    #[arg(short = 'o', long = "out", value_name = "OUT")]
    pub out: Option<PathBuf>,
    /// The most candidate runs to make.
    #[arg(long = "max-runs", value_name = "N", default_value_t = DEFAULT_MAX_RUNS)]
    pub max_runs: usize,
}

/// The default output path: `NAME.shrunk.toml` beside the fixture.
fn default_out(fixture: &Path) -> PathBuf {
    let stem = fixture
        .file_stem()
        .map(|stem| stem.to_string_lossy().into_owned())
        .unwrap_or_else(|| "fixture".into());
    fixture.with_file_name(format!("{stem}.shrunk.toml"))
}

/// Shrinks the fixture, writes the result, prints what was removed and the sizes before and
/// after. Exit 0 when a fixture was written, 2 (one `error:` line) on bad input: a fixture
/// that cannot be read, that passes, or that does not replay as recorded.
pub fn shrink(shrink_args: ShrinkArgs) -> ExitCode {
    sim::quiet_simulation_panics();
    let fixture = match read_fixture(&shrink_args.fixture) {
        Ok(fixture) => fixture,
        Err(error) => return crate::bad_input(&error),
    };
    let out = shrink_args
        .out
        .clone()
        .unwrap_or_else(|| default_out(&shrink_args.fixture));
    // A bad output path is refused before the work, not after it.
    let directory = match out.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if !directory.is_dir() {
        return crate::bad_input(&format!(
            "cannot write {}: {} is not a directory",
            out.display(),
            directory.display()
        ));
    }
    let origin = shrink_args
        .fixture
        .file_name()
        .map(|name| name.to_string_lossy().into_owned())
        .unwrap_or_default();
    let options = ShrinkOptions {
        max_runs: shrink_args.max_runs,
        origin: format!("{origin}, trace_hash {:#018x}", fixture.trace_hash),
    };
    // Wall-clock time is printed only; nothing the shrinker decides depends on it.
    let started = Instant::now();
    let outcome = match shrink_fixture(&fixture, &options) {
        Ok(outcome) => outcome,
        Err(error) => {
            return crate::bad_input(&format!(
                "cannot shrink {}: {error}",
                shrink_args.fixture.display()
            ))
        }
    };
    if let Err(error) = write_fixture(&out, &outcome.fixture) {
        return crate::bad_input(&format!("cannot write fixture {}: {error}", out.display()));
    }
    outln!(
        "shrunk {} ({}, signature {})",
        shrink_args.fixture.display(),
        fixture.expected,
        fixture.signature
    );
    for line in outcome.to_string().lines() {
        outln!("{line}");
    }
    outln!("wrote {}", out.display());
    outln!("took {:.1} s", started.elapsed().as_secs_f64());
    ExitCode::SUCCESS
}
