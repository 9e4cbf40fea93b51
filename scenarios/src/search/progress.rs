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
//!
//! The progress file is also how the results of a shard say what they are, for `hangsim
//! merge` ([`crate::merge`]): the formats and the hangsim that wrote them, the search
//! (scenario, protocol, strategy, seeds, shard, determinism check, whether a passing fixture is
//! kept), where its fixtures went, and how far it got (`completed` of `planned` seeds).

use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

use super::finding::Finding;
use super::seeds::SeedPlan;
use super::{SearchOptions, SearchPlan};
use crate::fixture::read_bounded;
use crate::runner::DeterminismCheck;

/// The largest progress file read (it is a few hundred bytes).
pub const MAX_PROGRESS_BYTES: u64 = 64 * 1024;

/// The largest NDJSON file a resume reads back: about a million findings of a few KiB each. A
/// search with more findings than that has found the same shapes over and over; split it with
/// `--shard`.
pub const MAX_RESUMED_NDJSON_BYTES: u64 = 4 * 1024 * 1024 * 1024;

/// The version of a search's results format: this progress file and the NDJSON lines it
/// counts. Merging refuses shards of another format; a change to either file's meaning bumps
/// it.
pub const RESULTS_FORMAT: u32 = 1;

/// The hangsim that writes results: the package version, and the commit when the build was
/// given one (`HANGSIM_COMMIT=<sha> cargo build`, as the nightly workflow does), so that
/// shards built from different commits of one version are not merged as one search.
pub fn hangsim_version() -> String {
    let version = env!("CARGO_PKG_VERSION");
    match option_env!("HANGSIM_COMMIT") {
        Some(commit) if !commit.is_empty() => format!("{version}+{commit}"),
        _ => version.to_string(),
    }
}

/// The progress file's content.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// [`RESULTS_FORMAT`] of the writer.
    pub format: u32,
    /// [`hangsim_version`] of the writer.
    pub hangsim: String,
    /// The fixture format ([`crate::fixture::FORMAT_VERSION`]) of the fixtures it keeps.
    pub fixture_format: u32,
    pub scenario: String,
    /// A digest of the scenario's content (`Scenario::digest`): two files of one name, or one
    /// file with other `--set` overrides, are two searches.
    pub scenario_digest: String,
    pub protocol: String,
    pub strategy: String,
    pub seeds: String,
    pub shard: String,
    /// The user's virtual deadline for every run, in seconds, when one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_seconds: Option<u64>,
    pub check_determinism: DeterminismCheck,
    /// Whether the search keeps a fixture of its smallest passing seed.
    pub keep_passing: bool,
    /// Where the search keeps its fixtures: relative to the directory of the NDJSON file when
    /// inside it (so that the results can be moved or downloaded whole), absolute otherwise;
    /// none when it keeps none.
    pub fixtures: Option<String>,
    /// The seeds of the search (of its shard).
    pub planned: u64,
    /// The first `completed` seeds of the search, in seed order, are done.
    pub completed: u64,
    /// The NDJSON lines written for them.
    pub findings: u64,
    /// Wall seconds spent so far, for the summary's rate.
    pub elapsed_seconds: f64,
}

impl Progress {
    /// The progress of `plan`, searched with `options`, before its first seed.
    pub fn start(plan: &SearchPlan, options: &SearchOptions) -> Progress {
        Progress {
            format: RESULTS_FORMAT,
            hangsim: hangsim_version(),
            fixture_format: crate::fixture::FORMAT_VERSION,
            scenario: plan.scenario.name().into(),
            scenario_digest: format!("{:#018x}", plan.scenario.digest()),
            protocol: plan.protocol.name().into(),
            strategy: plan.strategy.to_string(),
            seeds: plan.seeds.to_string(),
            shard: plan.shard.to_string(),
            deadline_seconds: plan.deadline.map(|deadline| deadline.as_secs()),
            check_determinism: options.check,
            keep_passing: options.keep_passing,
            fixtures: options
                .fixtures
                .as_deref()
                .map(|fixtures| fixtures_location(options.out.as_deref(), fixtures)),
            planned: plan.seed_plan().len,
            completed: 0,
            findings: 0,
            elapsed_seconds: 0.0,
        }
    }

