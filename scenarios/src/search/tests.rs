//! In-process tests of the search: results in seed order whatever the jobs, resume after a
//! stop (clean, torn, or with files that lost findings), fixtures per signature.

use std::path::Path;

use super::*;

fn plan(protocol: ShutdownProtocol, seeds: &str) -> SearchPlan {
    SearchPlan {
        deadline: None,
        scenario: crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
        protocol,
        strategy: StrategyChoice::default(),
        seeds: seeds.parse().unwrap(),
        shard: Shard::WHOLE,
    }
}

fn options(out: Option<&Path>) -> SearchOptions {
    SearchOptions {
        out: out.map(Path::to_path_buf),
        ..SearchOptions::new("2000-01-01")
    }
}

/// Everything about a summary but its wall time.
fn without_time(summary: &SearchSummary) -> (u64, u64, Tally, Vec<Signature>) {
    (
        summary.searched,
        summary.planned,
        summary.tally,
        summary.signatures.clone(),
    )
}

/// Records the first run of each signature, by seed.
#[derive(Default)]
struct Heard {
    firsts: Vec<u64>,
    notes: Vec<String>,
}

impl SearchObserver for Heard {
    fn first_of_signature(&mut self, record: &RunRecord) {
        self.firsts.push(record.spec.seed);
    }
    fn progress(&mut self, _done: u64, _total: u64, _failing: u64) {}
    fn note(&mut self, message: &str) {
        self.notes.push(message.to_string());
    }
}

/// The summary, the NDJSON lines and the first runs of each signature do not depend on the
/// number of jobs.
#[test]
fn results_do_not_depend_on_jobs() {
    let directory = tempfile::tempdir().unwrap();
    let mut results = Vec::new();
    for jobs in [1, 2] {
        let out = directory.path().join(format!("jobs{jobs}.ndjson"));
        let mut heard = Heard::default();
        let summary = search(
            &plan(ShutdownProtocol::CheckThenRace, "0..12"),
            &SearchOptions {
                jobs,
                ..options(Some(&out))
            },
            &mut heard,
        )
        .unwrap();
        results.push((
            without_time(&summary),
            std::fs::read_to_string(&out).unwrap(),
            heard.firsts,
        ));
    }
    assert_eq!(results[0], results[1]);
    assert_eq!(results[0].0 .0, 12);
}

/// Every NDJSON line is a finding of a failing seed, in seed order, carrying its report.
#[test]
fn ndjson_lines_are_findings_with_their_reports() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("found.ndjson");
    let summary = search(
        &plan(ShutdownProtocol::Master, "3..6"),
        &options(Some(&out)),
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(summary.tally.of(VerdictKind::Hang), 3);
    let text = std::fs::read_to_string(&out).unwrap();
    let findings: Vec<Finding> = text
        .lines()
        .map(|l| Finding::from_line(l).unwrap())
        .collect();
    assert_eq!(
        findings.iter().map(|f| f.seed).collect::<Vec<_>>(),
        [3, 4, 5]
    );
    for finding in &findings {
        assert_eq!(finding.verdict, VerdictKind::Hang);
        assert!(finding.report.hang.is_some());
        assert_eq!(finding.why, finding.report.why());
        assert!(
            finding.why.contains("RemoveSubscription"),
            "{}",
            finding.why
        );
    }
}

/// A search stopped by `max_seeds` and resumed gives the same NDJSON and summary as one that
/// ran through; a torn line past the progress mark (a full disk, a kill) is dropped like any
/// line past it.
#[test]
fn a_resumed_search_neither_repeats_nor_loses_findings() {
    let directory = tempfile::tempdir().unwrap();
    let whole = directory.path().join("whole.ndjson");
    let full = search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &options(Some(&whole)),
        &mut Quiet,
    )
    .unwrap();
    let parts = directory.path().join("parts.ndjson");
    let mut first_part = options(Some(&parts));
    first_part.max_seeds = Some(4);
    search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &first_part,
        &mut Quiet,
    )
    .unwrap();
    // A torn line past the mark, as a write that failed halfway leaves it.
    let mut text = std::fs::read_to_string(&parts).unwrap();
    text.push_str("{\"seed\":7,\"scen");
    std::fs::write(&parts, text).unwrap();
    let mut heard = Heard::default();
    let resumed = search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &SearchOptions {
            resume: true,
            ..options(Some(&parts))
        },
        &mut heard,
    )
    .unwrap();
    assert_eq!(without_time(&resumed), without_time(&full));
    assert_eq!(
        std::fs::read_to_string(&parts).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
    assert!(
        heard
            .notes
            .iter()
            .any(|note| note.contains("past the progress mark")),
        "{:?}",
        heard.notes
    );
}

