//! In-process tests of merging: four shards merged equal one search of every seed, byte for
//! byte but for wall time; every refusal; partial merges; novelty against a baseline; the
//! printed and Markdown summaries.

use std::path::{Path, PathBuf};

use consumer::ShutdownProtocol;
use sim::StrategyChoice;

use super::*;
use crate::catalogue::Scenario;
use crate::search::{self, Quiet, SearchOptions, SearchPlan, Tally};

/// A search of `scenario` under `protocol` with PCT, which finds several signatures in chaos.
fn plan(scenario: Scenario, protocol: ShutdownProtocol, seeds: &str, shard: Shard) -> SearchPlan {
    SearchPlan {
        deadline: None,
        scenario,
        protocol,
        strategy: "pct:3".parse::<StrategyChoice>().unwrap(),
        seeds: seeds.parse().unwrap(),
        shard,
    }
}

/// Searches `plan` into `directory/found.ndjson` with fixtures in `directory/fixtures`.
fn search_into(directory: &Path, plan: &SearchPlan, keep_passing: bool, max_seeds: Option<u64>) {
    std::fs::create_dir_all(directory).unwrap();
    search::search(
        plan,
        &SearchOptions {
            out: Some(directory.join("found.ndjson")),
            fixtures: Some(directory.join("fixtures")),
            keep_passing,
            max_seeds,
            ..SearchOptions::new("2000-01-01")
        },
        &mut Quiet,
    )
    .unwrap();
}

/// Searches every shard of `count` into `root/shard-K`.
fn search_shards(
    root: &Path,
    scenario: Scenario,
    protocol: ShutdownProtocol,
    seeds: &str,
    count: u64,
) {
    for index in 0..count {
        search_into(
            &root.join(format!("shard-{index}")),
            &plan(scenario.clone(), protocol, seeds, Shard { index, count }),
            true,
            None,
        );
    }
}

/// The files under `directory`, by path relative to it, with their bytes.
fn files(directory: &Path) -> Vec<(PathBuf, Vec<u8>)> {
    let mut found = Vec::new();
    let mut pending = vec![directory.to_path_buf()];
    while let Some(next) = pending.pop() {
        for entry in std::fs::read_dir(&next).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                pending.push(path);
            } else {
                let relative = path.strip_prefix(directory).unwrap().to_path_buf();
                found.push((relative, std::fs::read(&path).unwrap()));
            }
        }
    }
    found.sort();
    found
}

/// A progress file's text with its wall time set to zero.
fn without_time(text: &[u8]) -> search::Progress {
    let mut progress: search::Progress = serde_json::from_slice(text).unwrap();
    progress.elapsed_seconds = 0.0;
    progress
}

/// Copies a directory tree.
fn copy_tree(from: &Path, to: &Path) {
    for (relative, bytes) in files(from) {
        let target = to.join(relative);
        std::fs::create_dir_all(target.parent().unwrap()).unwrap();
        std::fs::write(target, bytes).unwrap();
    }
}

fn options_into(directory: &Path) -> MergeOptions {
    MergeOptions {
        out: Some(directory.join("found.ndjson")),
        fixtures: Some(directory.join("fixtures")),
        ..MergeOptions::default()
    }
}

