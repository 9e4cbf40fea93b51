//! `hangsim merge`: joins the results of the shards of one search ([`scenarios::merge`]) and
//! prints the summary: the search's own, then the new failure signatures and what was not
//! searched. What was written goes to stderr as `note:` lines.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Args;
use scenarios::merge::{self, MergeOptions};

use crate::output::outln;

/// What `hangsim merge` takes.
#[derive(Args, Clone, Debug)]
pub struct MergeArgs {
    /// The shards' results: NDJSON files written by `hangsim search --out` (each with its
    /// progress file beside it), their progress files, or directories holding them at any
    /// depth (a CI artifact download, a volume).
    #[arg(required = true, value_name = "DIR_OR_FILE")]
    pub inputs: Vec<PathBuf>,
    /// Write the merged NDJSON here, in seed order (and, when every seed was searched, its
    /// progress file beside it, as one search would have left them).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// Write one fixture per failure signature here, the smallest seed's (and the smallest
    /// passing seed's, when the search kept one).
    #[arg(long, value_name = "DIR")]
    pub fixtures: Option<PathBuf>,
    /// A directory of fixtures (tests/fixtures): a failure signature is new when none of them
    /// holds it for the same scenario and protocol. Without it, every failure is new.
    #[arg(long, value_name = "DIR")]
    pub against: Option<PathBuf>,
    /// Also copy the fixtures of the new failure signatures here.
    #[arg(long, value_name = "DIR")]
    pub new_fixtures: Option<PathBuf>,
    /// Append the summary to FILE as a Markdown section with a table of failure signatures
    /// (for a CI job summary: `--summary-markdown "$GITHUB_STEP_SUMMARY"`).
    #[arg(long, value_name = "FILE")]
    pub summary_markdown: Option<PathBuf>,
    /// Join unfinished and missing shards for the seeds they searched, and name them, instead
    /// of refusing them.
    #[arg(long)]
    pub partial: bool,
}

/// The merge. See [`scenarios::merge`].
pub fn merge(merge_args: MergeArgs) -> ExitCode {
    let options = MergeOptions {
        out: merge_args.out,
        fixtures: merge_args.fixtures,
        new_fixtures: merge_args.new_fixtures,
        against: merge_args.against,
        summary_markdown: merge_args.summary_markdown,
        partial: merge_args.partial,
    };
    let summary = match merge::merge(&merge_args.inputs, &options) {
        Ok(summary) => summary,
        Err(message) => return crate::bad_input(&message),
    };
    for note in &summary.notes {
        eprintln!("note: {note}");
    }
    outln!("{summary}");
    if summary.found_new() {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