/// A resume refuses, in one line, what would lose findings: a deleted NDJSON file with its
/// progress file left, an NDJSON file with fewer lines than the progress file counts, and the
/// progress file of another search.
#[test]
fn a_resume_refuses_files_that_lost_findings() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("found.ndjson");
    let mut first_part = options(Some(&out));
    first_part.max_seeds = Some(3);
    search(
        &plan(ShutdownProtocol::Master, "0..10"),
        &first_part,
        &mut Quiet,
    )
    .unwrap();
    let resume = SearchOptions {
        resume: true,
        ..options(Some(&out))
    };
    let kept = std::fs::read_to_string(&out).unwrap();
    assert_eq!(kept.lines().count(), 3);

    let cut: String = kept
        .lines()
        .take(2)
        .map(|line| format!("{line}\n"))
        .collect();
    std::fs::write(&out, cut).unwrap();
    let error = search(
        &plan(ShutdownProtocol::Master, "0..10"),
        &resume,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(error.contains("holds 2 whole lines"), "{error}");
    assert!(!error.contains('\n'));

    std::fs::remove_file(&out).unwrap();
    let error = search(
        &plan(ShutdownProtocol::Master, "0..10"),
        &resume,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(error.contains("is gone"), "{error}");

    std::fs::write(&out, kept).unwrap();
    let error = search(
        &plan(ShutdownProtocol::Master, "0..11"),
        &resume,
        &mut Quiet,
    )
    .unwrap_err();
    assert!(error.contains("records another search"), "{error}");
}

/// Stale temporary files of the NDJSON and progress files (left by a killed search) are
/// removed when a search starts.
#[test]
fn stale_temporary_files_are_cleaned_up() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("found.ndjson");
    let stale = [
        directory.path().join(".found.ndjson.progress.tmp12345"),
        directory.path().join(".found.ndjson.x1y2z3.tmp"),
    ];
    for path in &stale {
        std::fs::write(path, "half").unwrap();
    }
    search(
        &plan(ShutdownProtocol::ClosedQueue, "0..2"),
        &options(Some(&out)),
        &mut Quiet,
    )
    .unwrap();
    for path in &stale {
        assert!(!path.exists(), "{} is still there", path.display());
    }
}

/// Fixtures: one per signature, with the smallest seed, also when an earlier search kept a
/// larger one and when a later one finds a larger one; and one passing fixture with
/// `keep_passing`.
#[test]
fn fixtures_keep_the_smallest_seed_per_signature() {
    let directory = tempfile::tempdir().unwrap();
    let fixtures = directory.path().to_path_buf();
    let keep = |protocol: ShutdownProtocol, seeds: &str| {
        search(
            &plan(protocol, seeds),
            &SearchOptions {
                fixtures: Some(fixtures.clone()),
                keep_passing: true,
                ..options(None)
            },
            &mut Quiet,
        )
        .unwrap()
    };
    let kept = || {
        let mut kept: Vec<(String, u64)> = std::fs::read_dir(&fixtures)
            .unwrap()
            .map(|entry| {
                let fixture = crate::fixture::read_fixture(&entry.unwrap().path()).unwrap();
                (fixture.signature, fixture.seed)
            })
            .collect();
        kept.sort();
        kept
    };
    let signature = keep(ShutdownProtocol::Master, "5..8").signatures[0]
        .signature
        .clone();
    assert_eq!(kept(), [(signature.clone(), 5)]);
    keep(ShutdownProtocol::Master, "2..8");
    assert_eq!(kept(), [(signature.clone(), 2)]);
    keep(ShutdownProtocol::Master, "3..8");
    assert_eq!(kept(), [(signature.clone(), 2)]);
    keep(ShutdownProtocol::ClosedQueue, "4..6");
    assert_eq!(kept(), [(signature, 2), ("pass".to_string(), 4)]);
}

