//! Which shards a merge joins: found among the inputs, their progress files read, and checked
//! to be the shards of one search, each once, none missing and each finished (or, with
//! `partial`, what is missing or unfinished named as a [`Shortfall`]).
//!
//! A shard's results are an NDJSON file written by `hangsim search --out` and its progress
//! file beside it ([`crate::search::progress`]): the progress file says which search and shard
//! they are, in which formats and by which hangsim, how far the shard got, and where it kept
//! its fixtures.

use std::collections::BTreeMap;
use std::fmt;
use std::path::{Path, PathBuf};

use crate::fixture::{self, read_bounded};
use crate::search::progress::{progress_path, Progress, MAX_PROGRESS_BYTES, RESULTS_FORMAT};
use crate::search::{SeedPlan, SeedRange, Shard};

/// The most shards one search may be split into for a merge: a limit on the table of shards
/// a merge checks for missing ones.
pub const MAX_SHARD_COUNT: u64 = 100_000;

/// How deep a merge looks for shards under a directory it is given (an artifact download puts
/// each shard one or two levels down).
const MAX_DEPTH: usize = 8;

/// How many directory entries a merge looks at under the directories it is given, at most.
const MAX_ENTRIES: usize = 1_000_000;

/// What a progress file's name ends with.
const PROGRESS_SUFFIX: &str = ".progress";

/// One shard's results: where its NDJSON file is, and what its progress file says.
#[derive(Clone, Debug)]
pub struct ShardFiles {
    pub ndjson: PathBuf,
    pub progress: Progress,
}

impl ShardFiles {
    /// `shard 1/4 (results/found.ndjson)`, for messages.
    pub fn name(&self) -> String {
        format!("shard {} ({})", self.progress.shard, self.ndjson.display())
    }
}

/// A shard that did not search all its seeds: unfinished (its results say how far it got), or
/// missing (no results were given for it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Shortfall {
    pub shard: Shard,
    /// The NDJSON file of an unfinished shard; none for a missing one.
    pub ndjson: Option<PathBuf>,
    pub completed: u64,
    pub planned: u64,
}

impl fmt::Display for Shortfall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.ndjson {
            Some(path) => write!(
                f,
                "shard {} ({}) is unfinished: {} of {} seeds",
                self.shard,
                path.display(),
                self.completed,
                self.planned
            ),
            None => write!(
                f,
                "shard {} is missing: 0 of {} seeds",
                self.shard, self.planned
            ),
        }
    }
}

/// The shards of one search, checked.
#[derive(Clone, Debug)]
pub struct MergePlan {
    /// The search, as its first shard's progress file names it (its `shard` aside).
    pub search: Progress,
    pub seeds: SeedRange,
    /// How many shards the search was split into.
    pub shard_count: u64,
    /// The shards given, by shard index.
    pub shards: Vec<(Shard, ShardFiles)>,
    /// Shards that did not search all their seeds, by shard index (only with `partial`).
    pub shortfalls: Vec<Shortfall>,
}

impl MergePlan {
    /// The seeds of the whole search.
    pub fn planned(&self) -> u64 {
        SeedPlan::new(self.seeds, Shard::WHOLE).len
    }

    /// Whether every seed of the search was searched.
    pub fn complete(&self) -> bool {
        self.shortfalls.is_empty()
    }
}

/// The shards among `inputs`: NDJSON files (or their progress files) named directly, and every
/// NDJSON file or progress file found under a directory named, each with its partner beside
/// it. Each shard once, in the order of their paths.
pub fn find(inputs: &[PathBuf]) -> Result<Vec<ShardFiles>, String> {
    let mut ndjson_files: BTreeMap<PathBuf, PathBuf> = BTreeMap::new();
    let mut entries_seen = 0;
    for input in inputs {
        let metadata = std::fs::metadata(input)
            .map_err(|error| format!("cannot read {}: {error}", input.display()))?;
        let mut found = Vec::new();
        if metadata.is_dir() {
            walk(input, 0, &mut entries_seen, &mut found)?;
            if found.is_empty() {
                return Err(format!(
                    "no shard results under {} (a shard's results are the NDJSON file of \
                     `hangsim search --out FILE` and FILE.progress beside it)",
                    input.display()
                ));
            }
        } else {
            found.push(input.clone());
        }
        for path in found {
            let ndjson = ndjson_of(&path);
            let canonical = std::fs::canonicalize(&ndjson).unwrap_or_else(|_| ndjson.clone());
            ndjson_files.entry(canonical).or_insert(ndjson);
        }
    }
    if ndjson_files.is_empty() {
        return Err("no shard results given".into());
    }
    ndjson_files.into_values().map(|path| read(&path)).collect()
}

