//! Traces: a stable hash of everything a run did, optional structured records, and virtual time
//! in words.
//!
//! The hash folds every runtime event (with its virtual timestamp) in order. Its mixing function
//! is written here rather than taken from `std`, whose `DefaultHasher` may change between Rust
//! releases: fixtures store trace hashes and must keep matching.

use std::fmt;
use std::time::Duration;

/// An order-sensitive 64-bit hash of a run's events, stable across machines and releases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceHash(u64);

impl Default for TraceHash {
    fn default() -> Self {
        TraceHash(0xcbf2_9ce4_8422_2325)
    }
}

impl TraceHash {
    /// Folds one word in.
    #[inline]
    pub fn word(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(0x517c_c1b7_2722_0a95);
    }

    /// Folds a text in, with its length, so that adjacent texts cannot run together.
    pub fn text(&mut self, text: &str) {
        self.word(text.len() as u64);
        // Whole words straight from the text; only the tail is padded with zeros (a copy of a
        // variable length there costs a `memcpy` call, which showed in the search's profile).
        let mut chunks = text.as_bytes().chunks_exact(8);
        for chunk in &mut chunks {
            self.word(u64::from_le_bytes(chunk.try_into().expect("8-byte chunk")));
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let mut word = 0u64;
            for (index, &byte) in tail.iter().enumerate() {
                word |= u64::from(byte) << (8 * index);
            }
            self.word(word);
        }
    }

    /// The hash so far.
    pub fn value(self) -> u64 {
        self.0
    }
}

/// One recorded event of a run, kept when a run is asked to record (for reports and replays
/// shown to people; searches do not record).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TraceRecord {
    /// Virtual time since the run started.
    pub at: Duration,
    /// The fiber that acted, if any.
    pub fiber: Option<u64>,
    /// What happened, in words (object labels included).
    pub what: String,
}

impl fmt::Display for TraceRecord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:>12}", format_virtual_time(self.at))?;
        match self.fiber {
            Some(fiber) => write!(f, "  fiber#{fiber:<4} {}", self.what),
            None => write!(f, "  {:<10} {}", "", self.what),
        }
    }
}

/// Virtual time as people read it: `1.250000s`.
pub fn format_virtual_time(at: Duration) -> String {
    format!("{}.{:06}s", at.as_secs(), at.subsec_micros())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The hash depends on order and content, and its value is fixed: a change here breaks
    /// every fixture, so this test pins it.
    #[test]
    fn trace_hash_is_order_sensitive_and_pinned() {
        let mut ab = TraceHash::default();
        ab.word(1);
        ab.word(2);
        let mut ba = TraceHash::default();
        ba.word(2);
        ba.word(1);
        assert_ne!(ab, ba);
        let mut text = TraceHash::default();
        text.text("command_queue");
        assert_eq!(
            text.value(),
            0x45a8_09c0_7e33_5f21,
            "the pinned hash of a label changed"
        );
    }
}
