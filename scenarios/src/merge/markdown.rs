//! The summary of a merge as a Markdown section: a heading naming the search, one sentence of
//! counts, a table of failure signatures (new ones marked, when judged against a baseline),
//! and what was not searched. `hangsim merge --summary-markdown FILE` appends it to FILE, so
//! that a CI job can pass `$GITHUB_STEP_SUMMARY` and get one section per search.

use std::fmt::Write as _;

use crate::verdict::VerdictKind;

use super::MergeSummary;

/// Text for a table cell: pipes escaped, line breaks as spaces, and HTML's specials as
/// entities (GitHub renders inline HTML).
fn cell(text: &str) -> String {
    text.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('|', "\\|")
        .replace(['\n', '\r'], " ")
}

/// `text` as inline code in a table cell, with a fence longer than any run of backticks in it.
fn code(text: &str) -> String {
    let longest_run = text.split(|c| c != '`').map(str::len).max().unwrap_or(0);
    let fence = "`".repeat(longest_run + 1);
    let inner = text.replace('|', "\\|").replace(['\n', '\r'], " ");
    if longest_run > 0 {
        format!("{fence} {inner} {fence}")
    } else {
        format!("{fence}{inner}{fence}")
    }
}

fn plural(count: u64, one: &str, many: &str) -> String {
    format!("{count} {}", if count == 1 { one } else { many })
}

/// The section, ending with a blank line so that sections appended one after another stay
/// apart.
pub fn section(summary: &MergeSummary) -> String {
    let mut out = String::new();
    let tally = summary.summary.tally;
    let _ = writeln!(
        out,
        "### `{}` under `{}`\n",
        summary.scenario, summary.protocol
    );
    let _ = write!(
        out,
        "Strategy `{}`, seeds {}, {} of {} shards merged: searched {} of {} seeds, {} \
         ({} hang, {} timeout, {} violation, {} panic, {} nondeterminism).",
        summary.strategy,
        summary.seeds,
        summary.shards_merged,
        summary.shard_count,
        summary.summary.searched,
        summary.summary.planned,
        plural(tally.failing(), "failing run", "failing runs"),
        tally.of(VerdictKind::Hang),
        tally.of(VerdictKind::Timeout),
        tally.of(VerdictKind::Violation),
        tally.of(VerdictKind::Panic),
        tally.of(VerdictKind::Nondeterminism),
    );
    if let Some(against) = &summary.against {
        let new = summary.new_signatures().count() as u64;
        let _ = write!(
            out,
            " {} against `{}`.",
            if new == 0 {
                "No new failure signature".to_string()
            } else {
                format!(
                    "**{}**",
                    plural(new, "new failure signature", "new failure signatures")
                )
            },
            against.display()
        );
    }
    out.push_str("\n\n");
    if !summary.signatures.is_empty() {
        let judged = summary.against.is_some();
        if judged {
            out.push_str("| | signature | verdict | runs | smallest seed | why |\n");
            out.push_str("|---|---|---|---:|---:|---|\n");
        } else {
            out.push_str("| signature | verdict | runs | smallest seed | why |\n");
            out.push_str("|---|---|---:|---:|---|\n");
        }
        for signature in &summary.signatures {
            if judged {
                out.push_str(if signature.new {
                    "| **new** "
                } else {
                    "| known "
                });
            }
            let _ = writeln!(
                out,
                "| {} | {} | {} | {} | {} |",
                code(&signature.signature),
                signature.verdict,
                signature.runs,
                signature.smallest_seed,
                cell(&signature.why)
            );
        }
        out.push('\n');
    }
    if !summary.shortfalls.is_empty() {
        out.push_str("**Not searched:**\n\n");
        for shortfall in &summary.shortfalls {
            let _ = writeln!(out, "- {}", cell(&shortfall.to_string()));
        }
        out.push('\n');
    }
    out
}