/// A search stopped by its time budget has saved its progress at the stop, says so, and a
/// resume finishes it with the same NDJSON and summary as a search that ran through.
#[test]
fn a_time_budget_stops_a_search_that_resumes_to_the_same_result() {
    let directory = tempfile::tempdir().unwrap();
    let whole = directory.path().join("whole.ndjson");
    let full = search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &options(Some(&whole)),
        &mut Quiet,
    )
    .unwrap();
    let parts = directory.path().join("parts.ndjson");
    let mut heard = Heard::default();
    let stopped = search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &SearchOptions {
            time_budget: Some(Duration::from_nanos(1)),
            ..options(Some(&parts))
        },
        &mut heard,
    )
    .unwrap();
    assert_eq!((stopped.searched, stopped.planned), (1, 10));
    let saved: Progress =
        serde_json::from_str(&std::fs::read_to_string(progress_path(&parts)).unwrap()).unwrap();
    assert_eq!((saved.completed, saved.planned), (1, 10));
    assert!(
        heard.notes.iter().any(|note| note.contains("time budget")),
        "{:?}",
        heard.notes
    );
    let resumed = search(
        &plan(ShutdownProtocol::CheckThenRace, "0..10"),
        &SearchOptions {
            resume: true,
            ..options(Some(&parts))
        },
        &mut Quiet,
    )
    .unwrap();
    assert_eq!(without_time(&resumed), without_time(&full));
    assert_eq!(
        std::fs::read_to_string(&parts).unwrap(),
        std::fs::read_to_string(&whole).unwrap()
    );
}

/// The progress file says what the search is and where its fixtures went (relative to the
/// NDJSON file's directory), and a resume that would keep fixtures elsewhere is refused.
#[test]
fn the_progress_file_names_the_search_and_its_fixtures() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("found.ndjson");
    let with_fixtures = |fixtures: &str, resume: bool| SearchOptions {
        fixtures: Some(directory.path().join(fixtures)),
        resume,
        max_seeds: Some(2),
        ..options(Some(&out))
    };
    let shard_plan = SearchPlan {
        shard: Shard { index: 1, count: 3 },
        ..plan(ShutdownProtocol::Master, "0..10")
    };
    search(&shard_plan, &with_fixtures("kept", false), &mut Quiet).unwrap();
    let saved: Progress =
        serde_json::from_str(&std::fs::read_to_string(progress_path(&out)).unwrap()).unwrap();
    assert_eq!(saved.format, progress::RESULTS_FORMAT);
    assert_eq!(saved.hangsim, progress::hangsim_version());
    assert_eq!(saved.fixture_format, crate::fixture::FORMAT_VERSION);
    assert_eq!(saved.shard, "1/3");
    assert_eq!((saved.completed, saved.planned, saved.findings), (2, 3, 2));
    assert_eq!(saved.fixtures.as_deref(), Some("kept"));
    assert!(!saved.keep_passing);
    let error = search(&shard_plan, &with_fixtures("elsewhere", true), &mut Quiet).unwrap_err();
    assert!(error.contains("resume with the same --fixtures"), "{error}");
    search(&shard_plan, &with_fixtures("kept", true), &mut Quiet).unwrap();
}

/// With `--coverage`, the summary tallies every seed's classes and each NDJSON line records
/// its run's; without it, neither.
#[test]
fn coverage_is_tallied_and_recorded_only_when_asked() {
    let directory = tempfile::tempdir().unwrap();
    let out = directory.path().join("found.ndjson");
    let with = search(
        &plan(ShutdownProtocol::Master, "0..4"),
        &SearchOptions {
            coverage: true,
            ..options(Some(&out))
        },
        &mut Quiet,
    )
    .unwrap();
    let tally = with.coverage.expect("asked for");
    assert_eq!(tally.runs, 4);
    // master's runloop leaves no end step: every hanging run offered after its last take.
    assert_eq!(
        tally.of(crate::coverage::OrderingClass::NoEndStep),
        (with.tally.failing(), Some(0))
    );
    let text = std::fs::read_to_string(&out).unwrap();
    let line = text.lines().next().expect("master hangs on seed 0");
    let finding = Finding::from_line(line).unwrap();
    let classes = finding.classes.expect("recorded with --coverage");
    assert!(
        classes.contains(&crate::coverage::OrderingClass::NoEndStep),
        "{classes:?}"
    );
    let without = search(
        &plan(ShutdownProtocol::Master, "0..4"),
        &options(Some(&out)),
        &mut Quiet,
    )
    .unwrap();
    assert!(without.coverage.is_none());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("classes"), "{text}");
}
