//! What a run observed, in words: `hangsim run --observations` prints it for a passing run as
//! much as for a failing one (records processed per partition, commits, how each
//! `consume_with` ended).

use std::fmt;

use crate::workload::{Milestone, Observations};

use super::VirtualTime;

/// Prints [`Observations`] for people; with `named`, the heading names the consumer (a run of
/// several consumers prints one report each).
pub struct ObservationsReport<'a> {
    pub seen: &'a Observations,
    pub named: bool,
}

impl fmt::Display for ObservationsReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let seen = self.seen;
        if self.named {
            writeln!(f, "observed by {}:", seen.consumer)?;
        } else {
            writeln!(f, "observed:")?;
        }
        if seen.processed.is_empty() {
            writeln!(f, "  records processed: none")?;
        } else {
            writeln!(f, "  records processed, per partition (offsets):")?;
            for (partition, offsets) in &seen.processed {
                writeln!(f, "    {partition}: {offsets}")?;
            }
        }
        let failed = seen
            .explicit_commits
            .iter()
            .filter(|commit| commit.result.is_err())
            .count();
        writeln!(
            f,
            "  commits by the handler: {} ({} succeeded, {failed} failed)",
            seen.explicit_commits.len(),
            seen.explicit_commits.len() - failed
        )?;
        if let Some(first_failure) = seen
            .explicit_commits
            .iter()
            .find_map(|commit| commit.result.as_ref().err().map(|error| (commit, error)))
        {
            writeln!(
                f,
                "    first failure: started at {}, failed at {}: {}",
                VirtualTime(first_failure.0.started),
                VirtualTime(first_failure.0.ended),
                first_failure.1
            )?;
        }
        if seen.committed_offsets_read() {
            if seen.committed.is_empty() {
                writeln!(f, "  committed offsets at the end: none")?;
            } else {
                writeln!(f, "  committed offsets at the end (next offset to read):")?;
                for (partition, offset) in &seen.committed {
                    writeln!(f, "    {partition}: {offset}")?;
                }
                if seen.own_commits.is_empty() {
                    writeln!(f, "  offsets this consumer committed itself: none")?;
                } else if seen.own_commits != seen.committed {
                    writeln!(f, "  the highest offsets this consumer committed itself:")?;
                    for (partition, offset) in &seen.own_commits {
                        writeln!(f, "    {partition}: {offset}")?;
                    }
                }
            }
        } else {
            writeln!(
                f,
                "  committed offsets at the end: not read (the workload did not finish)"
            )?;
        }
        for outcome in &seen.consume_outcomes {
            write!(
                f,
                "  consume_with on {} ended at {}: {}",
                outcome.topic,
                VirtualTime(outcome.at),
                outcome.exit
            )?;
            match &outcome.failure {
                Some(failure) => writeln!(f, " ({failure})")?,
                None => writeln!(f)?,
            }
        }
        for (at, _, milestone) in &seen.milestones {
            match milestone {
                Milestone::RunloopExited { exit, .. } => {
                    writeln!(f, "  the runloop ended at {}: {exit}", VirtualTime(*at))?
                }
                Milestone::Killed => writeln!(
                    f,
                    "  killed at {}: its process died (no finalizer ran; committed offsets read then)",
                    VirtualTime(*at)
                )?,
                _ => {}
            }
        }
        Ok(())
    }
}
