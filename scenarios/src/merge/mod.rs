//! Merging: the results of the shards of one search (`hangsim search --shard K/N --out ...`,
//! each on its own machine) joined into what one search of every seed would have written. The
//! `hangsim merge` command parses its arguments into [`MergeOptions`], calls [`merge`], and
//! prints the [`MergeSummary`].
//!
//! Map:
//! - [`shards`]: finding the shards' results among the inputs, and checking that they are the
//!   shards of one search, each once, none missing and each finished ([`MergePlan`]).
//! - [`lines`]: the NDJSON lines, checked and joined in seed order, byte for byte.
//! - [`fixtures`]: fixture files picked by (signature, seed), and the signatures a baseline
//!   directory already holds.
//! - [`markdown`]: the summary as a Markdown section (a CI job summary).
//! - this file: [`merge`] itself.
//!
//! What "as if one machine had searched every seed" means, exactly: the NDJSON file holds the
//! same lines in the same order; its progress file is the same but for the wall time; there is
//! one fixture per failure signature, the file the shard holding its smallest seed kept (with
//! the provenance naming the whole range); and the summary counts the same. Shards are
//! deterministic, so the merged result does not depend on how many machines ran it.
//!
//! A merge refuses, in one line, results it cannot join into that: shards of different
//! searches (scenario, protocol, strategy, seeds, shard count, determinism check, the hangsim
//! or the formats that wrote them), two results of one shard, missing shards, unfinished
//! shards, and torn files (a line cut short, fewer lines than the progress file counts, lines
//! that are not this shard's, a fixture missing). With `partial`, missing and unfinished shards
//! are joined for what they searched and named in the summary instead; the result is then no
//! longer one search's, and no progress file is written for it. Nothing is written until every
//! check has passed.

use std::collections::BTreeMap;
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::atomic::{write_atomically, PendingFile};
use crate::search::progress::{fixtures_location, progress_path};
use crate::search::{seeds_covered, SearchSummary, Shard, Signature};
use crate::verdict::VerdictKind;

pub mod fixtures;
pub mod lines;
pub mod markdown;
pub mod shards;

pub use fixtures::{FixtureIndex, KeptCopy, Picked, Wanted};
pub use shards::{MergePlan, ShardFiles, Shortfall};

/// What a merge writes, and against what it judges novelty.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MergeOptions {
    /// The merged NDJSON file (and, when every seed was searched, its progress file).
    pub out: Option<PathBuf>,
    /// One fixture per failure signature, keeping the smallest seed (and the smallest passing
    /// seed's, when the search kept one).
    pub fixtures: Option<PathBuf>,
    /// A copy of the fixtures of the new failure signatures only.
    pub new_fixtures: Option<PathBuf>,
    /// A directory of fixtures: a failure signature is new when none of them holds it for the
    /// search's scenario and protocol. Without it, every failure signature is new.
    pub against: Option<PathBuf>,
    /// A file the summary is appended to as a Markdown section (GitHub's
    /// `$GITHUB_STEP_SUMMARY` is such a file).
    pub summary_markdown: Option<PathBuf>,
    /// Join missing and unfinished shards for what they searched, instead of refusing them.
    pub partial: bool,
}

/// One failure signature of the merged search.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MergedSignature {
    pub signature: String,
    pub verdict: VerdictKind,
    pub smallest_seed: u64,
    pub runs: u64,
    /// The one-line why of its smallest seed.
    pub why: String,
    /// Whether the baseline lacks it (every signature is new without a baseline).
    pub new: bool,
}

