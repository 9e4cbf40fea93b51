//! Scenario files on the command line: `--scenario-file`, `--set`, `describe`, bad files, the
//! resolved scenario `run` prints and fixtures embed, and the verdict of a slow-but-finite run.

mod cli_support;

use cli_support::hangsim;

fn repo_file(path: &str) -> String {
    format!("{}/{path}", env!("CARGO_MANIFEST_DIR"))
}

/// The lines of `run`'s resolved scenario, without their indentation.
fn resolved_lines(stdout: &str) -> Vec<String> {
    stdout
        .lines()
        .skip(1)
        .take_while(|line| !line.starts_with("verdict: "))
        .filter(|line| !line.is_empty())
        .map(|line| line.trim().to_string())
        .collect()
}

/// A file given with `--scenario-file` runs; `run` prints it resolved (every draw fixed) and the
/// same seed resolves it the same way.
#[test]
fn a_scenario_file_runs_and_prints_itself_resolved() {
    let file = repo_file("tests/scenarios/README-example.toml");
    let args = [
        "run",
        "--scenario-file",
        file.as_str(),
        "--protocol",
        "closed-queue",
        "--seed",
        "3",
    ];
    let (status, stdout, stderr) = hangsim(&args);
    assert!(status == 0 || status == 1, "{status}: {stderr}");
    assert!(
        stdout.starts_with("scenario revoked-then-denied as resolved for seed 3"),
        "{stdout}"
    );
    let resolved = resolved_lines(&stdout);
    assert!(!resolved.is_empty(), "{stdout}");
    for line in &resolved {
        assert!(
            !line.contains("min =") && !line.contains("one_of"),
            "a draw left unresolved: {line}"
        );
    }
    let (_, again, _) = hangsim(&args);
    assert_eq!(resolved_lines(&again), resolved);
}

/// `--set` overrides one value, by index or by name, and the resolved scenario shows it; a bad
/// override is one error line and exit 2.
#[test]
fn set_overrides_one_value_and_bad_sets_are_refused() {
    let (status, stdout, stderr) = hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seed",
        "0",
        "--set",
        "event[0].at_ms=1234",
        "--set",
        "consumer[app-1].commit_timeout_ms=5000",
    ]);
    assert_eq!(status, 0, "{stderr}");
    let resolved = resolved_lines(&stdout);
    assert!(resolved.contains(&"at_ms = 1234".to_string()), "{stdout}");
    assert!(
        resolved.contains(&"commit_timeout_ms = 5000".to_string()),
        "{stdout}"
    );
    for bad in [
        "event[9].at_ms=1",
        "consumer[nobody].commit_timeout_ms=1",
        "topic[0].partitions=99",
        "no-equals-sign",
    ] {
        let (status, stdout, stderr) = hangsim(&[
            "run",
            "--scenario",
            "auth-crash",
            "--protocol",
            "master",
            "--seed",
            "0",
            "--set",
            bad,
        ]);
        assert_eq!(status, 2, "{bad}: {stdout}{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{bad}: {stderr}");
        assert!(stderr.starts_with("error: "), "{bad}: {stderr}");
        assert!(stdout.is_empty(), "{bad}: {stdout}");
    }
}

/// A bad scenario file is one error line naming the file, the line and the key, and exit 2.
#[test]
fn bad_scenario_files_name_file_line_and_key() {
    let directory = tempfile::tempdir().unwrap();
    let good = std::fs::read_to_string(repo_file("scenarios/catalogue/auth-crash.toml")).unwrap();
    let cases = [
        (
            good.replacen("[[topic]]", "[[topic]]\ncolour = \"red\"", 1),
            "colour",
        ),
        (
            good.replace("topic = \"topic0\"", "topic = \"nowhere\""),
            "event[0].topic",
        ),
        (
            good.replace(
                "at_ms = { min = 0, max = 3000 }",
                "at_ms = { min = 3000, max = 0 }",
            ),
            "event[0].at_ms",
        ),
    ];
    for (index, (text, key)) in cases.iter().enumerate() {
        assert_ne!(text, &good, "case {index} changed nothing");
        let path = directory.path().join(format!("bad{index}.toml"));
        std::fs::write(&path, text).unwrap();
        let path = path.to_str().unwrap();
        let (status, _, stderr) = hangsim(&[
            "search",
            "--scenario-file",
            path,
            "--protocol",
            "master",
            "--seeds",
            "0..2",
        ]);
        assert_eq!(status, 2, "{stderr}");
        assert_eq!(stderr.lines().count(), 1, "{stderr}");
        let line = stderr.trim_end();
        let expected_start = format!("error: {path}:");
        assert!(line.starts_with(&expected_start), "{line}");
        let after_path = &line[expected_start.len()..];
        let line_number: String = after_path
            .chars()
            .take_while(char::is_ascii_digit)
            .collect();
        assert!(!line_number.is_empty(), "no line number: {line}");
        assert!(line.contains(key), "{key} missing: {line}");
    }
}