    /// The fields that say which search this is, by name, as `(name, value)` pairs: two
    /// progress files of one search (or of shards of one search, but for `shard`) agree on all
    /// of them.
    pub fn identity(&self) -> [(&'static str, String); 12] {
        [
            ("results format", self.format.to_string()),
            ("hangsim", self.hangsim.clone()),
            ("fixture format", self.fixture_format.to_string()),
            ("scenario", self.scenario.clone()),
            ("scenario content", self.scenario_digest.clone()),
            ("protocol", self.protocol.clone()),
            ("strategy", self.strategy.clone()),
            ("seeds", self.seeds.clone()),
            ("shard", self.shard.clone()),
            (
                "deadline",
                self.deadline_seconds
                    .map_or_else(|| "derived".to_string(), |seconds| format!("{seconds} s")),
            ),
            ("determinism check", self.check_determinism.to_string()),
            ("keep passing", self.keep_passing.to_string()),
        ]
    }

    /// The search in words: `auth-crash under master (strategy yields, seeds 0..100, shard
    /// 1/4)`.
    pub fn describe(&self) -> String {
        format!(
            "{} under {} (strategy {}, seeds {}, shard {})",
            self.scenario, self.protocol, self.strategy, self.seeds, self.shard
        )
    }

    /// The search in words without its shard, as the shards of one search share it:
    /// `auth-crash under master (strategy yields, seeds 0..100)`.
    pub fn describe_search(&self) -> String {
        format!(
            "{} under {} (strategy {}, seeds {})",
            self.scenario, self.protocol, self.strategy, self.seeds
        )
    }

    /// The fixture directory of the results whose NDJSON file is `out`, as a path.
    pub fn fixtures_directory(&self, out: &Path) -> Option<PathBuf> {
        let recorded = Path::new(self.fixtures.as_deref()?);
        Some(if recorded.is_absolute() {
            recorded.to_path_buf()
        } else {
            directory_of(out).join(recorded)
        })
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

/// How two progress files differ in what says which search they are: one entry per differing
/// field, such as `protocol master and closed-queue`.
pub fn differences(a: &Progress, b: &Progress) -> Vec<String> {
    a.identity()
        .into_iter()
        .zip(b.identity())
        .filter(|((_, left), (_, right))| left != right)
        .map(|((name, left), (_, right))| format!("{name} {left} and {right}"))
        .collect()
}

fn kept_where(fixtures: Option<&str>) -> String {
    match fixtures {
        Some(directory) => format!("in {directory}"),
        None => "nowhere".into(),
    }
}

/// The directory a file lives in (`.` for a bare file name).
fn directory_of(path: &Path) -> PathBuf {
    match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// How the progress file of the NDJSON file `out` names the fixture directory `fixtures`:
/// relative to `out`'s directory when inside it, so that the two travel together (a CI
/// artifact, a copied volume); absolute otherwise. Both are resolved as they stand now (the
/// search has created the fixture directory by then).
pub(crate) fn fixtures_location(out: Option<&Path>, fixtures: &Path) -> String {
    let absolute = |path: &Path| {
        std::fs::canonicalize(path).unwrap_or_else(|_| {
            std::env::current_dir()
                .map(|here| here.join(path))
                .unwrap_or_else(|_| path.to_path_buf())
        })
    };
    let fixtures = absolute(fixtures);
    if let Some(out) = out {
        let home = absolute(&directory_of(out));
        if let Ok(inside) = fixtures.strip_prefix(&home) {
            let inside = inside.to_string_lossy().into_owned();
            return if inside.is_empty() {
                ".".into()
            } else {
                inside
            };
        }
    }
    fixtures.to_string_lossy().into_owned()
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
    let differences = differences(&saved, fresh);
    if !differences.is_empty() {
        return Err(format!(
            "cannot resume: {} records another search, {} ({})",
            path.display(),
            saved.describe(),
            differences.join(", ")
        ));
    }
    if saved.fixtures != fresh.fixtures {
        return Err(format!(
            "cannot resume: {} kept its fixtures {}, and this search would keep them {}; \
             resume with the same --fixtures",
            path.display(),
            kept_where(saved.fixtures.as_deref()),
            kept_where(fresh.fixtures.as_deref()),
        ));
    }
    if saved.planned != seed_plan.len
        || saved.completed > seed_plan.len
        || saved.findings > saved.completed
    {
        return Err(format!(
            "cannot resume: {} counts {} seeds done of {} and {} findings, which this search of \
             {} seeds cannot have",
            path.display(),
            saved.completed,
            saved.planned,
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