/// The NDJSON file of a path that is either it or its progress file.
fn ndjson_of(path: &Path) -> PathBuf {
    match path
        .to_str()
        .and_then(|text| text.strip_suffix(PROGRESS_SUFFIX))
    {
        Some(ndjson) => PathBuf::from(ndjson),
        None => path.to_path_buf(),
    }
}

/// Collects the NDJSON and progress files under `directory`, without following symbolic links
/// (no cycles), at most [`MAX_DEPTH`] levels down and [`MAX_ENTRIES`] entries in all.
fn walk(
    directory: &Path,
    depth: usize,
    entries_seen: &mut usize,
    found: &mut Vec<PathBuf>,
) -> Result<(), String> {
    let cannot = |error: std::io::Error| format!("cannot read {}: {error}", directory.display());
    let mut entries: Vec<std::fs::DirEntry> = std::fs::read_dir(directory)
        .map_err(cannot)?
        .collect::<Result<_, _>>()
        .map_err(cannot)?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        *entries_seen += 1;
        if *entries_seen > MAX_ENTRIES {
            return Err(format!(
                "more than {MAX_ENTRIES} files and directories under the directories given; \
                 name the shards' directories instead"
            ));
        }
        let file_type = entry.file_type().map_err(cannot)?;
        let path = entry.path();
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if file_type.is_dir() && depth < MAX_DEPTH {
            walk(&path, depth + 1, entries_seen, found)?;
        } else if file_type.is_file()
            && !name.starts_with('.')
            && (name.ends_with(".ndjson") || name.ends_with(".ndjson.progress"))
        {
            found.push(path);
        }
    }
    Ok(())
}

/// Reads the progress file of the NDJSON file `ndjson`, both of which must be there.
fn read(ndjson: &Path) -> Result<ShardFiles, String> {
    let progress_file = progress_path(ndjson);
    let ndjson_there = std::fs::metadata(ndjson).is_ok_and(|metadata| metadata.is_file());
    let progress_there = std::fs::metadata(&progress_file).is_ok();
    match (ndjson_there, progress_there) {
        (true, true) => {}
        (false, true) => {
            return Err(format!(
                "{} has no NDJSON file beside it: {} is gone or not a regular file",
                progress_file.display(),
                ndjson.display()
            ))
        }
        (_, false) => {
            return Err(format!(
                "{} has no progress file beside it ({}): it was not written by `hangsim search \
                 --out`, or its progress file was lost",
                ndjson.display(),
                progress_file.display()
            ))
        }
    }
    let text = read_bounded(&progress_file, MAX_PROGRESS_BYTES)
        .map_err(|what| format!("cannot read {}: {what}", progress_file.display()))?;
    let bad = |what: String| format!("bad progress file {}: {what}", progress_file.display());
    // The format first, so that a file of another format says so rather than failing on a key.
    let value: serde_json::Value =
        serde_json::from_str(&text).map_err(|error| bad(error.to_string()))?;
    match value.get("format").and_then(serde_json::Value::as_u64) {
        Some(format) if format == u64::from(RESULTS_FORMAT) => {}
        Some(format) => {
            return Err(bad(format!(
                "results format {format}; this hangsim merges format {RESULTS_FORMAT}"
            )))
        }
        None => {
            return Err(bad(format!(
                "no results format (it was written before hangsim numbered them); this \
                 hangsim merges format {RESULTS_FORMAT}"
            )))
        }
    }
    let progress: Progress =
        serde_json::from_value(value).map_err(|error| bad(error.to_string()))?;
    if progress.fixture_format != fixture::FORMAT_VERSION {
        return Err(bad(format!(
            "fixture format {}; this hangsim merges format {}",
            progress.fixture_format,
            fixture::FORMAT_VERSION
        )));
    }
    Ok(ShardFiles {
        ndjson: ndjson.to_path_buf(),
        progress,
    })
}

/// The identity fields of two progress files that differ, `shard` aside.
fn search_differences(a: &Progress, b: &Progress) -> Vec<String> {
    a.identity()
        .into_iter()
        .zip(b.identity())
        .filter(|((name, left), (_, right))| *name != "shard" && left != right)
        .map(|((name, left), (_, right))| format!("{name} {left} and {right}"))
        .collect()
}

/// Names at most a few items of a list: `2/4, 3/4`, or `2/9, 3/9, ... and 5 more`.
fn some_of(items: &[String]) -> String {
    const SHOWN: usize = 8;
    if items.len() <= SHOWN {
        items.join(", ")
    } else {
        format!(
            "{}, ... and {} more",
            items[..SHOWN].join(", "),
            items.len() - SHOWN
        )
    }
}

