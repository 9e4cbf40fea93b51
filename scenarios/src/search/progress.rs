//! Resuming a search: the progress file next to the NDJSON file, and how a resume reads both.
//!
//! The progress file (`<out>.progress`, JSON) names the search and counts, in seed order, the
//! seeds completed and the NDJSON lines written for them. A seed's line is written (and
//! flushed to disk) before the progress file counts it, so after a stop at any point the NDJSON
//! file holds at least the lines the progress file counts, and maybe more: lines past the mark,
//! the last perhaps torn by a full disk or a kill. A resume keeps exactly the counted lines,
//! each of which must be whole and belong to a completed seed, drops everything after them, and
//! runs on from the mark. It refuses, rather than lose findings silently, when the NDJSON file
//! is gone or holds fewer lines than the progress file counts.

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::seeds::SeedPlan;
use super::SearchPlan;
use crate::fixture::read_bounded;
use crate::runner::DeterminismCheck;

/// The largest progress file read (it is a few hundred bytes).
const MAX_PROGRESS_BYTES: u64 = 64 * 1024;

/// The largest NDJSON file a resume reads back: about a million findings of a few KiB each. A
/// search with more findings than that has found the same shapes over and over; split it with
/// `--shard`.
pub const MAX_RESUMED_NDJSON_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The progress file's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    pub scenario: String,
    pub protocol: String,
    pub strategy: String,
    pub seeds: String,
    pub shard: String,
    pub check_determinism: DeterminismCheck,
    /// The first `completed` seeds of the search, in seed order, are done.
    pub completed: u64,
    /// The NDJSON lines written for them.
    pub findings: u64,
    /// Wall seconds spent so far, for the summary's rate.
    pub elapsed_seconds: f64,
}

impl Progress {
    /// The progress of `plan` before its first seed.
    pub fn start(plan: &SearchPlan, check: DeterminismCheck) -> Progress {
        Progress {
            scenario: plan.scenario.name().into(),
            protocol: plan.protocol.name().into(),
            strategy: plan.strategy.to_string(),
            seeds: plan.seeds.to_string(),
            shard: plan.shard.to_string(),
            check_determinism: check,
            completed: 0,
            findings: 0,
            elapsed_seconds: 0.0,
        }
    }

    fn same_search(&self, other: &Progress) -> bool {
        (
            &self.scenario,
            &self.protocol,
            &self.strategy,
            &self.seeds,
            &self.shard,
            self.check_determinism,
        ) == (
            &other.scenario,
            &other.protocol,
            &other.strategy,
            &other.seeds,
            &other.shard,
            other.check_determinism,
        )
    }

    /// The progress file as text.
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("progress is plain data and always serializes")
    }
}

/// Where the progress file of `out` lives: `out` with `.progress` appended
/// (`found.ndjson.progress`).
pub fn progress_path(out: &Path) -> PathBuf {
    let mut name = out.as_os_str().to_owned();
    name.push(".progress");
    PathBuf::from(name)
}

/// What a resume starts from.
#[derive(Debug)]
pub struct Resumed {
    /// The saved progress (counts and time so far).
    pub progress: Progress,
    /// The NDJSON lines of the completed seeds, in order, and their findings.
    pub lines: Vec<String>,
    pub findings: Vec<Finding>,
    /// How many bytes past the counted lines were dropped (lines of seeds that run again, or a
    /// torn line).
    pub dropped_bytes: usize,
}

/// Reads the progress file of `out` and the NDJSON lines it counts. `Ok(None)` when there is no
/// progress file (the search starts from its first seed); an error, in one line, when the
/// files belong to another search or do not hold what the progress file counts.
pub fn resume(
    out: &Path,
    fresh: &Progress,
    seed_plan: SeedPlan,
) -> Result<Option<Resumed>, String> {
    let path = progress_path(out);
    let text = match read_bounded(&path, MAX_PROGRESS_BYTES) {
        Ok(text) => text,
        Err(_) if !path.exists() && std::fs::symlink_metadata(&path).is_err() => return Ok(None),
        Err(what) => return Err(format!("cannot read {}: {what}", path.display())),
    };
    let saved: Progress = serde_json::from_str(&text).map_err(|error| {
        format!(
            "cannot resume: bad progress file {}: {error}",
            path.display()
        )
    })?;
    if !saved.same_search(fresh) {
        return Err(format!(
            "cannot resume: {} records another search ({} under {}, seeds {}, shard {}, \
             strategy {}, check {})",
            path.display(),
            saved.scenario,
            saved.protocol,
            saved.seeds,
            saved.shard,
            saved.strategy,
            saved.check_determinism
        ));
    }
    if saved.completed > seed_plan.len || saved.findings > saved.completed {
        return Err(format!(
            "cannot resume: {} counts {} seeds done and {} findings, which this search of {} \
             seeds cannot have",
            path.display(),
            saved.completed,
            saved.findings,
            seed_plan.len
        ));
    }
    let text = match read_bounded(out, MAX_RESUMED_NDJSON_BYTES) {
        Ok(text) => text,
        Err(what) if !out.exists() => {
            return Err(format!(
                "cannot resume: {} is gone ({what}), but {} counts {} seeds done with {} findings; \
                 resuming would lose them (delete the progress file to start over)",
                out.display(),
                path.display(),
                saved.completed,
                saved.findings
            ))
        }
        Err(what) => return Err(format!("cannot read {}: {what}", out.display())),
    };
    let last_completed = (saved.completed > 0).then(|| seed_plan.seed(saved.completed - 1));
    let mut lines = Vec::new();
    let mut findings: Vec<Finding> = Vec::new();
    let mut rest = text.as_str();
    while (lines.len() as u64) < saved.findings {
        let Some((line, after)) = rest.split_once('\n') else {
            return Err(format!(
                "cannot resume: {} holds {} whole lines, but {} counts {}: the file was cut \
                 short, and resuming would lose findings",
                out.display(),
                lines.len(),
                path.display(),
                saved.findings
            ));
        };
        let number = lines.len() + 1;
        let finding = Finding::from_line(line)
            .map_err(|what| format!("cannot resume: {} line {number}: {what}", out.display()))?;
        let in_order = findings.last().is_none_or(|last| last.seed < finding.seed);
        if !in_order || last_completed.is_none_or(|last| finding.seed > last) {
            return Err(format!(
                "cannot resume: {} line {number} is seed {}, which is not a completed seed of \
                 this search in order",
                out.display(),
                finding.seed
            ));
        }
        lines.push(line.to_string());
        findings.push(finding);
        rest = after;
    }
    Ok(Some(Resumed {
        progress: saved,
        lines,
        findings,
        dropped_bytes: rest.len(),
    }))
}
