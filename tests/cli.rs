//! The `hangsim` command's contract: what it prints and its exit statuses.

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

/// `demo` finds the miniature hang, explains it, and exits 1 because a run hung.
#[test]
fn demo_finds_and_explains_the_hang() {
    let (status, stdout, _) = hangsim(&["demo", "--seeds", "20"]);
    assert_eq!(status, 1, "{stdout}");
    assert!(stdout.contains("HANG"), "{stdout}");
    assert!(
        stdout.contains("waits on promise `promise:RemoveSubscription#1`"),
        "{stdout}"
    );
    assert!(stdout.contains("uninterruptible"), "{stdout}");
    assert!(
        stdout.contains("why: RemoveSubscription was offered at"),
        "{stdout}"
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
