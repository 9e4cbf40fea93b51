//! The `hangsim` command's contract: what it prints, what it writes, and its exit statuses.

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

/// Asserts that `output` contains every one of `parts`, showing the whole output if not.
fn assert_mentions(output: &str, parts: &[&str]) {
    for part in parts {
        assert!(output.contains(part), "missing {part:?} in:\n{output}");
    }
}

/// `demo` finds the miniature hang, explains it, and exits 1 because a run hung.
#[test]
fn demo_finds_and_explains_the_hang() {
    let (status, stdout, _) = hangsim(&["demo", "--seeds", "20"]);
    assert_eq!(status, 1, "{stdout}");
    assert_mentions(
        &stdout,
        &[
            "HANG",
            "waits on promise `promise:RemoveSubscription#1`",
            "uninterruptible",
            "why: RemoveSubscription was offered at",
        ],
    );
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("ran 20 seeds from 0: "),
        "{stdout}"
    );
}

/// The same seed prints the same report, run after run and process after process.
#[test]
fn demo_is_deterministic_across_processes() {
    let first = hangsim(&["demo", "--seed", "3", "--seeds", "5"]);
    let second = hangsim(&["demo", "--seed", "3", "--seeds", "5"]);
    assert_eq!(first, second);
}

/// Bad input gets one error line and exit status 2, never a panic.
#[test]
fn bad_input_exits_2_with_an_error() {
    for args in [
        &["demo", "--seeds", "0"][..],
        &["demo", "--seed", "x"],
        &["frobnicate"],
    ] {
        let (status, _, stderr) = hangsim(args);
        assert_eq!(status, 2, "{args:?}: {stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
}

/// A fresh scratch directory for one test.
fn scratch(name: &str) -> std::path::PathBuf {
    let directory = std::env::temp_dir().join(format!("hangsim-cli-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&directory);
    std::fs::create_dir_all(&directory).expect("scratch directory");
    directory
}

fn path_arg(path: &std::path::Path) -> String {
    path.to_str().expect("a UTF-8 temp path").to_string()
}

/// The summary line's counts: (searched, failing, hang, timeout, violation, panic,
/// nondeterminism), after checking the line has exactly the promised shape.
fn summary(stdout: &str) -> (u64, u64, u64, u64, u64, u64, u64) {
    let last = stdout.lines().last().expect("a summary line");
    let shape = |ok: bool| assert!(ok, "bad summary line: {last:?}");
    let rest = last
        .strip_prefix("searched ")
        .unwrap_or_else(|| panic!("{last:?}"));
    let (searched, rest) = rest
        .split_once(" seeds: ")
        .unwrap_or_else(|| panic!("{last:?}"));
    let (failing, rest) = rest
        .split_once(" failing (")
        .unwrap_or_else(|| panic!("{last:?}"));
    let (counts, rest) = rest
        .split_once(") in ")
        .unwrap_or_else(|| panic!("{last:?}"));
    let (seconds, rate) = rest
        .split_once(" s, ")
        .unwrap_or_else(|| panic!("{last:?}"));
    shape(seconds.parse::<f64>().is_ok());
    shape(
        rate.strip_suffix(" seeds/s")
            .is_some_and(|r| r.parse::<u64>().is_ok()),
    );
    let counts: Vec<u64> = counts
        .split(", ")
        .zip(["hang", "timeout", "violation", "panic", "nondeterminism"])
        .map(|(count, kind)| {
            let number = count
                .strip_suffix(&format!(" {kind}"))
                .unwrap_or_else(|| panic!("{last:?}"));
            number.parse().unwrap_or_else(|_| panic!("{last:?}"))
        })
        .collect();
    shape(counts.len() == 5);
    let (searched, failing): (u64, u64) = (searched.parse().unwrap(), failing.parse().unwrap());
    shape(counts.iter().sum::<u64>() == failing);
    (
        searched, failing, counts[0], counts[1], counts[2], counts[3], counts[4],
    )
}

/// Everything but the summary line's time and rate, which are wall-clock figures.
fn without_timing(stdout: &str) -> String {
    stdout
        .lines()
        .map(|line| match line.split_once(" in ") {
            Some((head, _)) if line.starts_with("searched ") => head.to_string(),
            _ => line.to_string(),
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// `list` names every scenario, protocol and strategy family, one per line with a description.
#[test]
fn list_names_scenarios_protocols_and_strategies() {
    let (status, stdout, _) = hangsim(&["list"]);
    assert_eq!(status, 0);
    for scenario in scenarios::Scenario::catalogue() {
        let line = stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(scenario.name()))
            .unwrap_or_else(|| panic!("{scenario} missing:\n{stdout}"));
        assert!(line.contains(scenario.description()), "{line}");
    }
    for protocol in consumer::ShutdownProtocol::ALL {
        let line = stdout
            .lines()
            .find(|line| line.split_whitespace().next() == Some(protocol.name()))
            .unwrap_or_else(|| panic!("{protocol} missing:\n{stdout}"));
        assert!(line.contains(protocol.description()), "{line}");
    }
    assert!(stdout.contains("strategies:"), "{stdout}");
    assert!(
        stdout
            .lines()
            .any(|line| line.trim_start().starts_with("yields ")),
        "{stdout}"
    );
}

/// `run` exits 1 and explains the hang of `master` at seed 0, and exits 0 for `closed-queue`.
#[test]
fn run_exits_1_on_a_hang_and_0_on_a_pass() {
    let (status, stdout, _) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
    ]);
    assert_eq!(status, 1, "{stdout}");
    assert!(
        stdout.starts_with("scenario auth-crash as resolved for seed 0"),
        "{stdout}"
    );
    // The resolved scenario has every draw fixed: the denial's time is one number.
    let denial = stdout
        .lines()
        .find(|line| line.trim_start().starts_with("at_ms = "))
        .unwrap_or_else(|| panic!("no resolved at_ms in:\n{stdout}"));
    assert!(!denial.contains("min"), "{denial}");
    assert!(stdout.contains("\nverdict: hang\n"), "{stdout}");
    assert_mentions(
        &stdout,
        &[
            "why: ",
            // The stuck command's history, from the run's watched command queue.
            "history of `RemoveSubscription#",
            "offered to command_queue at ",
            "never dequeued: nothing took from command_queue after it was offered",
        ],
    );
    let (status, stdout, _) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seed",
        "0",
    ]);
    assert_eq!(status, 0, "{stdout}");
    assert!(stdout.contains("\nverdict: pass\n"), "{stdout}");
}

/// `run --trace` prints every event of the run, stamped with virtual time, deterministically.
#[test]
fn run_trace_prints_every_event() {
    let args = [
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
        "--trace",
    ];
    let (status, stdout, _) = hangsim(&args);
    assert_eq!(status, 1);
    let (_, count) = stdout
        .lines()
        .find_map(|line| line.strip_prefix("events (").map(|rest| ((), rest)))
        .unwrap_or_else(|| panic!("no events header:\n{stdout}"));
    let count: usize = count.trim_end_matches("):").parse().unwrap();
    assert!(count > 10, "{count} events");
    assert_eq!(hangsim(&args).1, stdout);
}

/// `search` ends with the summary line; exit 1 when a run failed, 0 when none did.
#[test]
fn search_summary_line_and_exit_statuses() {
    let (status, stdout, _) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seeds",
        "0..10",
    ]);
    assert_eq!(status, 1, "{stdout}");
    let (searched, failing, hang, ..) = summary(&stdout);
    assert_eq!(searched, 10);
    assert!(failing >= 1 && hang >= 1, "{stdout}");
    assert!(stdout.starts_with("seed 0: HANG"), "{stdout}");
    assert!(stdout.contains("why: "), "{stdout}");

    let (status, stdout, _) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seeds",
        "0..20",
    ]);
    assert_eq!(status, 0, "{stdout}");
    assert_eq!(summary(&stdout), (20, 0, 0, 0, 0, 0, 0));
    assert_eq!(stdout.lines().count(), 1, "{stdout}");
}

