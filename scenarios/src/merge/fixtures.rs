//! Fixtures in a merge: picked among the shards' files by (signature, seed), and the failure
//! signatures a baseline directory (`--against tests/fixtures`) already holds.
//!
//! A merge does not rebuild fixtures: it copies the file a shard kept for a signature's
//! smallest seed, so whatever the fixture format holds (more keys, an embedded scenario) goes
//! through untouched. One line changes, when every shard is merged: the provenance's `seeds`,
//! from the shard's (`0..100 shard 1/4`) to the whole search's (`0..100`), so that the file is
//! the one a single search of every seed would have kept.

use std::collections::{BTreeMap, BTreeSet};
use std::ffi::OsString;
use std::path::{Path, PathBuf};

use crate::atomic::write_atomically;
use crate::fixture::{read_bounded, Fixture, MAX_FIXTURE_BYTES};
use crate::search::Progress;
use crate::verdict::VerdictKind;

/// How many files a fixture directory read by a merge may hold: a limit on the reading.
pub const MAX_FIXTURE_FILES: usize = 100_000;

/// Which fixture a merge wants from a shard.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Wanted {
    /// The fixture of a failure signature at its smallest seed.
    Failure { signature: String, seed: u64 },
    /// The fixture of the smallest passing seed.
    Passing { seed: u64 },
}

/// A fixture file picked for the merged result.
#[derive(Clone, Debug)]
pub struct Picked {
    /// The shard's file it came from, and its name (the merged copy keeps it).
    pub from: PathBuf,
    pub file_name: OsString,
    pub wanted: Wanted,
    pub text: String,
}

/// The fixtures of one search in one shard's fixture directory, by what they are.
pub struct FixtureIndex {
    directory: PathBuf,
    by_key: BTreeMap<Wanted, (PathBuf, String)>,
}

/// The regular `*.toml` files of `directory` (not its temporaries), at most
/// [`MAX_FIXTURE_FILES`], in name order.
fn toml_files(directory: &Path) -> Result<Vec<PathBuf>, String> {
    let cannot = |error: std::io::Error| format!("cannot read {}: {error}", directory.display());
    let mut files = Vec::new();
    for entry in std::fs::read_dir(directory).map_err(cannot)? {
        let entry = entry.map_err(cannot)?;
        let name = entry.file_name();
        let name = name.to_string_lossy();
        if name.starts_with('.') || !name.ends_with(".toml") {
            continue;
        }
        if !entry.file_type().map_err(cannot)?.is_file() {
            continue;
        }
        if files.len() == MAX_FIXTURE_FILES {
            return Err(format!(
                "{} holds more than {MAX_FIXTURE_FILES} fixture files",
                directory.display()
            ));
        }
        files.push(entry.path());
    }
    files.sort();
    Ok(files)
}

/// Reads a fixture file: its text and what it is. A file that is not a fixture is refused:
/// a shard's fixture directory holds only what searches wrote there, atomically.
fn read(path: &Path) -> Result<(String, Fixture), String> {
    let text = read_bounded(path, MAX_FIXTURE_BYTES)
        .map_err(|what| format!("cannot read fixture {}: {what}", path.display()))?;
    let fixture = Fixture::from_toml(&text)
        .map_err(|what| format!("bad fixture {}: {what}", path.display()))?;
    Ok((text, fixture))
}

/// Whether `fixture` was kept by the search `search` names.
fn of_search(fixture: &Fixture, search: &Progress) -> bool {
    fixture.scenario == search.scenario
        && fixture.protocol.name() == search.protocol
        && fixture.strategy.to_string() == search.strategy
}

impl FixtureIndex {
    /// Reads the fixture directory of a shard of `search`.
    pub fn read(directory: &Path, search: &Progress) -> Result<FixtureIndex, String> {
        if !directory.is_dir() {
            return Err(format!(
                "the fixture directory {} of a shard is not there",
                directory.display()
            ));
        }
        let mut by_key = BTreeMap::new();
        for path in toml_files(directory)? {
            let (text, fixture) = read(&path)?;
            if !of_search(&fixture, search) {
                continue;
            }
            let key = if fixture.expected.kind == VerdictKind::Pass {
                Wanted::Passing { seed: fixture.seed }
            } else {
                Wanted::Failure {
                    signature: fixture.signature.clone(),
                    seed: fixture.seed,
                }
            };
            by_key.insert(key, (path, text));
        }
        Ok(FixtureIndex {
            directory: directory.to_path_buf(),
            by_key,
        })
    }