/// Checks that `found` are the shards of one search, each once, all there and finished; with
/// `partial`, missing and unfinished shards are named in the plan instead of refused.
pub fn check(found: Vec<ShardFiles>, partial: bool) -> Result<MergePlan, String> {
    let first = found.first().ok_or("no shard results given")?.clone();
    let bad = |files: &ShardFiles, what: String| {
        format!(
            "bad progress file {}: {what}",
            progress_path(&files.ndjson).display()
        )
    };
    let seeds: SeedRange = first
        .progress
        .seeds
        .parse()
        .map_err(|what: String| bad(&first, what))?;
    let mut by_index: BTreeMap<u64, ShardFiles> = BTreeMap::new();
    let mut shard_count = None;
    for files in found {
        let differences = search_differences(&first.progress, &files.progress);
        if !differences.is_empty() {
            return Err(format!(
                "shards of different searches: {} is {}, {} is {} ({})",
                first.ndjson.display(),
                first.progress.describe(),
                files.ndjson.display(),
                files.progress.describe(),
                differences.join(", ")
            ));
        }
        let shard: Shard = files
            .progress
            .shard
            .parse()
            .map_err(|what: String| bad(&files, what))?;
        match shard_count {
            None => shard_count = Some(shard.count),
            Some(count) if count != shard.count => {
                return Err(format!(
                    "shards of different searches: {} is one of {count} shards, {} is {} of {} \
                     shards",
                    first.name(),
                    files.name(),
                    shard,
                    shard.count
                ))
            }
            Some(_) => {}
        }
        if shard.count > MAX_SHARD_COUNT {
            return Err(format!(
                "{} splits the search into {} shards; a merge takes at most {MAX_SHARD_COUNT}",
                files.name(),
                shard.count
            ));
        }
        let planned = SeedPlan::new(seeds, shard).len;
        let progress = &files.progress;
        if progress.planned != planned
            || progress.completed > planned
            || progress.findings > progress.completed
        {
            return Err(bad(
                &files,
                format!(
                    "it counts {} seeds done of {} with {} findings, which shard {shard} of {} \
                     ({planned} seeds) cannot have",
                    progress.completed, progress.planned, progress.findings, progress.seeds
                ),
            ));
        }
        if let Some(other) = by_index.get(&shard.index) {
            return Err(format!(
                "overlapping shards: {} and {} are both shard {shard} of {}",
                other.ndjson.display(),
                files.ndjson.display(),
                first.progress.describe_search()
            ));
        }
        by_index.insert(shard.index, files);
    }
    let shard_count = shard_count.expect("at least one shard was read");
    let mut shortfalls = Vec::new();
    let mut missing = Vec::new();
    let mut unfinished = Vec::new();
    for index in 0..shard_count {
        let shard = Shard {
            index,
            count: shard_count,
        };
        let planned = SeedPlan::new(seeds, shard).len;
        match by_index.get(&index) {
            // A shard that holds no seed of the range is never searched (the search refuses it).
            None if planned == 0 => {}
            None => {
                missing.push(shard.to_string());
                shortfalls.push(Shortfall {
                    shard,
                    ndjson: None,
                    completed: 0,
                    planned,
                });
            }
            Some(files) if files.progress.completed < planned => {
                unfinished.push(format!(
                    "{} ({} of {planned} seeds done)",
                    files.name(),
                    files.progress.completed
                ));
                shortfalls.push(Shortfall {
                    shard,
                    ndjson: Some(files.ndjson.clone()),
                    completed: files.progress.completed,
                    planned,
                });
            }
            Some(_) => {}
        }
    }
    if !partial && !missing.is_empty() {
        let given: Vec<String> = by_index
            .values()
            .map(|files| files.progress.shard.clone())
            .collect();
        return Err(format!(
            "missing shards {} of {} (given: {}); merge with --partial to join what is there",
            some_of(&missing),
            first.progress.describe_search(),
            some_of(&given)
        ));
    }
    if !partial && !unfinished.is_empty() {
        return Err(format!(
            "unfinished shards: {}; continue them with `hangsim search ... --resume`, or merge \
             with --partial to join the seeds they searched",
            some_of(&unfinished)
        ));
    }
    Ok(MergePlan {
        search: first.progress,
        seeds,
        shard_count,
        shards: by_index
            .into_iter()
            .map(|(index, files)| {
                (
                    Shard {
                        index,
                        count: shard_count,
                    },
                    files,
                )
            })
            .collect(),
        shortfalls,
    })
}
