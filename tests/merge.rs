//! `hangsim merge` and `hangsim search --time-budget` as a user runs them: a search split into
//! shards on the command line, merged, judged against the committed fixtures, and the exit
//! statuses and error lines of the command. The merge itself is tested in-process in
//! `scenarios/src/merge/tests.rs`.

use std::path::{Path, PathBuf};
use std::process::Command;

fn hangsim(args: &[&str]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hangsim"))
        .args(args)
        .output()
        .expect("hangsim runs");
    let status = output.status.code().expect("hangsim exits with a status");
    (
        status,
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

fn text(path: &Path) -> String {
    path.to_str().expect("a UTF-8 path").to_string()
}

/// Searches `auth-crash` under `master`, seeds 0..6, as shard K/2 into `root/shard-K`.
fn search_shard(root: &Path, index: u64) -> PathBuf {
    let directory = root.join(format!("shard-{index}"));
    let (status, stdout, stderr) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seeds",
        "0..6",
        "--shard",
        &format!("{index}/2"),
        "--out",
        &text(&directory.join("found.ndjson")),
        "--fixtures",
        &text(&directory.join("fixtures")),
        "--date",
        "2000-01-01",
    ]);
    // Every seed of master hangs: the search exits 1.
    assert_eq!(status, 1, "{stdout}{stderr}");
    directory
}

/// Two shards searched on the command line merge into one result: the summary names both
/// shards and counts every seed; the master hang is known to `tests/fixtures` (exit 0) and new
/// without a baseline (exit 1); the Markdown summary is appended, not overwritten.
#[test]
fn shards_searched_on_the_command_line_merge_and_are_judged() {
    let root = tempfile::tempdir().unwrap();
    search_shard(root.path(), 0);
    search_shard(root.path(), 1);
    // Outside the shards' directory: a merged result found among them would be refused as a
    // result of another search (shard 0/1).
    let elsewhere = tempfile::tempdir().unwrap();
    let merged = elsewhere.path().join("merged");
    let markdown = elsewhere.path().join("summary.md");
    std::fs::write(&markdown, "# Nightly\n\n").unwrap();
    let fixtures = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures");
    let (status, stdout, stderr) = hangsim(&[
        "merge",
        &text(root.path()),
        "--out",
        &text(&merged.join("found.ndjson")),
        "--fixtures",
        &text(&merged.join("fixtures")),
        "--against",
        fixtures,
        "--summary-markdown",
        &text(&markdown),
    ]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(
        stdout.starts_with(
            "merged 2 of 2 shards of auth-crash under master (strategy yields, seeds 0..6)\n"
        ),
        "{stdout}"
    );
    assert!(
        stdout.contains("searched 6 seeds: 6 failing (6 hang,"),
        "{stdout}"
    );
    assert!(stdout.contains("no new failure signature"), "{stdout}");
    assert_eq!(
        std::fs::read_to_string(merged.join("found.ndjson"))
            .unwrap()
            .lines()
            .count(),
        6
    );
    assert!(merged.join("found.ndjson.progress").is_file());
    let summary = std::fs::read_to_string(&markdown).unwrap();
    assert!(
        summary.starts_with("# Nightly\n\n### `auth-crash` under `master`"),
        "{summary}"
    );
    assert!(summary.contains("| known | `hang:"), "{summary}");

    let (status, stdout, _) = hangsim(&["merge", &text(root.path())]);
    assert_eq!(
        status, 1,
        "without a baseline every failure is new: {stdout}"
    );
}

/// Bad input to merge gets one `error:` line and exit status 2: no input, a missing shard
/// (named), a path that is not there.
#[test]
fn merge_refusals_are_one_error_line_with_status_2() {
    let root = tempfile::tempdir().unwrap();
    let shard = search_shard(root.path(), 0);
    for (args, expected) in [
        (vec!["merge".to_string()], "error:"),
        (
            vec!["merge".to_string(), text(&shard)],
            "error: missing shards 1/2 of auth-crash under master",
        ),
        (
            vec!["merge".to_string(), text(&root.path().join("nothing"))],
            "error: cannot read",
        ),
    ] {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let (status, stdout, stderr) = hangsim(&args);
        assert_eq!(status, 2, "{args:?}: {stdout}{stderr}");
        assert!(stderr.starts_with(expected), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
    }
}

/// `--time-budget` stops a search with its progress saved and a note saying so; a bad duration
/// is one error line.
#[test]
fn a_time_budget_stops_the_search_and_says_so() {
    let root = tempfile::tempdir().unwrap();
    let out = root.path().join("found.ndjson");
    let (status, stdout, stderr) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seeds",
        "0..1000",
        "--out",
        &text(&out),
        "--time-budget",
        "1ns",
    ]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    assert!(stderr.contains("note: the time budget of"), "{stderr}");
    assert!(stdout.contains("searched 1 seeds"), "{stdout}");
    let progress = std::fs::read_to_string(root.path().join("found.ndjson.progress")).unwrap();
    assert!(progress.contains("\"completed\": 1,"), "{progress}");

    let (status, _, stderr) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seeds",
        "0..10",
        "--time-budget",
        "soon",
    ]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.starts_with("error:") && stderr.contains("bad duration"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// `bench --instructions` with a valgrind that is not there says so in one error line.
#[test]
fn the_instruction_bench_without_valgrind_is_one_error_line() {
    let (status, _, stderr) = hangsim(&[
        "bench",
        "--instructions",
        "--valgrind",
        "/nonexistent/valgrind",
    ]);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot run /nonexistent/valgrind"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}