    /// The fixture wanted, or why it is not there.
    pub fn pick(&self, wanted: &Wanted, shard: &str) -> Result<Picked, String> {
        let Some((path, text)) = self.by_key.get(wanted) else {
            let what = match wanted {
                Wanted::Failure { signature, seed } => {
                    format!("of signature {signature} at its smallest seed, {seed}")
                }
                Wanted::Passing { seed } => {
                    format!("of its smallest passing seed, {seed}")
                }
            };
            return Err(format!(
                "{shard} kept no fixture {what} in {}",
                self.directory.display()
            ));
        };
        Ok(Picked {
            from: path.clone(),
            file_name: path
                .file_name()
                .expect("a listed file has a name")
                .to_owned(),
            wanted: wanted.clone(),
            text: text.clone(),
        })
    }
}

/// `text` with its provenance's `seeds` changed from `shard_seeds` to `merged_seeds`, when it
/// says exactly that; otherwise `text` unchanged.
pub fn with_merged_provenance(text: &str, shard_seeds: &str, merged_seeds: &str) -> String {
    let wanted = format!("seeds = \"{shard_seeds}\"");
    let mut in_provenance = false;
    let mut changed = false;
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let bare = line.trim_end_matches(['\n', '\r']);
        if bare.starts_with('[') {
            in_provenance = bare == "[provenance]";
        }
        if in_provenance && !changed && bare == wanted {
            out.push_str(&format!("seeds = \"{merged_seeds}\""));
            out.push_str(&line[bare.len()..]);
            changed = true;
        } else {
            out.push_str(line);
        }
    }
    out
}

/// What [`keep`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KeptCopy {
    Wrote(PathBuf),
    /// The directory already holds this fixture's shape with a seed no larger.
    AlreadyKept(PathBuf),
}

/// Writes a picked fixture into `directory` under its name, unless the directory already holds
/// a fixture of the same signature there with a seed no larger (as a search keeps them).
pub fn keep(directory: &Path, picked: &Picked, text: &str) -> Result<KeptCopy, String> {
    let path = directory.join(&picked.file_name);
    if path.exists() {
        if let Ok((_, existing)) = read(&path) {
            let same_shape = match &picked.wanted {
                Wanted::Failure { signature, seed } => {
                    existing.signature == *signature && existing.seed <= *seed
                }
                Wanted::Passing { seed } => {
                    existing.expected.kind == VerdictKind::Pass && existing.seed <= *seed
                }
            };
            if same_shape {
                return Ok(KeptCopy::AlreadyKept(path));
            }
        }
    }
    write_atomically(&path, text)
        .map_err(|error| format!("cannot write fixture {}: {error}", path.display()))?;
    Ok(KeptCopy::Wrote(path))
}

/// The failure signatures that the fixtures in `directory` hold for the scenario and protocol
/// of `search`, whatever their strategy (a strategy is how a failure was found, not what it
/// is). Every `*.toml` file there must be a fixture.
pub fn known_signatures(directory: &Path, search: &Progress) -> Result<BTreeSet<String>, String> {
    if !directory.is_dir() {
        return Err(format!(
            "--against {} is not a directory of fixtures",
            directory.display()
        ));
    }
    let mut known = BTreeSet::new();
    for path in toml_files(directory)? {
        let (_, fixture) = read(&path)?;
        if fixture.scenario == search.scenario
            && fixture.protocol.name() == search.protocol
            && fixture.expected.kind != VerdictKind::Pass
        {
            known.insert(fixture.signature);
        }
    }
    Ok(known)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the provenance's `seeds` line is changed, and only when it names the shard.
    #[test]
    fn only_the_provenance_seeds_line_changes() {
        let text = "seed = 3\nseeds = \"0..8 shard 1/4\"\n\n[provenance]\nfound_by = \"search\"\n\
                    seeds = \"0..8 shard 1/4\"\ndate = \"2000-01-01\"\n\n[params]\nseeds = \"0..8 shard 1/4\"\n";
        let merged = with_merged_provenance(text, "0..8 shard 1/4", "0..8");
        assert_eq!(
            merged,
            "seed = 3\nseeds = \"0..8 shard 1/4\"\n\n[provenance]\nfound_by = \"search\"\n\
             seeds = \"0..8\"\ndate = \"2000-01-01\"\n\n[params]\nseeds = \"0..8 shard 1/4\"\n"
        );
        assert_eq!(with_merged_provenance(text, "0..9 shard 1/4", "0..9"), text);
    }
}