/// What a search prints and writes does not depend on `--jobs`.
#[test]
fn search_output_does_not_depend_on_jobs() {
    let directory = scratch("jobs");
    let mut outputs = Vec::new();
    for jobs in ["1", "3"] {
        let out = directory.join(format!("jobs{jobs}.ndjson"));
        let (status, stdout, _) = hangsim(&[
            "search",
            "--scenario",
            "auth-crash",
            "--protocol",
            "race-only",
            "--seeds",
            "0..40",
            "--jobs",
            jobs,
            "--out",
            &path_arg(&out),
        ]);
        assert!(status <= 1, "{stdout}");
        outputs.push((
            without_timing(&stdout),
            std::fs::read_to_string(&out).unwrap(),
        ));
    }
    assert_eq!(outputs[0], outputs[1]);
    std::fs::remove_dir_all(&directory).unwrap();
}

/// The seeds of the NDJSON lines of a file.
fn ndjson_seeds(text: &str) -> Vec<u64> {
    text.lines()
        .map(|line| {
            let rest = line
                .strip_prefix("{\"seed\":")
                .unwrap_or_else(|| panic!("{line}"));
            rest.split(',').next().unwrap().parse().unwrap()
        })
        .collect()
}

/// Two shards K/2 cover the range exactly: together they find the failing seeds of the whole
/// search, each once.
#[test]
fn two_shards_cover_the_range() {
    let directory = scratch("shards");
    let search = |out: &std::path::Path, shard: Option<&str>| {
        let out = path_arg(out);
        let mut args = vec![
            "search",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seeds",
            "3..30",
            "--out",
            &out,
        ];
        if let Some(shard) = shard {
            args.extend(["--shard", shard]);
        }
        let (status, stdout, _) = hangsim(&args);
        assert!(status <= 1, "{stdout}");
        (summary(&stdout).0, std::fs::read_to_string(&out).unwrap())
    };
    let (all_searched, all) = search(&directory.join("all.ndjson"), None);
    let (even_searched, even) = search(&directory.join("even.ndjson"), Some("0/2"));
    let (odd_searched, odd) = search(&directory.join("odd.ndjson"), Some("1/2"));
    assert_eq!((all_searched, even_searched, odd_searched), (27, 13, 14));
    assert!(ndjson_seeds(&even).iter().all(|seed| seed % 2 == 0));
    assert!(ndjson_seeds(&odd).iter().all(|seed| seed % 2 == 1));
    let mut union: Vec<u64> = ndjson_seeds(&even)
        .into_iter()
        .chain(ndjson_seeds(&odd))
        .collect();
    union.sort();
    assert_eq!(union, ndjson_seeds(&all));
    assert!(!union.is_empty());
    std::fs::remove_dir_all(&directory).unwrap();
}