/// `describe` lists every key, event kind and trigger; with a scenario, the values it sets; an
/// unknown scenario or file is exit 2.
#[test]
fn describe_lists_every_key_and_a_scenarios_values() {
    let (status, stdout, _) = hangsim(&["describe"]);
    assert_eq!(status, 0);
    for key in scenarios::scenario::keys::KEYS {
        assert!(stdout.contains(key.path), "{} missing", key.path);
    }
    for usage in scenarios::scenario::keys::EVENT_USES {
        assert!(stdout.contains(usage.name), "{} missing", usage.name);
    }
    let (status, stdout, _) = hangsim(&["describe", "chaos"]);
    assert_eq!(status, 0);
    assert!(stdout.starts_with("scenario chaos: "), "{stdout}");
    assert!(stdout.contains("swarm.horizon_ms = 8000"), "{stdout}");
    let (status, _, stderr) = hangsim(&["describe", "no-such-scenario.toml"]);
    assert_eq!(status, 2);
    assert!(
        stderr.starts_with("error: no-such-scenario.toml"),
        "{stderr}"
    );
}

/// The false alarm: a 2 s handler makes the workload end past 120 s. With the deadline
/// derived from the scenario the run passes; cut short by `--deadline 60` while it still makes
/// progress, it is a timeout. Never a hang.
#[test]
fn a_slow_but_finite_run_is_never_a_hang() {
    let file = repo_file("tests/scenarios/slow-handler.toml");
    for protocol in ["master", "closed-queue"] {
        let base = [
            "run",
            "--scenario-file",
            file.as_str(),
            "--protocol",
            protocol,
            "--seed",
            "0",
            "--no-scenario",
        ];
        let (status, stdout, _) = hangsim(&base);
        assert_eq!(status, 0, "{stdout}");
        assert!(stdout.starts_with("verdict: pass\n"), "{stdout}");
        let mut cut = base.to_vec();
        cut.extend(["--deadline", "60"]);
        let (status, stdout, _) = hangsim(&cut);
        assert_eq!(status, 1, "{stdout}");
        assert!(stdout.starts_with("verdict: timeout\n"), "{stdout}");
    }
}

/// A fixture embeds its resolved scenario: it replays after the file it came from is gone.
#[test]
fn a_fixture_replays_without_the_file_it_came_from() {
    let directory = tempfile::tempdir().unwrap();
    let scenario = directory.path().join("mine.toml");
    std::fs::copy(repo_file("tests/scenarios/README-example.toml"), &scenario).unwrap();
    let fixture = directory.path().join("kept.toml");
    let (status, _, stderr) = hangsim(&[
        "run",
        "--scenario-file",
        scenario.to_str().unwrap(),
        "--protocol",
        "master",
        "--seed",
        "1",
        "--write-fixture",
        fixture.to_str().unwrap(),
        "--date",
        "2026-12-04",
    ]);
    assert!(status == 0 || status == 1, "{stderr}");
    std::fs::remove_file(&scenario).unwrap();
    let text = std::fs::read_to_string(&fixture).unwrap();
    assert!(text.contains("[scenario_resolved]"), "{text}");
    assert!(text.contains("source = "), "{text}");
    let (status, stdout, stderr) = hangsim(&["replay", fixture.to_str().unwrap()]);
    assert_eq!(status, 0, "{stdout}{stderr}");
}
