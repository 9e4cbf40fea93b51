//! Candidates that make a decision log smaller, as Hypothesis shrinks its choice sequence: zero
//! chunks of the non-default decisions (largest chunks first), lower a pick by one, delete the
//! default decisions just before a non-default one, and sort short windows.
//!
//! A decision 0 is the default everywhere: no forced yield at a scheduling point, the oldest
//! ready fiber at a pick. A candidate is replayed with zeros after it
//! ([`with_default_tail`]), so "a shorter log" means "default decisions from there on".

use super::StepKind;

/// A well-founded size of a decision log: non-default decisions, then the sum of all, then the
/// length, then the decisions in order (shortlex). Every accepted step makes it strictly smaller.
pub fn measure(decisions: &[u32]) -> (usize, u64, usize, Vec<u32>) {
    (
        decisions.iter().filter(|&&decision| decision != 0).count(),
        decisions.iter().map(|&decision| u64::from(decision)).sum(),
        decisions.len(),
        decisions.to_vec(),
    )
}

/// The positions of the non-default decisions.
pub fn non_default_positions(decisions: &[u32]) -> Vec<usize> {
    (0..decisions.len())
        .filter(|&at| decisions[at] != 0)
        .collect()
}

/// `decisions` followed by default decisions: as many again, and at least 10,000, so that a
/// candidate whose run takes a longer path still decides by default. Past them the strategy
/// decides (the replay has left its log; the recorded log says what was taken).
pub fn with_default_tail(decisions: &[u32]) -> Vec<u32> {
    let tail = decisions.len().max(10_000);
    let mut padded = Vec::with_capacity(decisions.len() + tail);
    padded.extend_from_slice(decisions);
    padded.resize(decisions.len() + tail, 0);
    padded
}

/// The chunk sizes of the zeroing pass for `count` non-default decisions: `count`, half, a
/// quarter, ... 1.
pub fn chunk_sizes(count: usize) -> Vec<usize> {
    let mut sizes = Vec::new();
    let mut size = count;
    while size > 0 {
        sizes.push(size);
        size /= 2;
    }
    sizes
}

/// The log with the non-default decisions numbered `from..until` (in order of position) made
/// default; `None` when there are no such decisions.
pub fn zero_chunk(decisions: &[u32], from: usize, until: usize) -> Option<Vec<u32>> {
    let positions = non_default_positions(decisions);
    let chunk = positions.get(from..until.min(positions.len()))?;
    if chunk.is_empty() {
        return None;
    }
    let mut smaller = decisions.to_vec();
    for &at in chunk {
        smaller[at] = 0;
    }
    // Trailing defaults say nothing a default tail does not.
    while smaller.last() == Some(&0) {
        smaller.pop();
    }
    Some(smaller)
}

/// The single-decision candidates at non-default decision number `index`: a pick one lower,
/// the default decisions just before it deleted (8, 4, 2, 1 of them), and the window starting
/// there sorted (2 and 8 decisions). Each with its kind; none equal to `decisions`.
pub fn local_candidates(decisions: &[u32], index: usize) -> Vec<(StepKind, Vec<u32>)> {
    let positions = non_default_positions(decisions);
    let Some(&at) = positions.get(index) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    if decisions[at] >= 2 {
        let mut lower = decisions.to_vec();
        lower[at] -= 1;
        out.push((StepKind::LowerDecision, lower));
    }
    for count in [8, 4, 2, 1] {
        if at >= count && decisions[at - count..at].iter().all(|&d| d == 0) {
            let mut shorter = decisions.to_vec();
            shorter.drain(at - count..at);
            out.push((StepKind::DeleteDecisions, shorter));
        }
    }
    for width in [2, 8] {
        let until = (at + width).min(decisions.len());
        let mut sorted = decisions.to_vec();
        sorted[at..until].sort_unstable();
        if sorted != decisions {
            out.push((StepKind::SortDecisions, sorted));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Zeroing a chunk makes exactly that chunk's decisions default and drops trailing zeros.
    #[test]
    fn zero_chunk_zeroes_the_chunk_only() {
        let log = [0, 1, 0, 2, 1, 0];
        assert_eq!(zero_chunk(&log, 0, 1), Some(vec![0, 0, 0, 2, 1]));
        assert_eq!(zero_chunk(&log, 1, 3), Some(vec![0, 1]));
        assert_eq!(zero_chunk(&log, 3, 4), None);
        assert_eq!(chunk_sizes(5), vec![5, 2, 1]);
    }

    /// Every local candidate is smaller by the measure than the log it came from.
    #[test]
    fn local_candidates_are_smaller() {
        let log = vec![0, 0, 0, 0, 2, 0, 1, 0];
        for index in 0..2 {
            let candidates = local_candidates(&log, index);
            assert!(!candidates.is_empty());
            for (kind, candidate) in candidates {
                assert!(
                    measure(&candidate) < measure(&log),
                    "{kind:?} {candidate:?}"
                );
            }
        }
    }
}
