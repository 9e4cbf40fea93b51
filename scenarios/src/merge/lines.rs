//! The shards' NDJSON lines, checked and joined in seed order.
//!
//! Each shard's file is read as a stream, line by line with a bound on a line's length, and
//! only as many lines as its progress file counts: every counted line must be whole, a finding
//! of this search, of a seed of this shard that the shard completed, in increasing seed order.
//! A finished shard's file must hold nothing more (a search writes nothing past its last
//! count); an unfinished one's may (lines of seeds it would run again on a resume), and those
//! are left out, as a resume would drop them. The lines are joined by seed with a heap over
//! the shards' next lines, and written as they were read, byte for byte.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BinaryHeap};
use std::fs::File;
use std::io::{BufRead, BufReader, Read, Write};
use std::path::PathBuf;

use crate::search::{Finding, SeedPlan, Shard, Tally};
use crate::verdict::VerdictKind;

use super::shards::MergePlan;

/// The longest NDJSON line read: a finding with its report is a few KiB.
pub const MAX_LINE_BYTES: u64 = 4 * 1024 * 1024;

/// One failure signature as the joined lines show it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SignatureSeen {
    pub signature: String,
    pub smallest_seed: u64,
    pub runs: u64,
    /// The verdict and the one-line why of its smallest seed.
    pub verdict: VerdictKind,
    pub why: String,
    /// The shard (its position in [`MergePlan::shards`]) whose results hold the smallest seed.
    pub shard: usize,
    /// Whether the runner itself panicked on its smallest seed: then there is no run to keep,
    /// and no shard kept a fixture of it.
    pub runner_panic: bool,
}

/// What the joined lines hold.
#[derive(Clone, Debug, Default)]
pub struct Joined {
    pub lines: u64,
    pub tally: Tally,
    /// Every signature, smallest seed first.
    pub signatures: Vec<SignatureSeen>,
    /// The smallest seed that passed, and the shard (position) that searched it; only looked
    /// for when the search keeps a passing fixture.
    pub smallest_passing: Option<(u64, usize)>,
}

/// One shard's NDJSON file, being read.
struct ShardLines {
    path: PathBuf,
    shard: Shard,
    plan: SeedPlan,
    reader: BufReader<File>,
    /// The lines the progress file counts, and how many were read.
    counted: u64,
    read: u64,
    /// Whether the shard searched all its seeds (then nothing may follow the counted lines).
    finished: bool,
    /// The largest seed the shard completed, if any.
    last_completed: Option<u64>,
    last_seed: Option<u64>,
    /// The index in `plan` of the first seed not yet known to have failed, while looking for
    /// the smallest passing seed; `None` once found (or not looked for).
    passing_cursor: Option<u64>,
    smallest_passing: Option<u64>,
    completed: u64,
    /// Identity every line must carry.
    scenario: String,
    protocol: String,
    strategy: String,
}

impl ShardLines {
    fn where_(&self) -> String {
        format!("{} (shard {})", self.path.display(), self.shard)
    }

    /// The next counted line and its finding; `None` after the last counted one (having
    /// checked what follows it).
    fn next(&mut self) -> Result<Option<(u64, Finding, String)>, String> {
        if self.read == self.counted {
            self.check_rest()?;
            self.finish_passing();
            return Ok(None);
        }
        let number = self.read + 1;
        let mut bytes = Vec::new();
        (&mut self.reader)
            .take(MAX_LINE_BYTES + 1)
            .read_until(b'\n', &mut bytes)
            .map_err(|error| format!("cannot read {}: {error}", self.path.display()))?;
        if bytes.last() != Some(&b'\n') {
            return Err(if bytes.is_empty() {
                format!(
                    "{} holds {} lines, but its progress file counts {}: the file was cut short",
                    self.where_(),
                    self.read,
                    self.counted
                )
            } else if bytes.len() as u64 > MAX_LINE_BYTES {
                format!(
                    "{} line {number} is longer than {MAX_LINE_BYTES} bytes",
                    self.where_()
                )
            } else {
                format!(
                    "{} line {number} is cut short: the file ends inside it, but its progress \
                     file counts {} lines",
                    self.where_(),
                    self.counted
                )
            });
        }
        bytes.pop();
        let line = String::from_utf8(bytes)
            .map_err(|_| format!("{} line {number} is not UTF-8", self.where_()))?;
        let finding = Finding::from_line(&line)
            .map_err(|what| format!("{} line {number} is not a finding: {what}", self.where_()))?;
        self.check(number, &finding)?;
        self.read += 1;
        self.last_seed = Some(finding.seed);
        self.note_failing(finding.seed);
        Ok(Some((finding.seed, finding, line)))
    }