/// Merging a search's four shards writes exactly what one search of every seed writes: the
/// same NDJSON bytes, the same progress file but for its wall time, the same fixture files
/// (the passing one too), and the same counts and signatures.
#[test]
fn four_shards_merged_equal_one_search_of_every_seed() {
    let root = tempfile::tempdir().unwrap();
    let (scenario, protocol, seeds) = (
        crate::catalogue::Scenario::builtin("chaos").unwrap(),
        ShutdownProtocol::CheckThenRace,
        "1..41",
    );
    let one = root.path().join("one");
    search_into(
        &one,
        &plan(scenario.clone(), protocol, seeds, Shard::WHOLE),
        true,
        None,
    );
    search_shards(
        &root.path().join("shards"),
        scenario.clone(),
        protocol,
        seeds,
        4,
    );
    let merged = root.path().join("merged");
    let summary = merge(&[root.path().join("shards")], &options_into(&merged)).unwrap();

    let (one_files, merged_files) = (files(&one), files(&merged));
    let names = |files: &[(PathBuf, Vec<u8>)]| -> Vec<PathBuf> {
        files.iter().map(|(path, _)| path.clone()).collect()
    };
    assert_eq!(names(&merged_files), names(&one_files));
    for ((path, one_bytes), (_, merged_bytes)) in one_files.iter().zip(&merged_files) {
        if path.ends_with("found.ndjson.progress") {
            assert_eq!(without_time(merged_bytes), without_time(one_bytes));
        } else {
            assert_eq!(
                String::from_utf8_lossy(merged_bytes),
                String::from_utf8_lossy(one_bytes),
                "{}",
                path.display()
            );
        }
    }
    // The search found several signatures and passing seeds, so the comparison covers them.
    let fixtures = one_files
        .iter()
        .filter(|(path, _)| path.starts_with("fixtures"))
        .count();
    assert!(fixtures >= 3, "only {fixtures} fixtures");
    assert!(one_files
        .iter()
        .any(|(path, _)| path.to_string_lossy().ends_with(".pass.toml")));

    let whole = search::search(
        &plan(scenario.clone(), protocol, seeds, Shard::WHOLE),
        &SearchOptions::new("2000-01-01"),
        &mut Quiet,
    )
    .unwrap();
    let counts = |summary: &SearchSummary| {
        (
            summary.searched,
            summary.planned,
            summary.tally,
            summary.signatures.clone(),
        )
    };
    assert_eq!(counts(&summary.summary), counts(&whole));
    assert_eq!((summary.shards_merged, summary.shard_count), (4, 4));
    assert!(
        summary.found_new(),
        "without a baseline every failure is new"
    );
}

/// The shards of a small search of `auth-crash` under `master` (every seed hangs), in
/// `root/shard-K`, for the refusals.
fn master_shards(root: &Path) {
    search_shards(
        root,
        crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
        ShutdownProtocol::Master,
        "0..8",
        4,
    );
}

fn progress_file(shard: &Path) -> PathBuf {
    shard.join("found.ndjson.progress")
}

/// Rewrites one field of a shard's progress file.
fn set_progress(shard: &Path, field: &str, value: serde_json::Value) {
    let path = progress_file(shard);
    let mut progress: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    progress[field] = value;
    std::fs::write(path, progress.to_string()).unwrap();
}

