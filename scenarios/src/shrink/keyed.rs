//! The last phase of a shrink: the schedule keyed by fiber ([`sim::FiberSchedule`]).
//!
//! The passes over the decision log edit decisions by position, and a change to an early
//! decision changes what every later one means. A long schedule whose decisions matter together
//! (a drain race set up by hundreds of PCT picks among 250 fibers) stops shrinking there. So once
//! those passes converge with non-default decisions left, the run's decisions are keyed by fiber
//! (one run that records them so), the keyed schedule is followed once to check that it gives
//! the very same run (trace hash, signature, verdict, every entry met), and then:
//! - entries are deleted in chunks, largest first, as the log passes zero decisions; a deleted
//!   entry leaves the others their meaning, so most can go;
//! - the scenario passes run again under the keyed schedule: a smaller scenario keeps the fibers
//!   and instants the remaining entries name far more often than it keeps decision positions.
//!
//! Rounds of both repeat until neither makes progress or the budget is spent; the shrunk fixture
//! then names the strategy `schedule` and carries its entries, one line each, in `schedule`.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::Arc;

use sim::{FiberSchedule, StrategyChoice};

use super::{schedule_passes, Best, Candidates, StepKind};
use crate::runner::run_one;
use crate::scenario::ScenarioFile;
use crate::verdict::{RunRecord, RunSpec};

/// What the keyed phase did.
#[derive(Clone, Debug, PartialEq)]
pub enum KeyedPhase {
    /// No non-default decision was left to key.
    NotNeeded,
    /// Decisions were left, but not the two runs keying them takes.
    NoBudget,
    /// The keyed schedule did not give the same run (how, in words); the fixture keeps its log.
    Refused(String),
    /// Keyed, then shrunk from `before` entries to `after`.
    Shrunk { before: usize, after: usize },
}

impl fmt::Display for KeyedPhase {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyedPhase::NotNeeded => f.write_str("not needed (no non-default decision left)"),
            KeyedPhase::NoBudget => f.write_str("not tried: --max-runs spent"),
            KeyedPhase::Refused(why) => write!(f, "not used: {why}"),
            KeyedPhase::Shrunk { before, after } => write!(
                f,
                "{before} entries (the log's non-default decisions, keyed by fiber) → {after}"
            ),
        }
    }
}

impl Candidates<'_> {
    /// The run of `scenario` following `schedule` (strategy `schedule`).
    fn scheduled_spec(&self, scenario: &Arc<ScenarioFile>, schedule: FiberSchedule) -> RunSpec {
        RunSpec {
            replay: None,
            schedule: Some(Arc::new(schedule)),
            strategy: StrategyChoice::Schedule,
            ..self.spec(scenario, Vec::new())
        }
    }

    /// The candidate's run under `schedule`, when it fails the same way; `None` otherwise (and
    /// once the budget is spent).
    fn try_scheduled(
        &mut self,
        scenario: &Arc<ScenarioFile>,
        schedule: FiberSchedule,
    ) -> Option<RunRecord> {
        if self.spent() {
            return None;
        }
        self.runs += 1;
        let record = run_one(&self.scheduled_spec(scenario, schedule));
        let same =
            record.signature == self.target.signature && record.verdict.kind() == self.target.kind;
        same.then_some(record)
    }
}

/// The entries the best run took (it ran under strategy `schedule`).
fn taken(best: &Best) -> FiberSchedule {
    best.record.fiber_schedule.clone().unwrap_or_default()
}

