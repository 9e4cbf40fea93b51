//! `hangsim shrink`: deterministic, keeps the failure signature, never grows what it shrinks,
//! refuses what it cannot shrink; and the committed shrunk fixtures of the historic windows
//! replay strictly and still tell their window.

use std::path::{Path, PathBuf};

mod cli_support;

use cli_support::{hangsim, HISTORIC_WINDOWS};

use scenarios::fixture::{read_fixture, replay_fixture, Fixture};
use scenarios::shrink::{shrink, ShrinkOptions, ShrinkOutcome};

/// A small chaos hang under `yields` with seven forced yields: both the scenario passes and the
/// schedule passes have something to do.
const SMALL_HANG: &str =
    "chaos.master.yields.hang-endstreamsbysubscription-n-promise-22a0d43c.toml";

/// Enough candidate runs to accept some steps, few enough for a debug build.
const FEW_RUNS: usize = 40;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Fixture {
    read_fixture(&fixtures_dir().join(name)).unwrap_or_else(|error| panic!("{error}"))
}

fn shrink_small(max_runs: usize) -> (Fixture, ShrinkOutcome) {
    sim::quiet_simulation_panics();
    let original = fixture(SMALL_HANG);
    let options = ShrinkOptions {
        max_runs,
        origin: SMALL_HANG.into(),
    };
    let outcome = shrink(&original, &options).unwrap_or_else(|error| panic!("{error}"));
    (original, outcome)
}

/// The same fixture and budget give byte-identical shrunk fixtures, in one process and across
/// processes (the command line, twice).
#[test]
fn shrinking_is_deterministic() {
    let (_, first) = shrink_small(FEW_RUNS);
    let (_, second) = shrink_small(FEW_RUNS);
    assert_eq!(
        first.fixture.to_toml().unwrap(),
        second.fixture.to_toml().unwrap()
    );
    let directory = tempfile::tempdir().unwrap();
    let source = fixtures_dir().join(SMALL_HANG);
    let mut written = Vec::new();
    for name in ["one.toml", "two.toml"] {
        let out = directory.path().join(name);
        let (status, stdout, stderr) = hangsim(&[
            "shrink",
            source.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--max-runs",
            "10",
        ]);
        assert_eq!(status, 0, "{stdout}{stderr}");
        assert!(stdout.contains("non-default decisions"), "{stdout}");
        assert!(stdout.contains("removed: "), "{stdout}");
        written.push(std::fs::read(&out).unwrap());
    }
    assert_eq!(written[0], written[1]);
}

/// The shrunk fixture replays strictly, with the original's signature and verdict, names the
/// original, and is no bigger: events, faults, records and non-default decisions never grow,
/// and something shrank.
#[test]
fn shrinking_keeps_the_signature_and_never_grows() {
    let (original, outcome) = shrink_small(FEW_RUNS);
    let shrunk = &outcome.fixture;
    let replay = replay_fixture(shrunk);
    assert!(replay.matched(), "{:?}", replay.mismatches);
    assert_eq!(shrunk.signature, original.signature);
    assert_eq!(shrunk.expected, original.expected);
    assert_eq!(replay.record.signature, original.signature);
    assert_eq!(
        shrunk.provenance.shrunk_from.as_deref(),
        Some(SMALL_HANG),
        "{:?}",
        shrunk.provenance
    );
    let (before, after) = (outcome.before, outcome.after);
    assert!(after.events <= before.events, "{before:?} {after:?}");
    assert!(after.faults <= before.faults, "{before:?} {after:?}");
    assert!(after.records <= before.records, "{before:?} {after:?}");
    assert!(
        after.non_default_decisions <= before.non_default_decisions,
        "{before:?} {after:?}"
    );
    assert!(
        !outcome.steps.is_empty(),
        "nothing accepted in {FEW_RUNS} runs"
    );
    assert!(
        after
            .named()
            .iter()
            .zip(before.named())
            .any(|(a, b)| a.1 < b.1),
        "nothing shrank: {before:?} {after:?}"
    );
    assert!(outcome.runs <= FEW_RUNS);
    // The shrunk fixture reads back as it was written (the new provenance key included).
    assert_eq!(
        &Fixture::from_toml(&shrunk.to_toml().unwrap()).unwrap(),
        shrunk
    );
}

/// A fixture that passes, one that fails differently on replay and a malformed one are each
/// refused with one `error:` line and exit status 2, and nothing is written.
#[test]
fn what_cannot_be_shrunk_is_refused_in_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("out.toml");
    let passing = fixtures_dir().join("auth-crash.check-offer-drain.yields.pass.toml");
    let text = std::fs::read_to_string(fixtures_dir().join(SMALL_HANG)).unwrap();
    let different = directory.path().join("different.toml");
    std::fs::write(
        &different,
        text.replace(
            "signature = \"hang:",
            "signature = \"hang:SomethingElse#N@promise:x ",
        ),
    )
    .unwrap();
    let malformed = directory.path().join("malformed.toml");
    std::fs::write(&malformed, "format_version = 2\nnot a fixture [").unwrap();
    let cases: [(&Path, &str); 4] = [
        (&passing, "does not fail"),
        (&different, "does not replay as recorded"),
        (&malformed, "bad fixture"),
        (
            Path::new("/nonexistent/fixture.toml"),
            "cannot read fixture",
        ),
    ];
    for (path, expected) in cases {
        let (status, stdout, stderr) = hangsim(&[
            "shrink",
            path.to_str().unwrap(),
            "-o",
            out.to_str().unwrap(),
            "--max-runs",
            "5",
        ]);
        assert_eq!(status, 2, "{}: {stdout}{stderr}", path.display());
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error: "), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert!(!out.exists(), "{} wrote a fixture", path.display());
    }
}

/// The committed shrunk fixtures (tests/fixtures/shrunk/, one per historic window) replay
/// strictly, name their original, and their reports still tell the window's story. They are
/// replayed here rather than by tests/fixtures.rs, which reads tests/fixtures/ only.
#[test]
fn the_shrunk_historic_fixtures_replay_and_tell_their_window() {
    sim::quiet_simulation_panics();
    let directory = fixtures_dir().join("shrunk");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.unwrap().path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "no shrunk fixture in {}",
        directory.display()
    );
    let mut whys = Vec::new();
    for path in &paths {
        let shrunk = read_fixture(path).unwrap_or_else(|error| panic!("{error}"));
        let original = shrunk
            .provenance
            .shrunk_from
            .as_deref()
            .and_then(|from| from.split(',').next())
            .unwrap_or_else(|| panic!("{} does not name its original", path.display()));
        assert!(
            fixtures_dir().join(original).is_file(),
            "{}: its original {original} is not in tests/fixtures",
            path.display()
        );
        let outcome = replay_fixture(&shrunk);
        assert!(
            outcome.matched(),
            "{}: {:?}",
            path.display(),
            outcome.mismatches
        );
        let report = outcome.record.report.to_string();
        whys.extend(
            report
                .lines()
                .filter(|line| line.starts_with("why: "))
                .map(|line| format!("{} {line}", shrunk.protocol.name())),
        );
    }
    for (protocol, words) in HISTORIC_WINDOWS {
        assert!(
            whys.iter()
                .any(|why| why.starts_with(&format!("{protocol} ")) && why.contains(words)),
            "no shrunk {protocol} hang whose why says {words:?}:\n{}",
            whys.join("\n")
        );
    }
}