/// Every way results cannot be one search is refused with one line saying which, and nothing is
/// written: shards of different searches (protocol, shard count, hangsim version, determinism
/// check), results formats, overlapping, missing and unfinished shards, torn and truncated
/// NDJSON files, lines that are not the shard's, lost progress and NDJSON files, and a missing
/// fixture.
#[test]
fn every_refusal_is_one_line_and_writes_nothing() {
    let prepared = tempfile::tempdir().unwrap();
    master_shards(prepared.path());
    let other = tempfile::tempdir().unwrap();
    search_shards(
        other.path(),
        crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
        ShutdownProtocol::ClosedQueue,
        "0..8",
        4,
    );
    let halves = tempfile::tempdir().unwrap();
    search_shards(
        halves.path(),
        crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
        ShutdownProtocol::Master,
        "0..8",
        2,
    );
    type Mutation = Box<dyn Fn(&Path) -> Vec<PathBuf>>;
    let all = |root: &Path| vec![root.to_path_buf()];
    let cut_ndjson = |root: &Path, keep: fn(&str) -> String| {
        let path = root.join("shard-1/found.ndjson");
        let text = std::fs::read_to_string(&path).unwrap();
        std::fs::write(&path, keep(&text)).unwrap();
    };
    let other_root = other.path().to_path_buf();
    let halves_root = halves.path().to_path_buf();
    let cases: Vec<(&str, Mutation)> = vec![
        (
            "shards of different searches",
            Box::new(move |root: &Path| vec![root.join("shard-0"), other_root.join("shard-1")]),
        ),
        (
            "shards of different searches",
            Box::new(move |root: &Path| vec![root.join("shard-0"), halves_root.join("shard-1")]),
        ),
        (
            "hangsim 0.0.1-other and",
            Box::new(move |root: &Path| {
                set_progress(&root.join("shard-0"), "hangsim", "0.0.1-other".into());
                all(root)
            }),
        ),
        (
            "determinism check every and failing",
            Box::new(move |root: &Path| {
                set_progress(&root.join("shard-0"), "check_determinism", "every".into());
                all(root)
            }),
        ),
        (
            "results format 7",
            Box::new(move |root: &Path| {
                set_progress(&root.join("shard-2"), "format", 7.into());
                all(root)
            }),
        ),
        (
            "overlapping shards",
            Box::new(move |root: &Path| {
                copy_tree(&root.join("shard-1"), &root.join("copy-of-1"));
                all(root)
            }),
        ),
        (
            "missing shards 3/4",
            Box::new(move |root: &Path| {
                vec![
                    root.join("shard-0"),
                    root.join("shard-1"),
                    root.join("shard-2"),
                ]
            }),
        ),
        (
            "unfinished shards: shard 2/4",
            Box::new(move |root: &Path| {
                let shard = root.join("shard-2");
                std::fs::remove_dir_all(&shard).unwrap();
                search_into(
                    &shard,
                    &plan(
                        crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
                        ShutdownProtocol::Master,
                        "0..8",
                        Shard { index: 2, count: 4 },
                    ),
                    true,
                    Some(1),
                );
                all(root)
            }),
        ),
        (
            "line 2 is cut short",
            Box::new(move |root: &Path| {
                cut_ndjson(root, |text| text[..text.len() - 20].to_string());
                all(root)
            }),
        ),
        (
            "holds 1 lines, but its progress file counts 2",
            Box::new(move |root: &Path| {
                cut_ndjson(root, |text| format!("{}\n", text.lines().next().unwrap()));
                all(root)
            }),
        ),
        (
            "holds more than the 2 lines",
            Box::new(move |root: &Path| {
                cut_ndjson(root, |text| format!("{text}{{\"seed\":"));
                all(root)
            }),
        ),
        (
            "line 1 is not a finding",
            Box::new(move |root: &Path| {
                cut_ndjson(root, |text| text.replacen("{\"seed\"", "{\"sed\"", 1));
                all(root)
            }),
        ),
        (
            "line 1 is seed 0, which is not a completed seed of shard 1/4",
            Box::new(move |root: &Path| {
                let first_of_shard_0 = std::fs::read_to_string(root.join("shard-0/found.ndjson"))
                    .unwrap()
                    .lines()
                    .next()
                    .unwrap()
                    .to_string();
                let path = root.join("shard-1/found.ndjson");
                let text = std::fs::read_to_string(&path).unwrap();
                let rest: Vec<&str> = text.lines().skip(1).collect();
                std::fs::write(&path, format!("{first_of_shard_0}\n{}\n", rest.join("\n")))
                    .unwrap();
                all(root)
            }),
        ),
        (
            "has no progress file beside it",
            Box::new(move |root: &Path| {
                std::fs::remove_file(progress_file(&root.join("shard-3"))).unwrap();
                all(root)
            }),
        ),
        (
            "has no NDJSON file beside it",
            Box::new(move |root: &Path| {
                std::fs::remove_file(root.join("shard-3/found.ndjson")).unwrap();
                all(root)
            }),
        ),
        (
            "bad progress file",
            Box::new(move |root: &Path| {
                let path = progress_file(&root.join("shard-3"));
                let text = std::fs::read_to_string(&path).unwrap();
                std::fs::write(&path, &text[..text.len() / 2]).unwrap();
                all(root)
            }),
        ),
        (
            "kept no fixture of signature",
            Box::new(move |root: &Path| {
                for entry in std::fs::read_dir(root.join("shard-0/fixtures")).unwrap() {
                    std::fs::remove_file(entry.unwrap().path()).unwrap();
                }
                all(root)
            }),
        ),
    ];
    for (expected, mutate) in cases {
        let root = tempfile::tempdir().unwrap();
        copy_tree(prepared.path(), root.path());
        let inputs = mutate(root.path());
        let out = tempfile::tempdir().unwrap();
        let error = merge(&inputs, &options_into(out.path())).unwrap_err();
        assert!(
            error.contains(expected),
            "expected {expected:?} in: {error}"
        );
        assert!(!error.contains('\n'), "{error}");
        assert!(
            files(out.path()).is_empty(),
            "{expected}: something was written"
        );
    }
    // The prepared shards themselves merge.
    let out = tempfile::tempdir().unwrap();
    merge(&[prepared.path().to_path_buf()], &options_into(out.path())).unwrap();
}

