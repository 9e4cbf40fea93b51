//! Where a search keeps its fixtures: one file per failure signature (and one passing run),
//! keeping the smallest seed.

use std::path::{Path, PathBuf};

use consumer::ShutdownProtocol;
use sim::trace::TraceHash;
use sim::StrategyChoice;

use crate::fixture::{self, Fixture, Provenance};
use crate::verdict::RunRecord;

/// A file-name-safe rendering: lower case letters, digits and single dashes, at most `limit`.
fn slug(text: &str, limit: usize) -> String {
    let mut out = String::new();
    for c in text.chars() {
        if out.len() >= limit {
            break;
        }
        if c.is_ascii_alphanumeric() {
            out.push(c.to_ascii_lowercase());
        } else if !out.ends_with('-') && !out.is_empty() {
            out.push('-');
        }
    }
    out.trim_end_matches('-').to_string()
}

/// Where the fixture of a failure shape (or the passing fixture) of a search lives:
/// `<scenario>.<protocol>.<strategy>.<signature>.toml`, the signature as a short slug and 32
/// bits of its hash in full (the trace hash's mixing function, which is pinned).
pub fn fixture_path(
    directory: &Path,
    scenario: &str,
    protocol: ShutdownProtocol,
    strategy: &StrategyChoice,
    signature: &str,
) -> PathBuf {
    let shape = if signature == "pass" {
        "pass".to_string()
    } else {
        let mut hash = TraceHash::default();
        hash.text(signature);
        format!("{}-{:08x}", slug(signature, 40), hash.value() & 0xffff_ffff)
    };
    directory.join(format!(
        "{}.{}.{}.{shape}.toml",
        scenario,
        protocol.name(),
        slug(&strategy.to_string(), 20)
    ))
}

/// What [`keep_fixture`] did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Kept {
    /// It wrote the fixture here.
    Wrote(PathBuf),
    /// The directory already holds this shape with a seed no larger.
    AlreadyKept,
    /// It replaced an unreadable file here; the text says what was wrong with it.
    Replaced(PathBuf, String),
}

/// Keeps `record` as a fixture unless the directory already holds one of the same shape with a
/// seed no larger.
pub fn keep_fixture(
    directory: &Path,
    record: &RunRecord,
    provenance: &Provenance,
) -> Result<Kept, String> {
    let path = fixture_path(
        directory,
        record.spec.scenario.name(),
        record.spec.protocol,
        &record.spec.strategy,
        &record.signature,
    );
    let mut replaced = None;
    if path.exists() {
        match fixture::read_fixture(&path) {
            Ok(existing)
                if existing.signature == record.signature && existing.seed <= record.spec.seed =>
            {
                return Ok(Kept::AlreadyKept);
            }
            Ok(_) => {}
            Err(error) => replaced = Some(error),
        }
    }
    let fixture = Fixture::from_record(record, provenance.clone());
    fixture::write_fixture(&path, &fixture)
        .map_err(|error| format!("cannot write fixture {}: {error}", path.display()))?;
    Ok(match replaced {
        Some(error) => Kept::Replaced(path, error),
        None => Kept::Wrote(path),
    })
}