    /// A counted line must be of this search, a seed of this shard that it completed, after
    /// the line before.
    fn check(&self, number: u64, finding: &Finding) -> Result<(), String> {
        let (scenario, protocol, strategy) = (
            finding.scenario.as_str(),
            finding.protocol.name(),
            finding.strategy.to_string(),
        );
        if (scenario, protocol, strategy.as_str())
            != (&*self.scenario, &*self.protocol, &*self.strategy)
        {
            return Err(format!(
                "{} line {number} is a finding of another search: {scenario} under {protocol} \
                 (strategy {strategy})",
                self.where_()
            ));
        }
        let seed = finding.seed;
        let in_shard = seed % self.shard.count == self.shard.index
            && self.plan.len > 0
            && seed >= self.plan.seed(0)
            && self.last_completed.is_some_and(|last| seed <= last);
        let in_order = self.last_seed.is_none_or(|last| last < seed);
        if !in_shard || !in_order {
            return Err(format!(
                "{} line {number} is seed {seed}, which is not a completed seed of shard {} in \
                 order",
                self.where_(),
                self.shard
            ));
        }
        Ok(())
    }

    /// A finished shard's file ends with its counted lines.
    fn check_rest(&mut self) -> Result<(), String> {
        if !self.finished {
            return Ok(());
        }
        let mut byte = [0u8; 1];
        let more = self
            .reader
            .read(&mut byte)
            .map_err(|error| format!("cannot read {}: {error}", self.path.display()))?;
        if more > 0 {
            return Err(format!(
                "{} holds more than the {} lines its progress file counts, though the shard \
                 is finished: the file was written to after the search",
                self.where_(),
                self.counted
            ));
        }
        Ok(())
    }

    /// Follows the failing seeds in order to find the first seed that passed.
    fn note_failing(&mut self, seed: u64) {
        let Some(cursor) = self.passing_cursor else {
            return;
        };
        if self.plan.seed(cursor) == seed {
            self.passing_cursor = Some(cursor + 1);
        } else {
            // The seed at the cursor is before `seed` and did not fail.
            self.smallest_passing = Some(self.plan.seed(cursor));
            self.passing_cursor = None;
        }
    }

    fn finish_passing(&mut self) {
        if let Some(cursor) = self.passing_cursor.take() {
            if cursor < self.completed {
                self.smallest_passing = Some(self.plan.seed(cursor));
            }
        }
    }
}

/// Reads every shard's counted lines, checks them, and writes them to `out` in seed order.
pub fn join(plan: &MergePlan, mut out: Option<&mut dyn Write>) -> Result<Joined, String> {
    let mut readers = Vec::with_capacity(plan.shards.len());
    for (shard, files) in &plan.shards {
        let progress = &files.progress;
        let seed_plan = SeedPlan::new(plan.seeds, *shard);
        let file = File::open(&files.ndjson)
            .map_err(|error| format!("cannot read {}: {error}", files.ndjson.display()))?;
        readers.push(ShardLines {
            path: files.ndjson.clone(),
            shard: *shard,
            plan: seed_plan,
            reader: BufReader::new(file),
            counted: progress.findings,
            read: 0,
            finished: progress.completed == seed_plan.len,
            last_completed: (progress.completed > 0)
                .then(|| seed_plan.seed(progress.completed - 1)),
            last_seed: None,
            passing_cursor: (plan.search.keep_passing && progress.completed > 0).then_some(0),
            smallest_passing: None,
            completed: progress.completed,
            scenario: plan.search.scenario.clone(),
            protocol: plan.search.protocol.clone(),
            strategy: plan.search.strategy.clone(),
        });
    }
    let mut joined = Joined::default();
    let mut positions: BTreeMap<String, usize> = BTreeMap::new();
    let mut heads: Vec<Option<(Finding, String)>> = Vec::with_capacity(readers.len());
    let mut heap = BinaryHeap::new();
    for (slot, reader) in readers.iter_mut().enumerate() {
        match reader.next()? {
            Some((seed, finding, line)) => {
                heap.push(Reverse((seed, slot)));
                heads.push(Some((finding, line)));
            }
            None => heads.push(None),
        }
    }
    while let Some(Reverse((_, slot))) = heap.pop() {
        let (finding, line) = heads[slot].take().expect("a queued shard has a line");
        if let Some(out) = out.as_deref_mut() {
            out.write_all(line.as_bytes())
                .and_then(|()| out.write_all(b"\n"))
                .map_err(|error| format!("cannot write the merged NDJSON file: {error}"))?;
        }
        joined.lines += 1;
        joined.tally.count(finding.verdict);
        match positions.get(&finding.signature) {
            Some(&position) => joined.signatures[position].runs += 1,
            None => {
                positions.insert(finding.signature.clone(), joined.signatures.len());
                joined.signatures.push(SignatureSeen {
                    runner_panic: finding.report.runner_panic.is_some(),
                    signature: finding.signature,
                    smallest_seed: finding.seed,
                    runs: 1,
                    verdict: finding.verdict,
                    why: finding.why,
                    shard: slot,
                });
            }
        }
        if let Some((seed, finding, line)) = readers[slot].next()? {
            heap.push(Reverse((seed, slot)));
            heads[slot] = Some((finding, line));
        }
    }
    joined.smallest_passing = readers
        .iter()
        .enumerate()
        .filter_map(|(slot, reader)| reader.smallest_passing.map(|seed| (seed, slot)))
        .min();
    Ok(joined)
}