/// With `partial`, an unfinished shard gives the seeds it searched and a missing one none, both
/// named; the NDJSON holds exactly the searched seeds' lines, and no progress file claims a
/// whole search.
#[test]
fn a_partial_merge_joins_what_was_searched_and_names_the_rest() {
    let root = tempfile::tempdir().unwrap();
    let shard = |index| Shard { index, count: 4 };
    let master = |index| {
        plan(
            crate::catalogue::Scenario::builtin("auth-crash").unwrap(),
            ShutdownProtocol::Master,
            "0..12",
            shard(index),
        )
    };
    search_into(&root.path().join("shard-0"), &master(0), true, None);
    search_into(&root.path().join("shard-1"), &master(1), true, Some(2));
    search_into(&root.path().join("shard-2"), &master(2), true, None);
    let out = tempfile::tempdir().unwrap();
    let summary = merge(
        &[root.path().to_path_buf()],
        &MergeOptions {
            partial: true,
            ..options_into(out.path())
        },
    )
    .unwrap();
    assert_eq!(
        summary.shortfalls,
        [
            Shortfall {
                shard: shard(1),
                ndjson: Some(root.path().join("shard-1/found.ndjson")),
                completed: 2,
                planned: 3,
            },
            Shortfall {
                shard: shard(3),
                ndjson: None,
                completed: 0,
                planned: 3,
            },
        ]
    );
    assert_eq!((summary.summary.searched, summary.summary.planned), (8, 12));
    let seeds: Vec<u64> = std::fs::read_to_string(out.path().join("found.ndjson"))
        .unwrap()
        .lines()
        .map(|line| search::Finding::from_line(line).unwrap().seed)
        .collect();
    assert_eq!(seeds, [0, 1, 2, 4, 5, 6, 8, 10]);
    assert!(!out.path().join("found.ndjson.progress").exists());
    let printed = summary.to_string();
    assert!(
        printed.contains("not searched: shard 3/4 is missing: 0 of 3 seeds"),
        "{printed}"
    );
    assert!(
        printed.contains("searched 8 of the search's 12 seeds"),
        "{printed}"
    );
}

/// Against a baseline, a signature is new only when no fixture there holds it for the same
/// scenario and protocol; only new ones are copied to `new_fixtures`; the merge found something
/// new exactly when one is.
#[test]
fn new_signatures_are_judged_against_a_baseline() {
    let root = tempfile::tempdir().unwrap();
    master_shards(root.path());
    let baseline = tempfile::tempdir().unwrap();
    let judged = |baseline: &Path| {
        let out = tempfile::tempdir().unwrap();
        let summary = merge(
            &[root.path().to_path_buf()],
            &MergeOptions {
                against: Some(baseline.to_path_buf()),
                new_fixtures: Some(out.path().join("new")),
                ..MergeOptions::default()
            },
        )
        .unwrap();
        let copied = files(&out.path().join("new")).len();
        (summary, copied)
    };
    let (summary, copied) = judged(baseline.path());
    assert!(summary.found_new());
    assert_eq!(summary.new_signatures().count(), summary.signatures.len());
    assert_eq!(copied, summary.signatures.len());

    // The shards' fixtures under another protocol leave every signature new; under master,
    // they make every one known.
    let kept: Vec<String> = files(root.path())
        .into_iter()
        .filter(|(path, _)| {
            let name = path.to_string_lossy();
            name.ends_with(".toml") && !name.contains(".pass.")
        })
        .map(|(_, bytes)| String::from_utf8(bytes).unwrap())
        .collect();
    for (number, text) in kept.iter().enumerate() {
        std::fs::write(
            baseline.path().join(format!("elsewhere-{number}.toml")),
            text.replace("protocol = \"master\"", "protocol = \"race-only\""),
        )
        .unwrap();
    }
    assert_eq!(
        judged(baseline.path()).0.new_signatures().count(),
        summary.signatures.len()
    );
    for (number, text) in kept.iter().enumerate() {
        std::fs::write(baseline.path().join(format!("known-{number}.toml")), text).unwrap();
    }
    let (summary, copied) = judged(baseline.path());
    assert!(!summary.found_new(), "{summary}");
    assert_eq!(copied, 0);
    assert!(summary.to_string().contains("no new failure signature"));

    // A baseline file that is not a fixture is refused, not skipped.
    std::fs::write(
        baseline.path().join("torn.toml"),
        "format_version = 1\nscen",
    )
    .unwrap();
    let error = merge(
        &[root.path().to_path_buf()],
        &MergeOptions {
            against: Some(baseline.path().to_path_buf()),
            ..MergeOptions::default()
        },
    )
    .unwrap_err();
    assert!(error.contains("torn.toml"), "{error}");
}

