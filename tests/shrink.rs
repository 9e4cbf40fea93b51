//! `hangsim shrink`: deterministic, keeps the failure signature, never grows what it shrinks,
//! refuses what it cannot shrink; and the committed shrunk fixtures of the historic windows
//! replay strictly and still tell their window.

use std::path::{Path, PathBuf};

mod cli_support;

use cli_support::{hangsim, HISTORIC_WINDOWS};

use scenarios::fixture::{read_fixture, replay_fixture, Fixture};
use scenarios::shrink::{shrink, KeyedPhase, Reexpression, ShrinkOptions, ShrinkOutcome, StepKind};
use sim::StrategyChoice;

/// A small chaos hang under `yields` with seven forced yields: both the scenario passes and the
/// schedule passes have something to do.
const SMALL_HANG: &str =
    "chaos.master.yields.hang-endstreamsbysubscription-n-promise-22a0d43c.toml";

/// A small auth-crash hang under `pct:3` with a few dozen decisions, some not the default: its
/// schedule is shrunk under `log`.
const SMALL_PCT_HANG: &str =
    "auth-crash.master.pct-3.hang-addsubscription-n-promise-addsubscr-9cc55959.toml";

/// Every committed shrunk fixture of a PCT run has at most this fraction of its original's
/// non-default decisions (measured: see BENCHMARKS.md's shrink table; master's window keeps
/// none of 534, check-offer-drain's drain race 18 schedule entries of 675).
const MIN_DECISION_SHRINK_FACTOR: usize = 10;

/// check-offer-drain's drain race under `pct:3`: 675 non-default decisions among 250 fibers,
/// which the log passes cannot shrink far (a change to one decision shifts the others).
const DRAIN_RACE: &str =
    "commit-after-crash.check-offer-drain.pct-3.hang-removesubscription-n-promise-remove-ec022b42.toml";

/// Enough candidate runs to accept some steps, few enough for a debug build.
const FEW_RUNS: usize = 40;

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures")
}

fn fixture(name: &str) -> Fixture {
    read_fixture(&fixtures_dir().join(name)).unwrap_or_else(|error| panic!("{error}"))
}

fn shrink_small(max_runs: usize) -> (Fixture, ShrinkOutcome) {
    shrink_named(SMALL_HANG, max_runs)
}

fn shrink_named(name: &str, max_runs: usize) -> (Fixture, ShrinkOutcome) {
    sim::quiet_simulation_panics();
    let original = fixture(name);
    let options = ShrinkOptions {
        max_runs,
        origin: name.into(),
    };
    let outcome = shrink(&original, &options).unwrap_or_else(|error| panic!("{error}"));
    (original, outcome)
}

/// The decisions of a log other than the default (0: no forced yield, the oldest ready fiber);
/// under strategy `schedule`, its entries.
fn non_default(fixture: &Fixture) -> usize {
    if let Some(schedule) = &fixture.schedule {
        return schedule.len();
    }
    fixture
        .decisions
        .decisions()
        .iter()
        .filter(|&&decision| decision != 0)
        .count()
}