/// Keys the best run's decisions by fiber, checks the keyed schedule gives the same run, and
/// shrinks it (see the module's documentation). On success `best` ran under `schedule`.
pub(super) fn keyed_phase(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> KeyedPhase {
    let left = schedule_passes::non_default_positions(best.record.decisions.decisions()).len();
    if left == 0 {
        return KeyedPhase::NotNeeded;
    }
    if candidates.runs + 2 > candidates.max_runs {
        return KeyedPhase::NoBudget;
    }
    // One run that records the decisions keyed, one that follows them: both must be the run.
    candidates.runs += 2;
    let mut keying = candidates.spec(&best.scenario, best.record.decisions.decisions().to_vec());
    keying.key_decisions = true;
    let keyed = run_one(&keying);
    if let Some(divergence) = &keyed.schedule_divergence {
        return KeyedPhase::Refused(divergence.to_string());
    }
    let Some(schedule) = keyed
        .fiber_schedule
        .filter(|_| keyed.trace_hash == best.record.trace_hash)
    else {
        return KeyedPhase::Refused("recording the keys changed the run (a bug)".into());
    };
    let before = schedule.len();
    let followed = run_one(&candidates.scheduled_spec(&best.scenario, schedule));
    if followed.trace_hash != best.record.trace_hash || followed.schedule_divergence.is_some() {
        let why = match &followed.schedule_divergence {
            Some(divergence) => divergence.to_string(),
            None => format!(
                "trace hash {:#018x}, not {:#018x}",
                followed.trace_hash, best.record.trace_hash
            ),
        };
        return KeyedPhase::Refused(format!(
            "following the keyed schedule gave another run: {why}"
        ));
    }
    best.record = followed;
    shrink_entries(candidates, best, steps);
    pin_latest_instant(candidates, best, steps);
    KeyedPhase::Shrunk {
        before,
        after: taken(best).len(),
    }
}

/// Rounds of entry deletion and scenario passes until neither makes progress.
fn shrink_entries(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) {
    loop {
        let deleted = delete_entries(candidates, best, steps);
        let smaller = scenario_round(candidates, best, steps);
        if candidates.spent() || !(deleted || smaller) {
            return;
        }
    }
}

/// Pins the latest instant that has entries and shrinks again; keeps the result only when it
/// has fewer entries than before.
///
/// Entries that deletion cannot remove are often early ones (a start-up ordering) that matter
/// only because they set the order in which fibers become ready at the instant of the race,
/// where the default pick (the oldest ready fiber) then does the rest. Pinning records every
/// pick of that instant as an entry, the default ones too, so the race's order is named fiber
/// by fiber; the early entries can then go, and the pins that the race does not need after
/// them.
fn pin_latest_instant(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) {
    let current = taken(best);
    let Some(latest) = current.entries.iter().map(|entry| entry.at).max() else {
        return;
    };
    if candidates.spent() {
        return;
    }
    candidates.runs += 1;
    let mut pinning = candidates.scheduled_spec(&best.scenario, current.clone());
    pinning.pin_picks_at = Some(latest);
    let pinned = run_one(&pinning);
    if pinned.trace_hash != best.record.trace_hash || pinned.schedule_divergence.is_some() {
        return;
    }
    let (kept_scenario, kept_record) = (best.scenario.clone(), best.record.clone());
    let kept_steps = steps.clone();
    best.record = pinned;
    shrink_entries(candidates, best, steps);
    if taken(best).len() >= current.len() {
        *best = Best {
            scenario: kept_scenario,
            record: kept_record,
        };
        *steps = kept_steps;
    }
}

/// Chunks of entries deleted, largest first; after an accepted deletion the same place is
/// tried again with the entries that slid into it.
fn delete_entries(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    let mut progress = false;
    for size in schedule_passes::chunk_sizes(taken(best).len()) {
        let mut from = 0;
        loop {
            let current = taken(best);
            if from >= current.len() || candidates.spent() {
                break;
            }
            let mut entries = current.entries.clone();
            entries.drain(from..(from + size).min(current.len()));
            match candidates.try_scheduled(&best.scenario, FiberSchedule::new(entries)) {
                Some(record) if taken_by(&record) < current.len() => {
                    *steps.entry(StepKind::DeleteEntries).or_insert(0) += 1;
                    best.record = record;
                    progress = true;
                }
                _ => from += size,
            }
        }
    }
    progress
}

fn taken_by(record: &RunRecord) -> usize {
    record.fiber_schedule.as_ref().map_or(0, FiberSchedule::len)
}

/// The scenario candidates under the current keyed schedule, as [`super::scenario_round`] runs
/// them under a log.
fn scenario_round(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    super::scenario_round_with(candidates, best, steps, |candidates, scenario, best| {
        candidates.try_scheduled(scenario, taken(best))
    })
}