/// What a merge found.
#[derive(Clone, Debug, PartialEq)]
pub struct MergeSummary {
    pub scenario: String,
    pub protocol: String,
    pub strategy: String,
    pub seeds: String,
    /// How many shards the search was split into, and how many results were joined.
    pub shard_count: u64,
    pub shards_merged: usize,
    /// Counts as a search's summary gives them: seeds searched, of the whole search's seeds,
    /// failing runs by kind, signatures, and the shards' wall time added up.
    pub summary: SearchSummary,
    /// Every failure signature, smallest seed first.
    pub signatures: Vec<MergedSignature>,
    /// The baseline, when novelty was judged against one.
    pub against: Option<PathBuf>,
    /// The shards that did not search all their seeds (only with `partial`).
    pub shortfalls: Vec<Shortfall>,
    /// What was written, and what was left as it was, one line each.
    pub notes: Vec<String>,
}

impl MergeSummary {
    /// The failure signatures that are new.
    pub fn new_signatures(&self) -> impl Iterator<Item = &MergedSignature> {
        self.signatures.iter().filter(|signature| signature.new)
    }

    /// Whether the merged search found something new: a signature the baseline lacks, or,
    /// without a baseline, any failing run.
    pub fn found_new(&self) -> bool {
        self.new_signatures().next().is_some()
    }

    /// The search in words: `auth-crash under master (strategy yields, seeds 0..100)`.
    pub fn search(&self) -> String {
        format!(
            "{} under {} (strategy {}, seeds {})",
            self.scenario, self.protocol, self.strategy, self.seeds
        )
    }
}

impl fmt::Display for MergeSummary {
    /// What `hangsim merge` prints: which search, the search's own summary, the new
    /// signatures with their why, and what was not searched (no newline after the last line).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "merged {} of {} shards of {}",
            self.shards_merged,
            self.shard_count,
            self.search()
        )?;
        write!(f, "{}", self.summary)?;
        if let Some(against) = &self.against {
            let new: Vec<&MergedSignature> = self.new_signatures().collect();
            if new.is_empty() {
                write!(
                    f,
                    "\nno new failure signature: {} holds every one",
                    against.display()
                )?;
            } else {
                write!(
                    f,
                    "\nnew failure signatures (no fixture in {} holds them for {} under {}):",
                    against.display(),
                    self.scenario,
                    self.protocol
                )?;
                for signature in new {
                    write!(
                        f,
                        "\n  seed {}: {} runs: {}\n    why: {}",
                        signature.smallest_seed, signature.runs, signature.signature, signature.why
                    )?;
                }
            }
        }
        for shortfall in &self.shortfalls {
            write!(f, "\nnot searched: {shortfall}")?;
        }
        if !self.shortfalls.is_empty() {
            write!(
                f,
                "\nsearched {} of the search's {} seeds",
                self.summary.searched, self.summary.planned
            )?;
        }
        Ok(())
    }
}