/// A search stopped midway and resumed neither repeats nor loses work, even when it was stopped
/// after writing an NDJSON line but before its progress file counted that seed.
#[test]
fn resume_neither_repeats_nor_loses_work() {
    let directory = scratch("resume");
    let base = |out: &str| {
        vec![
            "search".to_string(),
            "--scenario".into(),
            "auth-crash".into(),
            "--protocol".into(),
            "race-only".into(),
            "--seeds".into(),
            "0..60".into(),
            "--out".into(),
            out.to_string(),
        ]
    };
    let run = |args: Vec<String>| {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        hangsim(&args)
    };
    let whole = path_arg(&directory.join("whole.ndjson"));
    let (_, whole_stdout, _) = run(base(&whole));
    let expected = std::fs::read_to_string(&whole).unwrap();
    assert!(!expected.is_empty(), "race-only found nothing in 0..60");

    // Stopped after 25 seeds, then resumed to the end.
    let parts = path_arg(&directory.join("parts.ndjson"));
    let mut first = base(&parts);
    first.extend(["--max-seeds".into(), "25".into()]);
    let (_, stdout, _) = run(first);
    assert_eq!(summary(&stdout).0, 25);
    let mut resumed = base(&parts);
    resumed.push("--resume".into());
    let (_, stdout, _) = run(resumed.clone());
    assert_eq!(std::fs::read_to_string(&parts).unwrap(), expected);
    assert_eq!(summary(&stdout), summary(&whole_stdout));

    // A stop between an NDJSON line and the progress update: the progress file counts fewer
    // seeds than the NDJSON file holds. Resuming drops the extra lines and redoes their seeds.
    let progress = format!("{parts}.progress");
    let text = std::fs::read_to_string(&progress).unwrap();
    let findings_before_10 = ndjson_seeds(&expected).iter().filter(|&&s| s < 10).count();
    let rewound = text
        .lines()
        .map(|line| {
            if line.trim_start().starts_with("\"completed\":") {
                "  \"completed\": 10,".to_string()
            } else if line.trim_start().starts_with("\"findings\":") {
                format!("  \"findings\": {findings_before_10},")
            } else {
                line.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    assert_ne!(rewound, text, "the progress file changed shape:\n{text}");
    std::fs::write(&progress, rewound).unwrap();
    let (_, stdout, _) = run(resumed.clone());
    assert_eq!(std::fs::read_to_string(&parts).unwrap(), expected);
    assert_eq!(summary(&stdout), summary(&whole_stdout));

    // Resuming a finished search runs nothing more and reports the same.
    let (_, stdout, _) = run(resumed);
    assert_eq!(std::fs::read_to_string(&parts).unwrap(), expected);
    assert_eq!(summary(&stdout), summary(&whole_stdout));
    std::fs::remove_dir_all(&directory).unwrap();
}

/// `search --fixtures` keeps one fixture per failure signature with the smallest seed (an
/// earlier fixture with a smaller seed is kept), and `replay` reproduces them all.
#[test]
fn search_fixtures_keep_the_smallest_seed_and_replay() {
    let directory = scratch("fixtures");
    let fixtures = path_arg(&directory);
    let search = |seeds: &str| {
        let (status, stdout, stderr) = hangsim(&[
            "search",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seeds",
            seeds,
            "--fixtures",
            &fixtures,
            "--keep-passing",
            "--date",
            "2000-01-01",
        ]);
        assert!(status <= 1, "{stdout}{stderr}");
    };
    let listing = || {
        let mut files: Vec<(String, String)> = std::fs::read_dir(&directory)
            .unwrap()
            .map(|entry| {
                let path = entry.unwrap().path();
                (path_arg(&path), std::fs::read_to_string(&path).unwrap())
            })
            .collect();
        files.sort();
        files
    };
    search("0..12");
    let smallest = listing();
    assert!(!smallest.is_empty());
    assert!(
        smallest.iter().all(|(name, _)| name.ends_with(".toml")),
        "{smallest:?}"
    );
    search("5..12");
    assert_eq!(listing(), smallest, "a larger seed replaced a fixture");
    let mut args = vec!["replay".to_string()];
    args.extend(smallest.iter().map(|(name, _)| name.clone()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let (status, stdout, _) = hangsim(&args);
    assert_eq!(status, 0, "{stdout}");
    assert!(stdout.contains(": matched: verdict hang"), "{stdout}");
    assert!(!stdout.contains("MISMATCH"), "{stdout}");
    std::fs::remove_dir_all(&directory).unwrap();
}

/// `run --write-fixture` writes a fixture `replay` reproduces; a fixture whose expectation is
/// wrong is replayed with exit 1.
#[test]
fn replay_matches_a_written_fixture_and_flags_a_wrong_one() {
    let directory = scratch("replay");
    let file = directory.join("master-0.toml");
    let (status, _, _) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
        "--write-fixture",
        &path_arg(&file),
        "--date",
        "2000-01-01",
    ]);
    assert_eq!(status, 1);
    let (status, stdout, _) = hangsim(&["replay", &path_arg(&file)]);
    assert_eq!(status, 0, "{stdout}");
    assert!(
        stdout.lines().last().unwrap() == "replayed 1 fixtures: 1 matched, 0 did not",
        "{stdout}"
    );
    let text = std::fs::read_to_string(&file).unwrap();
    let wrong = directory.join("wrong.toml");
    std::fs::write(
        &wrong,
        text.replace("verdict = \"hang\"", "verdict = \"pass\""),
    )
    .unwrap();
    let (status, stdout, _) = hangsim(&["replay", &path_arg(&file), &path_arg(&wrong)]);
    assert_eq!(status, 1, "{stdout}");
    assert!(stdout.contains("MISMATCH"), "{stdout}");
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Unknown names, bad ranges and shards, malformed fixtures: one `error:` line, exit 2, no
/// panic.
#[test]
fn bad_input_to_every_command_exits_2_with_one_error_line() {
    let directory = scratch("bad");
    let malformed = directory.join("malformed.toml");
    std::fs::write(&malformed, "format_version = 1\nscenario = [\n").unwrap();
    let missing_key = directory.join("missing.toml");
    std::fs::write(&missing_key, "format_version = 1\n").unwrap();
    let (malformed, missing_key) = (path_arg(&malformed), path_arg(&missing_key));
    let absent = path_arg(&directory.join("absent.toml"));
    let search = ["search", "--scenario", "auth-crash", "--protocol", "master"];
    let cases: Vec<Vec<&str>> = vec![
        vec![
            "run",
            "--scenario",
            "nope",
            "--protocol",
            "master",
            "--seed",
            "0",
        ],
        vec![
            "run",
            "--scenario",
            "auth-crash",
            "--protocol",
            "nope",
            "--seed",
            "0",
        ],
        vec![
            "run",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seed",
            "-1",
        ],
        vec![
            "run",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seed",
            "0",
            "--strategy",
            "telepathy",
        ],
        vec!["run", "--scenario", "auth-crash", "--seed", "0"],
        [&search[..], &["--seeds", "5..5"]].concat(),
        [&search[..], &["--seeds", "9..3"]].concat(),
        [&search[..], &["--seeds", "x..3"]].concat(),
        [&search[..], &["--seeds", "10"]].concat(),
        [&search[..], &["--seeds", "0..10", "--shard", "2/2"]].concat(),
        [&search[..], &["--seeds", "0..10", "--shard", "0/0"]].concat(),
        [&search[..], &["--seeds", "0..10", "--jobs", "0"]].concat(),
        [&search[..], &["--seeds", "0..1", "--shard", "1/2"]].concat(),
        [&search[..], &["--seeds", "0..10", "--resume"]].concat(),
        vec!["replay", &malformed],
        vec!["replay", &missing_key],
        vec!["replay", &absent],
        vec!["replay"],
        vec!["bench", "--protocol", "nope"],
    ];
    for args in cases {
        let (status, stdout, stderr) = hangsim(&args);
        assert_eq!(status, 2, "{args:?}: {stdout}{stderr}");
        assert!(stderr.starts_with("error:"), "{args:?}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(!stderr.contains("panicked"), "{args:?}: {stderr}");
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Resuming with a progress file of another search is refused (exit 2) rather than mixing two
/// searches.
#[test]
fn resume_refuses_another_searchs_progress() {
    let directory = scratch("resume-other");
    let out = path_arg(&directory.join("out.ndjson"));
    let args = |protocol: &'static str, resume: bool| {
        let mut args = vec![
            "search",
            "--scenario",
            "auth-crash",
            "--protocol",
            protocol,
            "--seeds",
            "0..5",
            "--out",
            &out,
        ];
        if resume {
            args.push("--resume");
        }
        hangsim(&args)
    };
    assert!(args("master", false).0 <= 1);
    let (status, _, stderr) = args("closed-queue", true);
    assert_eq!(status, 2, "{stderr}");
    assert!(stderr.starts_with("error: cannot resume"), "{stderr}");
    std::fs::remove_dir_all(&directory).unwrap();
}

/// A tiny `bench` prints its table: a header and a row per protocol asked for.
#[test]
fn a_tiny_bench_prints_its_table() {
    let (status, stdout, stderr) = hangsim(&[
        "bench",
        "--protocol",
        "master",
        "--protocol",
        "closed-queue",
        "--throughput-seeds",
        "20",
        "--throughput-repeats",
        "1",
        "--windows",
        "3",
        "--window-size",
        "5",
        "--memory-first",
        "5",
        "--memory-seeds",
        "10",
        "--strategy",
        "yields",
    ]);
    assert_eq!(status, 0, "{stdout}{stderr}");
    let header = stdout
        .lines()
        .find(|line| line.starts_with("protocol"))
        .unwrap_or_else(|| panic!("{stdout}"));
    assert!(
        header.contains("seeds/s j1") && header.contains("to hang yields"),
        "{header}"
    );
    let master = stdout
        .lines()
        .find(|line| line.starts_with("master "))
        .unwrap();
    let closed = stdout
        .lines()
        .find(|line| line.starts_with("closed-queue "))
        .unwrap();
    assert!(closed.contains(">5"), "{closed}");
    assert!(
        master
            .split_whitespace()
            .nth(4)
            .unwrap()
            .parse::<u64>()
            .is_ok(),
        "{master}"
    );
}

/// The report of check-offer-drain's narrow window (a committed fixture found by `pct:3`) names
/// the drain the command came after.
#[test]
fn replay_report_tells_the_drain_a_command_missed() {
    let fixture = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/auth-crash.check-offer-drain.pct-3.hang-removesubscription-n-promise-remove-ec022b42.toml"
    );
    let (status, stdout, _) = hangsim(&["replay", fixture]);
    assert_eq!(status, 0, "{stdout}");
    assert_mentions(
        &stdout,
        &[
            "drain: take_all of command_queue at 4.285000s by fiber#6 took 0",
            "at one instant (4.285000s): the runloop's last drain of command_queue, then RemoveSubscription#3 offered",
        ],
    );
}

/// Runs hangsim with its stdout read for one line and then closed, as `| head -1` does: it must
/// end quietly (status 141, nothing on stderr), never panic.
fn closed_pipe_after_one_line(args: &[&str]) -> (Option<i32>, String) {
    use std::io::{BufRead, BufReader};
    use std::process::Stdio;
    let mut child = Command::new(env!("CARGO_BIN_EXE_hangsim"))
        .args(args)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("hangsim starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut line)
        .unwrap();
    // The reader is dropped here: the pipe is closed under hangsim.
    let output = child.wait_with_output().unwrap();
    (
        output.status.code(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// Bad input 3: `replay`, `run` and `search` whose stdout is closed after one line (`| head -1`)
/// end quietly with status 141 instead of panicking with 101.
#[test]
fn a_closed_stdout_ends_commands_quietly() {
    let fixtures: Vec<String> =
        std::fs::read_dir(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures"))
            .unwrap()
            .map(|entry| entry.unwrap().path())
            // `shrunk/` holds the shrunk historic fixtures (tests/shrink.rs replays them).
            .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
            .map(|path| path_arg(&path))
            .collect();
    let mut replay = vec!["replay"];
    replay.extend(fixtures.iter().map(String::as_str));
    let run = [
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
        "--trace",
    ];
    let search = [
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seeds",
        "0..200",
    ];
    for args in [&replay[..], &run[..], &search[..]] {
        let (status, stderr) = closed_pipe_after_one_line(args);
        assert_eq!(status, Some(141), "{:?}: {stderr}", &args[..2]);
        assert!(stderr.is_empty(), "{:?}: {stderr}", &args[..2]);
    }
}

/// A committed fixture's text, to make bad ones from.
fn committed_fixture() -> String {
    std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/auth-crash.master.yields.hang-removesubscription-n-promise-remove-ec022b42.toml"
    ))
    .unwrap()
}

/// Replaces the line starting with `key = ` in a fixture's text.
fn with_line(text: &str, key: &str, line: &str) -> String {
    let prefix = format!("{key} = ");
    let mut found = false;
    let out: Vec<String> = text
        .lines()
        .map(|l| {
            if l.starts_with(&prefix) && !found {
                found = true;
                line.to_string()
            } else {
                l.to_string()
            }
        })
        .collect();
    assert!(found, "no {key} in the fixture");
    out.join("\n") + "\n"
}

/// Bad inputs 1, 2 and 9: a decision log whose run lengths wrap around, an embedded scenario past
/// its bounds (255 partitions of 65,535 records; no partition at all), and a
/// trace hash with a sign are refused with one `error:` line and exit 2, at once.
#[test]
fn bad_fixtures_are_refused_before_anything_runs() {
    let directory = scratch("bad-fixtures");
    let good = committed_fixture();
    let cases = [
        (
            with_line(
                &good,
                "decisions",
                "decisions = \"0 0*18446744073709551615\"",
            ),
            "outside 1..=",
        ),
        (
            // The embedded scenario's values are held to their bounds: 255 partitions of
            // 65,535 records would exhaust memory.
            with_line(
                &with_line(&good, "partitions", "partitions = 255"),
                "records_per_partition",
                "records_per_partition = 65535",
            ),
            "topic[0].partitions: 255 is outside its bounds",
        ),
        (
            with_line(&good, "partitions", "partitions = 0"),
            "topic[0].partitions: 0 is outside its bounds",
        ),
        (
            with_line(&good, "trace_hash", "trace_hash = \"0x+a63e879a7fb3a52\""),
            "bad trace_hash",
        ),
    ];
    for (index, (text, expected)) in cases.iter().enumerate() {
        let path = directory.join(format!("bad{index}.toml"));
        std::fs::write(&path, text).unwrap();
        let started = std::time::Instant::now();
        let (status, stdout, stderr) = hangsim(&["replay", &path_arg(&path)]);
        assert_eq!(status, 2, "{expected}: {stdout}{stderr}");
        assert!(stderr.starts_with("error: bad fixture"), "{stderr}");
        assert!(stderr.contains(expected), "{expected}: {stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stdout.is_empty(), "{stdout}");
        assert!(started.elapsed() < std::time::Duration::from_secs(10));
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Waits for a child for at most `limit`, killing it past that: a test of "never hangs" must
/// not hang itself.
fn wait_at_most(
    mut child: std::process::Child,
    limit: std::time::Duration,
) -> (Option<i32>, String) {
    use std::io::Read;
    let started = std::time::Instant::now();
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            child
                .stderr
                .take()
                .unwrap()
                .read_to_string(&mut stderr)
                .unwrap();
            return (status.code(), stderr);
        }
        if started.elapsed() > limit {
            child.kill().unwrap();
            child.wait().unwrap();
            panic!("hangsim still ran after {limit:?}");
        }
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
}

/// Bad input 4: `replay` of a FIFO (which blocked forever) and of a symlink to `/dev/zero`
/// (which read until memory ran out) is refused at once: not a regular file.
#[test]
fn replay_refuses_what_is_not_a_regular_file() {
    use std::process::Stdio;
    let directory = scratch("not-files");
    let fifo = directory.join("fifo.toml");
    let made = Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .expect("mkfifo runs");
    assert!(made.success());
    let zero = directory.join("zero.toml");
    std::os::unix::fs::symlink("/dev/zero", &zero).unwrap();
    for path in [&fifo, &zero, &directory] {
        let child = Command::new(env!("CARGO_BIN_EXE_hangsim"))
            .args(["replay", &path_arg(path)])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let (status, stderr) = wait_at_most(child, std::time::Duration::from_secs(30));
        assert_eq!(status, Some(2), "{}: {stderr}", path.display());
        assert!(stderr.contains("not a regular file"), "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
    }
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Bad input 5: a replay that does not take its decision log exactly (empty, a token dropped
/// or appended, an impossible first choice), or whose signature differs, is a mismatch (exit
/// 1) that says what differed.
#[test]
fn replay_is_strict() {
    let directory = scratch("strict");
    let good = committed_fixture();
    let decisions = good
        .lines()
        .find_map(|line| line.strip_prefix("decisions = \""))
        .unwrap()
        .trim_end_matches('"')
        .to_string();
    let tokens: Vec<&str> = decisions.split(' ').collect();
    let dropped = tokens[..tokens.len() - 1].join(" ");
    let impossible = format!("7 {}", tokens[1..].join(" "));
    let cases = [
        (
            String::new(),
            "differs: decision log: the run needed decision 0",
        ),
        (dropped, "differs: decision log: the run needed decision"),
        (format!("{decisions} 0"), "but the log holds"),
        (
            impossible,
            "differs: decision log: decision 0 of the log is 7",
        ),
    ];
    for (index, (log, expected)) in cases.iter().enumerate() {
        let path = directory.join(format!("strict{index}.toml"));
        std::fs::write(
            &path,
            with_line(&good, "decisions", &format!("decisions = \"{log}\"")),
        )
        .unwrap();
        let (status, stdout, stderr) = hangsim(&["replay", &path_arg(&path)]);
        assert_eq!(status, 1, "{expected}: {stdout}{stderr}");
        assert_mentions(&stdout, &["MISMATCH", expected]);
    }
    let path = directory.join("signature.toml");
    std::fs::write(
        &path,
        with_line(&good, "signature", "signature = \"hang:elsewhere\""),
    )
    .unwrap();
    let (status, stdout, _) = hangsim(&["replay", &path_arg(&path)]);
    assert_eq!(status, 1, "{stdout}");
    assert_mentions(&stdout, &["differs: signature"]);
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Bad input 6: the last seeds with the largest shard count run exactly the shard's seed
/// (the seed plan's arithmetic overflowed and ran another).
#[test]
fn search_at_the_top_of_the_seed_range_runs_the_right_seed() {
    let (status, stdout, stderr) = hangsim(&[
        "search",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seeds",
        "18446744073709551613..18446744073709551615",
        "--shard",
        "18446744073709551614/18446744073709551615",
    ]);
    assert_eq!(status, 1, "{stdout}{stderr}");
    assert!(
        stdout.starts_with("seed 18446744073709551614: HANG"),
        "{stdout}"
    );
    assert_eq!(summary(&stdout).0, 1);
}

/// Bad input 7: `demo` refuses seeds past 2^64-1 instead of reporting seeds it never ran.
#[test]
fn demo_refuses_seeds_past_the_last() {
    let (status, stdout, stderr) = hangsim(&[
        "demo",
        "--seed",
        "18446744073709551615",
        "--seeds",
        "10000000",
    ]);
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(
        stderr.starts_with("error: --seed 18446744073709551615 with --seeds 10000000"),
        "{stderr}"
    );
    assert!(stdout.is_empty(), "{stdout}");
    let (status, stdout, _) = hangsim(&["demo", "--seed", "18446744073709551615", "--seeds", "1"]);
    assert!(status <= 1, "{stdout}");
    assert!(
        stdout
            .lines()
            .last()
            .unwrap()
            .starts_with("ran 1 seeds from 18446744073709551615"),
        "{stdout}"
    );
}

/// Bad input 8: a search killed by a file-size limit (`ulimit -f`) mid-line resumes to the
/// same NDJSON as a search that ran through; a deleted NDJSON file with its progress file left
/// is refused.
#[test]
fn a_search_cut_by_a_full_disk_resumes_and_a_deleted_ndjson_is_refused() {
    let directory = scratch("full-disk");
    let base = |out: &str| {
        vec![
            "search".to_string(),
            "--scenario".into(),
            "auth-crash".into(),
            "--protocol".into(),
            "race-only".into(),
            "--seeds".into(),
            "0..30".into(),
            "--out".into(),
            out.to_string(),
        ]
    };
    let whole = path_arg(&directory.join("whole.ndjson"));
    let args = base(&whole);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    hangsim(&args);
    let expected = std::fs::read_to_string(&whole).unwrap();
    assert!(
        expected.len() > 40 * 1024,
        "the limit below must cut the file"
    );

    let cut = path_arg(&directory.join("cut.ndjson"));
    let quoted: Vec<String> = base(&cut).iter().map(|arg| format!("'{arg}'")).collect();
    let script = format!(
        "ulimit -f 20; exec '{}' {}",
        env!("CARGO_BIN_EXE_hangsim"),
        quoted.join(" ")
    );
    let limited = Command::new("bash").args(["-c", &script]).output().unwrap();
    assert_ne!(
        limited.status.code(),
        Some(0),
        "the file-size limit did not stop the search"
    );
    let written = std::fs::read_to_string(&cut).unwrap_or_default();
    assert!(written.len() < expected.len());

    let mut resume = base(&cut);
    resume.push("--resume".into());
    let resume: Vec<&str> = resume.iter().map(String::as_str).collect();
    let (status, stdout, stderr) = hangsim(&resume);
    assert!(status <= 1, "{stdout}{stderr}");
    assert_eq!(std::fs::read_to_string(&cut).unwrap(), expected);
    assert_eq!(summary(&stdout).0, 30);

    std::fs::remove_file(&cut).unwrap();
    let (status, _, stderr) = hangsim(&resume);
    assert_eq!(status, 2, "{stderr}");
    assert!(
        stderr.starts_with("error: cannot resume:") && stderr.contains("is gone"),
        "{stderr}"
    );
    std::fs::remove_dir_all(&directory).unwrap();
}

/// Bad input 9: `run --write-fixture` to a path whose directory does not exist is refused
/// before the run (exit 2, nothing printed), so it cannot hide the run's verdict.
#[test]
fn run_refuses_an_unwritable_fixture_path_before_running() {
    let (status, stdout, stderr) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
        "--write-fixture",
        "/nonexistent/directory/x.toml",
    ]);
    assert_eq!(status, 2, "{stdout}{stderr}");
    assert!(stdout.is_empty(), "{stdout}");
    assert!(
        stderr.starts_with("error: cannot write fixture /nonexistent/directory/x.toml"),
        "{stderr}"
    );
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
}

/// Bad input 9: `hangsim` alone prints its usage on stderr with exit 2, as clap does.
#[test]
fn hangsim_alone_prints_usage_with_exit_2() {
    let (status, stdout, stderr) = hangsim(&[]);
    assert_eq!(status, 2);
    assert!(stdout.is_empty(), "{stdout}");
    assert_mentions(
        &stderr,
        &["Usage: hangsim <COMMAND>", "Commands:", "search"],
    );
}

/// Bad input 9: `--help` describes every option, the names of scenarios and protocols with
/// what each is, replay's files, and the progress file `--out` keeps.
#[test]
fn help_describes_every_option() {
    let (status, run_help, _) = hangsim(&["run", "--help"]);
    assert_eq!(status, 0);
    assert_mentions(
        &run_help,
        &[
            "--scenario <SCENARIO>",
            "A scenario of the catalogue",
            "--scenario-file <FILE>",
            "--set <PATH=VALUE>",
            "auth-crash",
            "--protocol <PROTOCOL>",
            "closed-queue",
            "--seed <SEED>",
            "The seed: it fixes",
            "--write-fixture <FILE>",
        ],
    );
    let (_, search_help, _) = hangsim(&["search", "--help"]);
    assert_mentions(
        &search_help,
        &[
            "--seeds <A..B>",
            "--out <FILE>",
            "found.ndjson.progress",
            "--check-determinism",
        ],
    );
    let (_, replay_help, _) = hangsim(&["replay", "--help"]);
    assert_mentions(
        &replay_help,
        &["<FIXTURE>...", "The fixture files to replay"],
    );
    // Every option line of every command is followed by words saying what it is.
    for help in [&run_help, &search_help, &replay_help] {
        let lines: Vec<&str> = help.lines().collect();
        for (index, line) in lines.iter().enumerate() {
            if line.trim_start().starts_with("--") || line.trim_start().starts_with("-h") {
                let described = line.trim().contains("  ")
                    || lines
                        .get(index + 1)
                        .is_some_and(|next| !next.trim().is_empty());
                assert!(described, "undescribed option {line:?} in:\n{help}");
            }
        }
    }
}

/// `real`'s bad input: an unparsable broker, a scenario a broker cannot run, and a fault a
/// real broker cannot produce each get one `error:` line and status 2 (no broker is needed:
/// the input is refused before any run).
#[test]
fn real_refuses_bad_input_with_one_error_line() {
    let cases: [(&[&str], &str); 3] = [
        (
            &[
                "real",
                "--scenario",
                "graceful-shutdown",
                "--protocol",
                "master",
                "--broker",
                "nowhere",
            ],
            "expected mock, tansu or HOST:PORT",
        ),
        (
            &["real", "--scenario", "chaos", "--protocol", "master"],
            "scenario chaos",
        ),
        (
            &[
                "real",
                "--scenario",
                "auth-crash",
                "--protocol",
                "master",
                "--broker",
                "127.0.0.1:1",
            ],
            "cannot produce",
        ),
    ];
    for (args, expected) in cases {
        let (status, stdout, stderr) = hangsim(args);
        assert_eq!(status, 2, "{args:?}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{args:?}: {stderr}");
        assert!(
            stderr.starts_with("error: ") && stderr.contains(expected),
            "{args:?}: {stderr}"
        );
    }
}

/// `run --observations` prints what a passing run observed; `--deadline` outside 1..=3600 s is
/// one `error:` line and exit 2.
#[test]
fn run_prints_observations_and_refuses_a_bad_deadline() {
    let (status, stdout, _) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seed",
        "0",
        "--observations",
    ]);
    assert_eq!(status, 0, "{stdout}");
    assert_mentions(
        &stdout,
        &[
            "observed:",
            "records processed, per partition (offsets):",
            "committed offsets at the end (next offset to read):",
        ],
    );
    for bad in ["0", "3601", "soon"] {
        let (status, stdout, stderr) = hangsim(&[
            "run",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seed",
            "0",
            "--deadline",
            bad,
        ]);
        assert_eq!(status, 2, "{bad}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        assert!(stderr.starts_with("error:"), "{stderr}");
    }
}
