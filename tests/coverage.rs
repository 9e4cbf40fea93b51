//! Interleaving coverage on the historic windows: each committed hang fixture of a historic
//! window, replayed, reaches the ordering class that names its window.

use std::path::PathBuf;

use scenarios::coverage::OrderingClass;
use scenarios::fixture::{read_fixture, replay_fixture};
use scenarios::VerdictKind;

/// The classes of every committed hang fixture whose report's `why:` says
/// `words`, of `protocol`; at least one such fixture must exist.
fn classes_of_window(protocol: &str, words: &str) -> Vec<(String, Vec<OrderingClass>)> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)
        .unwrap_or_else(|error| panic!("cannot read {}: {error}", directory.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| {
                    name.contains(&format!(".{protocol}.")) && name.contains(".hang-")
                })
        })
        .collect();
    paths.sort();
    let mut found = Vec::new();
    for path in paths {
        let fixture = read_fixture(&path).unwrap_or_else(|error| panic!("{error}"));
        if fixture.expected.kind != VerdictKind::Hang {
            continue;
        }
        let record = replay_fixture(&fixture).record;
        if record.report.why().contains(words) {
            found.push((path.display().to_string(), record.coverage.classes()));
        }
    }
    assert!(
        !found.is_empty(),
        "no {protocol} hang fixture whose why says {words:?}"
    );
    found
}

fn assert_window(protocol: &str, words: &str, class: OrderingClass) {
    sim::quiet_simulation_panics();
    for (path, classes) in classes_of_window(protocol, words) {
        assert!(
            classes.contains(&class),
            "{path}: classes {classes:?}, expected {class}"
        );
    }
}

/// check-offer-drain's window: the command offered after the runloop's last drain.
#[test]
fn the_offer_after_the_last_drain_is_classed_so() {
    assert_window(
        "check-offer-drain",
        "the runloop's last drain of command_queue, then",
        OrderingClass::AfterLastDrain,
    );
}

/// master's window: the command offered the instant the runloop ended, which leaves no step.
#[test]
fn the_offer_after_masters_runloop_ended_has_no_end_step() {
    assert_window(
        "master",
        "the instant the runloop ended",
        OrderingClass::NoEndStep,
    );
}
