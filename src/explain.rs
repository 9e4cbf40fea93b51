//! `hangsim explain`: replays a fixture with every event recorded and writes the run as one
//! self-contained HTML page (`scenarios::explain`).

use std::path::{Path, PathBuf};
use std::process::ExitCode;

use clap::Args;
use scenarios::explain::{page, timeline};
use scenarios::fixture::{read_fixture, replay_fixture};

use crate::output::{out, outln};

/// What `hangsim explain` takes.
#[derive(Args, Clone, Debug)]
pub struct ExplainArgs {
    /// The fixture to explain (for example one of tests/fixtures/*.toml).
    #[arg(value_name = "FIXTURE")]
    pub fixture: PathBuf,
    /// Where to write the page; `-` for stdout. Default: next to the fixture, with `.html` in
    /// place of its extension (tests/fixtures/x.toml gives tests/fixtures/x.html).
    #[arg(short = 'o', long = "output", value_name = "FILE.html")]
    pub output: Option<PathBuf>,
}

/// The page's default path: the fixture's, with `.html` for its extension.
fn next_to(fixture: &Path) -> PathBuf {
    fixture.with_extension("html")
}

/// Replays the fixture and writes its page.
pub fn explain(explain_args: ExplainArgs) -> ExitCode {
    let fixture = match read_fixture(&explain_args.fixture) {
        Ok(fixture) => fixture,
        Err(error) => return crate::bad_input(&error),
    };
    let output = explain_args
        .output
        .clone()
        .unwrap_or_else(|| next_to(&explain_args.fixture));
    if output.is_dir() {
        return crate::bad_input(&format!(
            "cannot write {}: it is a directory",
            output.display()
        ));
    }
    sim::quiet_simulation_panics();
    let outcome = replay_fixture(&fixture);
    if !outcome.matched() {
        // The page still shows the run the replay made; say that it is not the fixture's.
        eprintln!(
            "warning: {}: the replay did not reproduce the fixture ({}); the page shows the replayed run",
            explain_args.fixture.display(),
            outcome
                .mismatches
                .iter()
                .map(ToString::to_string)
                .collect::<Vec<_>>()
                .join("; ")
        );
    }
    let timeline = timeline(&outcome.record);
    let html = page::render(&timeline);
    if output == Path::new("-") {
        out!("{html}");
        return ExitCode::SUCCESS;
    }
    if let Err(error) = scenarios::atomic::write_atomically(&output, &html) {
        return crate::bad_input(&format!("cannot write {}: {error}", output.display()));
    }
    let folded = timeline.lanes.iter().filter(|lane| lane.folded).count();
    outln!(
        "wrote {}: {} events, {} fibers ({folded} folded), {} stuck waits; open it in a browser",
        output.display(),
        timeline.event_count,
        timeline.lanes.len(),
        timeline.stuck.len(),
    );
    ExitCode::SUCCESS
}