/// A summary for the printing tests: two signatures, one new, one unfinished shard.
fn summary_for_printing() -> MergeSummary {
    let mut tally = Tally::default();
    for _ in 0..5 {
        tally.count(VerdictKind::Hang);
    }
    tally.count(VerdictKind::Violation);
    let signatures = vec![
        MergedSignature {
            signature: "hang:RemoveSubscription#N@promise:RemoveSubscription#N".into(),
            verdict: VerdictKind::Hang,
            smallest_seed: 3,
            runs: 5,
            why: "RemoveSubscription#4 offered 3 ms after the last drain | no taker".into(),
            new: false,
        },
        MergedSignature {
            signature: "violation:finalizer-order".into(),
            verdict: VerdictKind::Violation,
            smallest_seed: 17,
            runs: 1,
            why: "the runloop's finalizer ran before <subscription>".into(),
            new: true,
        },
    ];
    MergeSummary {
        scenario: "chaos".into(),
        protocol: "offer-then-check".into(),
        strategy: "yields".into(),
        seeds: "0..1000".into(),
        shard_count: 4,
        shards_merged: 4,
        summary: SearchSummary {
            searched: 900,
            planned: 1000,
            tally,
            signatures: signatures
                .iter()
                .map(|merged| Signature {
                    signature: merged.signature.clone(),
                    smallest_seed: merged.smallest_seed,
                    runs: merged.runs,
                })
                .collect(),
            elapsed: Duration::from_secs(2),
            coverage: None,
        },
        signatures,
        against: Some(PathBuf::from("tests/fixtures")),
        shortfalls: vec![Shortfall {
            shard: Shard { index: 1, count: 4 },
            ndjson: Some(PathBuf::from("shards/1/found.ndjson")),
            completed: 150,
            planned: 250,
        }],
        notes: Vec::new(),
    }
}

/// The printed summary: the search, its signatures and counts, the new ones with their why,
/// and what was not searched.
#[test]
fn the_printed_summary_names_new_signatures_and_shortfalls() {
    expect_test::expect![[r#"
        merged 4 of 4 shards of chaos under offer-then-check (strategy yields, seeds 0..1000)
        failure signatures (smallest seed first):
          seed 3: 5 runs: hang:RemoveSubscription#N@promise:RemoveSubscription#N
          seed 17: 1 runs: violation:finalizer-order
        searched 900 seeds: 6 failing (5 hang, 0 timeout, 1 violation, 0 panic, 0 nondeterminism) in 2.00 s, 450 seeds/s
        new failure signatures (no fixture in tests/fixtures holds them for chaos under offer-then-check):
          seed 17: 1 runs: violation:finalizer-order
            why: the runloop's finalizer ran before <subscription>
        not searched: shard 1/4 (shards/1/found.ndjson) is unfinished: 150 of 250 seeds
        searched 900 of the search's 1000 seeds"#]]
    .assert_eq(&summary_for_printing().to_string());
}

/// The Markdown section: a heading, one sentence of counts, the table with new signatures
/// marked and cells escaped, and what was not searched.
#[test]
fn the_markdown_section_marks_new_signatures() {
    expect_test::expect![[r#"
        ### `chaos` under `offer-then-check`

        Strategy `yields`, seeds 0..1000, 4 of 4 shards merged: searched 900 of 1000 seeds, 6 failing runs (5 hang, 0 timeout, 1 violation, 0 panic, 0 nondeterminism). **1 new failure signature** against `tests/fixtures`.

        | | signature | verdict | runs | smallest seed | why |
        |---|---|---|---:|---:|---|
        | known | `hang:RemoveSubscription#N@promise:RemoveSubscription#N` | hang | 5 | 3 | RemoveSubscription#4 offered 3 ms after the last drain \| no taker |
        | **new** | `violation:finalizer-order` | violation | 1 | 17 | the runloop's finalizer ran before &lt;subscription&gt; |

        **Not searched:**

        - shard 1/4 (shards/1/found.ndjson) is unfinished: 150 of 250 seeds

    "#]]
    .assert_eq(&markdown::section(&summary_for_printing()));
}
