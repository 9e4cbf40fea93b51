//! Tests are data: every fixture in `tests/fixtures/` is replayed from its decision log and
//! checked against its verdict and trace hash. A fixture is added by `hangsim search
//! --fixtures tests/fixtures` (one per failure signature, smallest seed) or `hangsim run ...
//! --write-fixture FILE`; nothing here needs to change when one is.

use std::path::PathBuf;

mod cli_support;

use cli_support::HISTORIC_WINDOWS;

use consumer::ShutdownProtocol;
use scenarios::fixture::{read_fixture, replay_fixture, Fixture};
use scenarios::VerdictKind;

/// The fixture files, sorted, read; fails loudly when there is none (an empty directory would
/// otherwise pass silently).
fn fixtures() -> Vec<(PathBuf, Fixture)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .collect();
    paths.sort();
    assert!(
        !paths.is_empty(),
        "{} holds no fixture: the replay tests would prove nothing",
        directory.display()
    );
    paths
        .into_iter()
        .map(|path| {
            let fixture = read_fixture(&path).unwrap_or_else(|error| panic!("{error}"));
            (path, fixture)
        })
        .collect()
}

/// Every committed fixture replays strictly (the check `hangsim replay` makes): its expected
/// verdict, trace hash and signature, its whole decision log and nothing more, every decision
/// one its strategy could have taken.
#[test]
fn every_fixture_replays_to_its_verdict_and_trace_hash() {
    sim::quiet_simulation_panics();
    let mut mismatches = Vec::new();
    for (path, fixture) in fixtures() {
        let outcome = replay_fixture(&fixture);
        if !outcome.matched() {
            let differences: Vec<String> =
                outcome.mismatches.iter().map(|m| m.to_string()).collect();
            mismatches.push(format!(
                "{}: {}\n{}",
                path.display(),
                differences.join("; "),
                outcome.record.report
            ));
        }
    }
    assert!(
        mismatches.is_empty(),
        "{} fixtures did not replay:\n{}",
        mismatches.len(),
        mismatches.join("\n")
    );
}

/// Each fixture replays identically twice in one process: verdict, trace hash, decisions and
/// report.
#[test]
fn every_fixture_replays_identically_twice_in_one_process() {
    sim::quiet_simulation_panics();
    for (path, fixture) in fixtures() {
        let first = replay_fixture(&fixture).record;
        let second = replay_fixture(&fixture).record;
        assert_eq!(first.verdict, second.verdict, "{}", path.display());
        assert_eq!(first.trace_hash, second.trace_hash, "{}", path.display());
        assert_eq!(first.decisions, second.decisions, "{}", path.display());
        assert_eq!(first.report, second.report, "{}", path.display());
    }
}

/// A fixture's replay takes every decision from its log: the log it records is the log it
/// was given, without divergence.
#[test]
fn every_fixture_replays_along_its_whole_decision_log() {
    sim::quiet_simulation_panics();
    for (path, fixture) in fixtures() {
        let record = replay_fixture(&fixture).record;
        assert!(!record.replay_diverged(), "{} diverged", path.display());
        assert_eq!(record.decisions, fixture.decisions, "{}", path.display());
    }
}

/// The committed fixtures hold an `auth-crash` run for every protocol, and a passing one for
/// every protocol that can pass it: `master` and `race-only` hung on every `auth-crash` seed
/// searched (0..2000 under `yields`, `random` and `pct:3`), so they have hang fixtures only.
#[test]
fn there_is_an_auth_crash_fixture_per_protocol_and_a_passing_one_where_possible() {
    let all = fixtures();
    let always_hang = [ShutdownProtocol::Master, ShutdownProtocol::RaceOnly];
    for protocol in ShutdownProtocol::ALL {
        let kinds: Vec<VerdictKind> = all
            .iter()
            .filter(|(_, fixture)| fixture.scenario == "auth-crash" && fixture.protocol == protocol)
            .map(|(_, fixture)| fixture.expected.kind)
            .collect();
        assert!(!kinds.is_empty(), "no auth-crash fixture for {protocol}");
        if always_hang.contains(&protocol) {
            assert!(
                kinds.contains(&VerdictKind::Hang),
                "no hang fixture for {protocol}"
            );
        } else {
            assert!(
                kinds.contains(&VerdictKind::Pass),
                "no passing auth-crash fixture for {protocol}"
            );
        }
    }
}

/// Every hang fixture, replayed, has a report that says why nobody will answer (a `why:` line),
/// and at least one fixture of each historic window is there: the command offered after the last
/// drain (check-offer-drain under `pct:3`), the race loser waiting on `runloop_done` (the racing
/// protocols' graceful end), and the command offered after the runloop ended (`master`).
#[test]
fn every_hang_fixture_says_why_and_the_historic_windows_are_kept() {
    sim::quiet_simulation_panics();
    let mut whys = Vec::new();
    for (path, fixture) in fixtures() {
        if fixture.expected.kind != VerdictKind::Hang {
            continue;
        }
        let record = replay_fixture(&fixture).record;
        let report = record.report.to_string();
        let why: Vec<&str> = report
            .lines()
            .filter(|line| line.starts_with("why: ") && line.len() > "why: ".len())
            .collect();
        assert!(
            !why.is_empty(),
            "{}: no why line:\n{report}",
            path.display()
        );
        whys.extend(
            why.into_iter()
                .map(|line| format!("{} {} {line}", fixture.scenario, fixture.protocol.name())),
        );
    }
    for (protocol, words) in HISTORIC_WINDOWS {
        assert!(
            whys.iter()
                .any(|why| why.contains(&format!(" {protocol} ")) && why.contains(words)),
            "no {protocol} hang whose why says {words:?}:\n{}",
            whys.join("\n")
        );
    }
}