/// Merges the shards' results found among `inputs` (NDJSON files, their progress files, or
/// directories holding them at any depth). Errors are one line each.
pub fn merge(inputs: &[PathBuf], options: &MergeOptions) -> Result<MergeSummary, String> {
    let plan = shards::check(shards::find(inputs)?, options.partial)?;
    let known = match &options.against {
        Some(directory) => Some(fixtures::known_signatures(directory, &plan.search)?),
        None => None,
    };
    let mut pending = match &options.out {
        Some(path) => {
            let cannot =
                |error: std::io::Error| format!("cannot write {}: {error}", path.display());
            if let Some(parent) = path
                .parent()
                .filter(|parent| !parent.as_os_str().is_empty())
            {
                std::fs::create_dir_all(parent).map_err(cannot)?;
            }
            Some(PendingFile::create(path).map_err(cannot)?)
        }
        None => None,
    };
    let joined = lines::join(
        &plan,
        pending
            .as_mut()
            .map(|pending| pending as &mut dyn std::io::Write),
    )?;
    let signatures: Vec<MergedSignature> = joined
        .signatures
        .iter()
        .map(|seen| MergedSignature {
            signature: seen.signature.clone(),
            verdict: seen.verdict,
            smallest_seed: seen.smallest_seed,
            runs: seen.runs,
            why: seen.why.clone(),
            new: known
                .as_ref()
                .is_none_or(|known| !known.contains(&seen.signature)),
        })
        .collect();
    let picks = pick_fixtures(&plan, &joined, &signatures, options)?;

    // Every check has passed: write.
    let mut notes = Vec::new();
    if let (Some(pending), Some(out)) = (pending, &options.out) {
        pending
            .commit()
            .map_err(|error| format!("cannot write {}: {error}", out.display()))?;
        notes.push(format!("wrote {} lines to {}", joined.lines, out.display()));
    }
    for directory in [&options.fixtures, &options.new_fixtures]
        .into_iter()
        .flatten()
    {
        std::fs::create_dir_all(directory).map_err(|error| {
            format!(
                "cannot create fixture directory {}: {error}",
                directory.display()
            )
        })?;
    }
    if let Some(out) = &options.out {
        write_progress(&plan, &joined, options, out, &mut notes)?;
    }
    for pick in &picks {
        let text = if plan.complete() {
            fixtures::with_merged_provenance(
                &pick.picked.text,
                &seeds_covered(plan.seeds, pick.shard),
                &seeds_covered(plan.seeds, Shard::WHOLE),
            )
        } else {
            pick.picked.text.clone()
        };
        let mut targets = Vec::new();
        if let Some(directory) = &options.fixtures {
            targets.push(directory);
        }
        if let (Some(directory), true) = (&options.new_fixtures, pick.new) {
            targets.push(directory);
        }
        for directory in targets {
            notes.push(match fixtures::keep(directory, &pick.picked, &text)? {
                KeptCopy::Wrote(path) => format!("wrote {}", path.display()),
                KeptCopy::AlreadyKept(path) => format!(
                    "kept {}: it already holds that shape with a seed no larger",
                    path.display()
                ),
            });
        }
    }
    let summary = MergeSummary {
        scenario: plan.search.scenario.clone(),
        protocol: plan.search.protocol.clone(),
        strategy: plan.search.strategy.clone(),
        seeds: plan.search.seeds.clone(),
        shard_count: plan.shard_count,
        shards_merged: plan.shards.len(),
        summary: SearchSummary {
            searched: plan
                .shards
                .iter()
                .map(|(_, files)| files.progress.completed)
                .sum(),
            planned: plan.planned(),
            tally: joined.tally,
            signatures: signatures
                .iter()
                .map(|merged| Signature {
                    signature: merged.signature.clone(),
                    smallest_seed: merged.smallest_seed,
                    runs: merged.runs,
                })
                .collect(),
            elapsed: shards_elapsed(&plan),
            // A merge cannot tally coverage: passing runs' classes are not in the NDJSON.
            coverage: None,
        },
        signatures,
        against: options.against.clone(),
        shortfalls: plan.shortfalls.clone(),
        notes,
    };
    if let Some(path) = &options.summary_markdown {
        append(path, &markdown::section(&summary))?;
    }
    Ok(summary)
}

/// A fixture the merge writes.
struct Pick {
    picked: Picked,
    /// Whether its signature is new (then `new_fixtures` gets a copy too).
    new: bool,
    /// The shard that kept it.
    shard: Shard,
}