/// The strategy a shrunk PCT fixture names: `schedule` when decisions were left and keyed by
/// fiber, else `log`.
fn expected_strategy(outcome: &ShrinkOutcome) -> StrategyChoice {
    match outcome.keyed {
        KeyedPhase::Shrunk { .. } => StrategyChoice::Schedule,
        _ => StrategyChoice::Log,
    }
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

/// A `pct:3` fixture is shrunk twice to the same bytes, under `log` or, when decisions are
/// left, as a schedule keyed by fiber; and so is the drain race, whose schedule is keyed.
#[test]
fn shrinking_a_pct_fixture_is_deterministic() {
    for (name, runs) in [(SMALL_PCT_HANG, FEW_RUNS), (DRAIN_RACE, 200)] {
        let (_, first) = shrink_named(name, runs);
        let (_, second) = shrink_named(name, runs);
        assert_eq!(
            first.fixture.to_toml().unwrap(),
            second.fixture.to_toml().unwrap(),
            "{name}"
        );
        assert_eq!(first.fixture.strategy, expected_strategy(&first), "{name}");
    }
}

/// check-offer-drain's drain race, which the log passes leave with hundreds of non-default
/// decisions, is keyed by fiber and shrunk to a schedule of a few named entries (at most a
/// tenth of PCT's): it names `schedule` and `pct:3` as its original strategy, replays strictly
/// with the same signature, and its file carries one entry per line.
#[test]
fn a_drain_race_is_shrunk_as_a_schedule_keyed_by_fiber() {
    let (original, outcome) = shrink_named(DRAIN_RACE, 400);
    let KeyedPhase::Shrunk { before, after } = outcome.keyed else {
        panic!("not keyed: {}", outcome.keyed);
    };
    assert!(after < before, "{before} → {after}");
    let shrunk = &outcome.fixture;
    assert_eq!(shrunk.strategy, StrategyChoice::Schedule);
    assert_eq!(
        shrunk.provenance.original_strategy.as_deref(),
        Some("pct:3")
    );
    assert_eq!(non_default(shrunk), after);
    assert!(
        non_default(shrunk) * MIN_DECISION_SHRINK_FACTOR <= non_default(&original),
        "{} entries, the original {} non-default decisions",
        non_default(shrunk),
        non_default(&original)
    );
    assert!(outcome.steps.contains_key(&StepKind::DeleteEntries));
    let replay = replay_fixture(shrunk);
    assert!(replay.matched(), "{:?}", replay.mismatches);
    assert_eq!(replay.record.signature, original.signature);
    let text = shrunk.to_toml().unwrap();
    assert!(text.contains("strategy = \"schedule\""), "{text}");
    assert_eq!(
        text.lines()
            .filter(|line| line.starts_with("    \"at "))
            .count(),
        after
    );
    assert!(outcome.to_string().contains("keyed by fiber: "));
}

/// A `pct:3` fixture's schedule is re-expressed under `log` and shrunk: the shrunk fixture names
/// `log` (or `schedule`, when decisions were left and keyed) and the original strategy, replays
/// strictly with the same signature and as many `why:`
/// lines (one per stuck command; their wording may change with the schedule), and
/// has fewer non-default decisions than PCT's schedule had.
#[test]
fn a_pct_schedule_is_shrunk_under_log() {
    let (original, outcome) = shrink_named(SMALL_PCT_HANG, FEW_RUNS);
    assert_eq!(original.strategy, StrategyChoice::Pct(3));
    assert_eq!(
        outcome.reexpression,
        Reexpression::UnderLog {
            original: StrategyChoice::Pct(3)
        }
    );
    let shrunk = &outcome.fixture;
    assert_eq!(shrunk.strategy, expected_strategy(&outcome));
    assert_eq!(
        shrunk.provenance.original_strategy.as_deref(),
        Some("pct:3")
    );
    let replay = replay_fixture(shrunk);
    assert!(replay.matched(), "{:?}", replay.mismatches);
    assert_eq!(replay.record.signature, original.signature);
    let why = |report: &str| -> Vec<String> {
        report
            .lines()
            .filter(|line| line.starts_with("why: "))
            .map(|line| line.split(" at ").next().unwrap_or(line).to_string())
            .collect()
    };
    let original_replay = replay_fixture(&original);
    assert!(
        !why(&original_replay.record.report.to_string()).is_empty(),
        "the original has no why"
    );
    assert_eq!(
        why(&replay.record.report.to_string()).len(),
        why(&original_replay.record.report.to_string()).len()
    );
    assert!(
        non_default(&original) > 0,
        "nothing to shrink in {SMALL_PCT_HANG}"
    );
    assert!(
        non_default(shrunk) < non_default(&original),
        "{} non-default decisions, the original {}",
        non_default(shrunk),
        non_default(&original)
    );
    assert_eq!(outcome.after.non_default_decisions, non_default(shrunk));
    assert!(outcome.steps.keys().any(|kind| matches!(
        kind,
        StepKind::ZeroDecisions
            | StepKind::OneDecision
            | StepKind::LowerDecision
            | StepKind::DeleteDecisions
            | StepKind::SortDecisions
            | StepKind::DeleteEntries
    )));
}

/// `search` and `bench` refuse `log` and `schedule` (one fixed schedule for every seed) with
/// one `error:` line and exit 2; `run` takes `log` (every decision the default) and says so in
/// its report.
#[test]
fn log_is_refused_by_search_and_bench_and_taken_by_run() {
    for strategy in ["log", "schedule"] {
        let refusals: [&[&str]; 2] = [
            &[
                "search",
                "--scenario",
                "auth-crash",
                "--protocol",
                "master",
                "--seeds",
                "0..3",
                "--strategy",
                strategy,
            ],
            &[
                "bench",
                "--protocol",
                "master",
                "--strategy",
                strategy,
                "--windows",
                "1",
                "--window-size",
                "1",
                "--throughput-seeds",
                "1",
                "--throughput-repeats",
                "1",
                "--memory-first",
                "1",
                "--memory-seeds",
                "1",
            ],
        ];
        for arguments in refusals {
            let (status, stdout, stderr) = hangsim(arguments);
            assert_eq!(status, 2, "{arguments:?}: {stdout}{stderr}");
            assert_eq!(stderr.lines().count(), 1, "{stderr}");
            assert!(stderr.starts_with("error: "), "{stderr}");
            assert!(
                stderr.contains(&format!(
                    "strategy {strategy} gives every seed the same schedule"
                )),
                "{stderr}"
            );
        }
    }
    let (status, stdout, stderr) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seed",
        "1",
        "--strategy",
        "log",
        "--no-scenario",
    ]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stdout.contains("(log scheduling)"), "{stdout}");
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
    let mut explicit = 0;
    let mut far_fewer = 0;
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
        let original = fixture(original);
        if matches!(original.strategy, StrategyChoice::Pct(_)) {
            // A PCT schedule is shrunk as an explicit one (a log, or a schedule keyed by fiber
            // when decisions are left): a small fraction of its non-default decisions is left.
            explicit += 1;
            assert!(
                matches!(
                    shrunk.strategy,
                    StrategyChoice::Log | StrategyChoice::Schedule
                ),
                "{}: {}",
                path.display(),
                shrunk.strategy
            );
            assert_eq!(
                shrunk.provenance.original_strategy,
                Some(original.strategy.to_string()),
                "{}",
                path.display()
            );
            assert!(
                non_default(&shrunk) < non_default(&original),
                "{}: {} non-default decisions, the original {}",
                path.display(),
                non_default(&shrunk),
                non_default(&original)
            );
            if non_default(&shrunk) * MIN_DECISION_SHRINK_FACTOR <= non_default(&original) {
                far_fewer += 1;
            }
        }
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
    assert!(explicit > 0, "no shrunk fixture of a PCT run");
    assert_eq!(
        far_fewer, explicit,
        "a shrunk PCT schedule keeps more than 1/{MIN_DECISION_SHRINK_FACTOR} of its non-default decisions"
    );
    for (protocol, words) in HISTORIC_WINDOWS {
        assert!(
            whys.iter()
                .any(|why| why.starts_with(&format!("{protocol} ")) && why.contains(words)),
            "no shrunk {protocol} hang whose why says {words:?}:\n{}",
            whys.join("\n")
        );
    }
}
