//! Property tests of the two readers of outside data: the fixture reader and the decision-log
//! decoder. Fed arbitrary bytes and arbitrary mutations of the committed fixtures, they return
//! an error or a value within its documented limits; they never panic, and no single
//! allocation they make is larger than the limits allow.
//!
//! This test binary counts allocations with its own global allocator, so it holds one test:
//! tests running in parallel threads would see each other's allocations.

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};

use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};
use scenarios::fixture::{Fixture, MAX_FIXTURE_BYTES};
use sim::strategy::MAX_DECISIONS;
use sim::DecisionLog;

/// The system allocator, noting the largest single allocation asked of it.
struct LargestAllocation;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for LargestAllocation {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarded unchanged to the system allocator, whose contract the caller keeps.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, pointer: *mut u8, layout: Layout) {
        // SAFETY: as above; `pointer` came from `alloc` with this layout.
        unsafe { System.dealloc(pointer, layout) }
    }

    unsafe fn realloc(&self, pointer: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as above.
        unsafe { System.realloc(pointer, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: LargestAllocation = LargestAllocation;

/// The largest allocation a reader may make: a decoded decision log at its limit (4 bytes a
/// decision, and a vector may double its capacity while it grows), or a few copies of the
/// largest fixture text.
fn allocation_limit() -> usize {
    (2 * MAX_DECISIONS * 4).max(4 * MAX_FIXTURE_BYTES as usize)
}

fn committed_fixtures() -> Vec<String> {
    let directory = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../tests/fixtures");
    let mut texts: Vec<String> = std::fs::read_dir(&directory)
        .unwrap()
        .map(|entry| entry.unwrap().path())
        // Fixture files only: `shrunk/` is a directory of them.
        .filter(|path| path.extension().is_some_and(|ext| ext == "toml"))
        .map(|path| std::fs::read_to_string(path).unwrap())
        .collect();
    texts.sort();
    assert!(!texts.is_empty(), "no fixture in {}", directory.display());
    texts
}

/// One edit of a text: replace, insert or delete bytes at a position, or repeat a line (which
/// duplicates keys and tables), or write a large number into a value.
#[derive(Clone, Debug)]
enum Edit {
    Replace { at: usize, bytes: Vec<u8> },
    Insert { at: usize, bytes: Vec<u8> },
    Delete { at: usize, len: usize },
    RepeatLine { line: usize },
    BigNumber { at: usize, digits: String },
}

fn edit() -> impl Strategy<Value = Edit> {
    let bytes = prop::collection::vec(
        prop_oneof![
            any::<u8>(),
            Just(b'*'),
            Just(b'"'),
            Just(b'='),
            Just(b'\n'),
            Just(b'['),
            Just(b'0')
        ],
        1..8,
    );
    prop_oneof![
        (any::<usize>(), bytes.clone()).prop_map(|(at, bytes)| Edit::Replace { at, bytes }),
        (any::<usize>(), bytes).prop_map(|(at, bytes)| Edit::Insert { at, bytes }),
        (any::<usize>(), 1usize..40).prop_map(|(at, len)| Edit::Delete { at, len }),
        any::<usize>().prop_map(|line| Edit::RepeatLine { line }),
        (
            any::<usize>(),
            prop_oneof![
                Just("18446744073709551615".to_string()),
                Just("4294967295".to_string()),
                Just("255".to_string()),
                Just("0".to_string()),
                "[0-9]{1,25}"
            ]
        )
            .prop_map(|(at, digits)| Edit::BigNumber { at, digits }),
    ]
}

fn apply(text: &str, edit: &Edit) -> Vec<u8> {
    let mut bytes = text.as_bytes().to_vec();
    let len = bytes.len().max(1);
    match edit {
        Edit::Replace { at, bytes: new } => {
            let at = at % len;
            let end = (at + new.len()).min(bytes.len());
            bytes.splice(at..end, new.iter().copied());
        }
        Edit::Insert { at, bytes: new } => {
            let at = at % (bytes.len() + 1);
            bytes.splice(at..at, new.iter().copied());
        }
        Edit::Delete { at, len: count } => {
            let at = at % len;
            let end = (at + count).min(bytes.len());
            bytes.drain(at.min(end)..end);
        }
        Edit::RepeatLine { line } => {
            let lines: Vec<&str> = text.lines().collect();
            let chosen = lines[line % lines.len()];
            bytes.extend_from_slice(format!("\n{chosen}\n").as_bytes());
        }
        Edit::BigNumber { at, digits } => {
            // Over the first number at or after `at`.
            let start = at % len;
            if let Some(offset) = bytes[start.min(bytes.len())..]
                .iter()
                .position(u8::is_ascii_digit)
            {
                let from = start + offset;
                let to = from
                    + bytes[from..]
                        .iter()
                        .take_while(|b| b.is_ascii_digit())
                        .count();
                bytes.splice(from..to, digits.bytes());
            }
        }
    }
    bytes
}

/// What a reader may return: an error of one line, or a fixture within its limits.
fn check_fixture_reader(bytes: &[u8]) -> Result<(), TestCaseError> {
    let text = String::from_utf8_lossy(bytes);
    match Fixture::from_toml(&text) {
        Ok(fixture) => {
            prop_assert!(fixture.decisions.len() <= MAX_DECISIONS);
            prop_assert!(scenarios::scenario::validate::check(&fixture.resolved).is_ok());
        }
        Err(error) => prop_assert!(!error.contains('\n'), "{}", error),
    }
    Ok(())
}

fn check_decoder(text: &str) -> Result<(), TestCaseError> {
    match DecisionLog::decode(text) {
        Ok(log) => {
            prop_assert!(log.len() <= MAX_DECISIONS);
            // What decodes, encodes back to the same decisions.
            prop_assert_eq!(DecisionLog::decode(&log.encode()).unwrap(), log);
        }
        Err(error) => prop_assert!(!error.contains('\n'), "{}", error),
    }
    Ok(())
}

/// Arbitrary bytes and arbitrary mutations of the committed fixtures give the fixture reader
/// and the decision-log decoder an error or a value within its limits, never a panic, and no
/// allocation past the limits.
#[test]
fn readers_survive_arbitrary_and_mutated_input_within_their_limits() {
    let fixtures = committed_fixtures();
    let config = Config {
        cases: 512,
        failure_persistence: None,
        ..Config::default()
    };

    let mut runner = TestRunner::new(config.clone());
    runner
        .run(&prop::collection::vec(any::<u8>(), 0..4_096), |bytes| {
            check_fixture_reader(&bytes)
        })
        .unwrap();

    let mut runner = TestRunner::new(config.clone());
    let count = fixtures.len();
    runner
        .run(
            &(0..count, prop::collection::vec(edit(), 1..6)),
            |(index, edits)| {
                let mut bytes = fixtures[index].as_bytes().to_vec();
                for edit in &edits {
                    let text = String::from_utf8_lossy(&bytes).into_owned();
                    bytes = apply(&text, edit);
                }
                check_fixture_reader(&bytes)
            },
        )
        .unwrap();

    let mut runner = TestRunner::new(config);
    let token = prop_oneof![
        "[0-9]{1,3}",
        "[0-9]{1,3}\\*[0-9]{1,22}",
        Just("0*18446744073709551615".to_string()),
        Just(format!("1*{MAX_DECISIONS}")),
        "[ -~]{0,6}"
    ];
    runner
        .run(&prop::collection::vec(token, 0..12), |tokens| {
            check_decoder(&tokens.join(" "))
        })
        .unwrap();

    let largest = LARGEST.load(Ordering::Relaxed);
    assert!(
        largest <= allocation_limit(),
        "an allocation of {largest} bytes, past the limit of {}",
        allocation_limit()
    );
}
