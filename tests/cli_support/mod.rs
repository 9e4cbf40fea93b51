//! What the command-line tests share: running `hangsim`, finding a committed fixture, and the
//! historic windows whose fixtures must keep telling their story.

// Each test binary uses part of this module.
#![allow(dead_code)]

use std::ffi::OsStr;
use std::path::PathBuf;
use std::process::Command;

/// Runs `hangsim` with `args`: its exit status, stdout and stderr.
pub fn hangsim<S: AsRef<OsStr>>(args: &[S]) -> (i32, String, String) {
    let output = Command::new(env!("CARGO_BIN_EXE_hangsim"))
        .args(args)
        .output()
        .expect("hangsim runs");
    (
        output.status.code().expect("hangsim exits with a status"),
        String::from_utf8_lossy(&output.stdout).into(),
        String::from_utf8_lossy(&output.stderr).into(),
    )
}

/// The first committed fixture whose file name starts with `prefix`, if any: fixtures are
/// re-recorded and renamed by their signature, so tests find them by scenario, protocol and
/// strategy.
pub fn fixture_starting_with(prefix: &str) -> Option<PathBuf> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut names: Vec<PathBuf> = std::fs::read_dir(directory)
        .expect("tests/fixtures is readable")
        .map(|entry| entry.expect("a directory entry").path())
        .filter(|path| {
            path.file_name()
                .and_then(|name| name.to_str())
                .is_some_and(|name| name.starts_with(prefix) && name.ends_with(".toml"))
        })
        .collect();
    names.sort();
    names.into_iter().next()
}

/// A committed hang fixture of auth-crash under master.
pub fn master_hang_fixture() -> PathBuf {
    fixture_starting_with("auth-crash.master.yields.hang-")
        .expect("a hang fixture of auth-crash under master in tests/fixtures")
}

/// The historic windows (DESIGN.md section 2): a protocol, and words its hang's `why:` line
/// says when a fixture of that window is replayed.
pub const HISTORIC_WINDOWS: [(&str, &str); 3] = [
    (
        "check-offer-drain",
        "the runloop's last drain of command_queue, then",
    ),
    ("race-only", "runloop_done"),
    ("master", "the instant the runloop ended"),
];