/// The fixtures the merge writes, every one checked to be there before anything is written.
fn pick_fixtures(
    plan: &MergePlan,
    joined: &lines::Joined,
    signatures: &[MergedSignature],
    options: &MergeOptions,
) -> Result<Vec<Pick>, String> {
    if options.fixtures.is_none() && options.new_fixtures.is_none() {
        return Ok(Vec::new());
    }
    let mut indexes: BTreeMap<usize, FixtureIndex> = BTreeMap::new();
    let mut picks = Vec::new();
    for (seen, merged) in joined.signatures.iter().zip(signatures) {
        // A run whose runner panicked left nothing to replay, so no shard kept a fixture.
        if seen.runner_panic || (options.fixtures.is_none() && !merged.new) {
            continue;
        }
        let wanted = Wanted::Failure {
            signature: seen.signature.clone(),
            seed: seen.smallest_seed,
        };
        let (shard, files) = &plan.shards[seen.shard];
        picks.push(Pick {
            picked: index_of(&mut indexes, plan, seen.shard)?.pick(&wanted, &files.name())?,
            new: merged.new,
            shard: *shard,
        });
    }
    if let (true, Some(_), Some((seed, slot))) = (
        plan.search.keep_passing,
        &options.fixtures,
        joined.smallest_passing,
    ) {
        let (shard, files) = &plan.shards[slot];
        picks.push(Pick {
            picked: index_of(&mut indexes, plan, slot)?
                .pick(&Wanted::Passing { seed }, &files.name())?,
            new: false,
            shard: *shard,
        });
    }
    let mut names: BTreeMap<&std::ffi::OsStr, &Picked> = BTreeMap::new();
    for Pick { picked, .. } in &picks {
        if let Some(other) = names.insert(&picked.file_name, picked) {
            return Err(format!(
                "two fixtures would be written as {}: {} and {}",
                Path::new(&picked.file_name).display(),
                other.from.display(),
                picked.from.display()
            ));
        }
    }
    Ok(picks)
}

/// The fixtures a shard (by its position in the plan) kept, read once.
fn index_of<'a>(
    indexes: &'a mut BTreeMap<usize, FixtureIndex>,
    plan: &MergePlan,
    slot: usize,
) -> Result<&'a FixtureIndex, String> {
    if let std::collections::btree_map::Entry::Vacant(entry) = indexes.entry(slot) {
        let files = &plan.shards[slot].1;
        let directory = files
            .progress
            .fixtures_directory(&files.ndjson)
            .ok_or_else(|| {
                format!(
                    "{} kept no fixtures (it was searched without --fixtures); merge without \
                     --fixtures and --new-fixtures",
                    files.name()
                )
            })?;
        entry.insert(FixtureIndex::read(&directory, &plan.search)?);
    }
    Ok(&indexes[&slot])
}

/// The wall time of all shards, added up: what one machine would have spent.
fn shards_elapsed(plan: &MergePlan) -> Duration {
    let seconds: f64 = plan
        .shards
        .iter()
        .map(|(_, files)| files.progress.elapsed_seconds)
        .sum();
    Duration::from_secs_f64(seconds.max(0.0))
}

/// The progress file of the merged NDJSON file: the search's, whole and finished, when every
/// seed was searched; none otherwise (a stale one is removed, so that it cannot vouch for
/// lines it did not count).
fn write_progress(
    plan: &MergePlan,
    joined: &lines::Joined,
    options: &MergeOptions,
    out: &Path,
    notes: &mut Vec<String>,
) -> Result<(), String> {
    let path = progress_path(out);
    if !plan.complete() {
        if path.exists() {
            std::fs::remove_file(&path)
                .map_err(|error| format!("cannot remove {}: {error}", path.display()))?;
            notes.push(format!(
                "removed {}: a partial merge is not one search's progress",
                path.display()
            ));
        }
        return Ok(());
    }
    let mut progress = plan.search.clone();
    progress.shard = Shard::WHOLE.to_string();
    progress.planned = plan.planned();
    progress.completed = plan.planned();
    progress.findings = joined.lines;
    progress.elapsed_seconds = shards_elapsed(plan).as_secs_f64();
    progress.fixtures = options
        .fixtures
        .as_deref()
        .map(|fixtures| fixtures_location(Some(out), fixtures));
    write_atomically(&path, &progress.to_json())
        .map_err(|error| format!("cannot write {}: {error}", path.display()))?;
    notes.push(format!("wrote {}", path.display()));
    Ok(())
}

/// Appends `text` to the file at `path`, creating it.
fn append(path: &Path, text: &str) -> Result<(), String> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .and_then(|mut file| file.write_all(text.as_bytes()))
        .map_err(|error| format!("cannot append to {}: {error}", path.display()))
}

#[cfg(test)]
mod tests;
