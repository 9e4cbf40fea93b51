//! Shrinking a failing fixture (`hangsim shrink`): the smallest scenario and schedule found that
//! still fail with the same signature.
//!
//! Start at [`shrink`]. Each round runs the scenario passes ([`scenario_passes`]: fewer
//! consumers, topics, consumptions, events, faults, partitions and records, settings back to
//! their defaults, shorter delays) and then the schedule passes ([`schedule_passes`]: the
//! decision log toward default decisions, as Hypothesis shrinks its choice sequence); rounds
//! repeat until one makes no progress or half the run budget is spent. What non-default
//! decisions they leave is then keyed by fiber and shrunk as a schedule with the rest of the
//! budget ([`keyed`]: entries deleted, the scenario passes again), and written under the
//! strategy `schedule`.
//!
//! A candidate is accepted only when its run fails with the fixture's signature and verdict
//! kind, and every decision it took from a log is one its strategy could have taken (else the
//! shrunk fixture would not replay strictly).
//!
//! Divergence: a candidate's run rarely follows the log it is given (a smaller scenario has
//! other fibers; a changed decision leads elsewhere). That is allowed: a run whose log no longer
//! fits, or runs out, leaves it and takes its strategy's own decisions (schedule candidates are
//! given default decisions after their changes, so that a shorter log means "default from
//! there"; scenario candidates too, so that a smaller scenario brings no forced yields of its
//! own). What a run did is its own recorded log, and the shrunk fixture is written from the
//! accepted run's [`RunRecord`]: its decisions are exactly the ones it ran, so it replays
//! strictly. [`shrink`] checks that it does before returning it.
//!
//! Explicit schedules: under `pct:D` every decision is PCT's own answer (a strict replay admits
//! nothing else), so no edited log of a PCT run replays strictly under `pct:D`. Such a fixture
//! (and one under `yields:1`: see [`StrategyChoice::admits_default_decisions`]) is first
//! re-expressed under the strategy `log` ([`sim::strategy::FromLog`]: the decisions are the
//! log's, past its end the defaults, and every logged decision is admitted). The same decisions
//! give the same run, since a strategy draws only from the scheduling stream, which nothing else
//! reads; that is checked, not assumed: the fixture under `log` must replay strictly (same trace
//! hash, signature and verdict). Then both kinds of passes shrink it as any other, and the
//! shrunk fixture names strategy `log`, its provenance the original strategy
//! ([`Provenance::original_strategy`]). When the check fails, the fixture keeps its strategy:
//! the schedule passes are skipped and scenario candidates take its strategy's decisions after
//! their prefix, as before `log` existed ([`Reexpression::Refused`]).
//!
//! Deterministic: candidates are generated and tried in a fixed order, runs are pure functions
//! of their inputs, and no clock is read here.

pub mod keyed;
pub mod scenario_passes;
pub mod schedule_passes;

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Arc;

use sim::{DecisionLog, StrategyChoice};

use crate::catalogue::Scenario;
use crate::fixture::{replay_fixture, Fixture, Provenance};
use crate::runner::run_one;
use crate::scenario::ScenarioFile;
use crate::verdict::{RunRecord, RunSpec, VerdictKind};
pub use keyed::KeyedPhase;

/// The run budget when none is given: enough for a chaos fixture's first rounds (a few seconds
/// per hundred runs in a release build).
pub const DEFAULT_MAX_RUNS: usize = 1_000;

/// What `hangsim shrink` is asked.
#[derive(Clone, Debug)]
pub struct ShrinkOptions {
    /// The most candidate runs (the two strict replays, before and after, are not counted).
    pub max_runs: usize,
    /// How the shrunk fixture's provenance names the original (`shrunk_from`).
    pub origin: String,
}

/// The kinds of accepted steps, in the order they are reported.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum StepKind {
    RemoveConsumer,
    RemoveTopic,
    RemoveConsumption,
    RemoveFault,
    RemoveEvent,
    RemoveSubscription,
    RemoveListEntry,
    ResetSetting,
    FewerPartitions,
    FewerRecords,
    ShorterDelay,
    LowerValue,
    ZeroDecisions,
    OneDecision,
    LowerDecision,
    DeleteDecisions,
    SortDecisions,
    DeleteEntries,
}

impl StepKind {
    /// What an accepted step of this kind did, in words.
    pub fn description(self) -> &'static str {
        match self {
            StepKind::RemoveConsumer => "removed a consumer (with the events naming it)",
            StepKind::RemoveTopic => "removed a topic (with its subscriptions and events)",
            StepKind::RemoveConsumption => "removed a consumption (with its events)",
            StepKind::RemoveFault => "removed written-out faults",
            StepKind::RemoveEvent => "removed an event",
            StepKind::RemoveSubscription => "removed a topic from a subscription",
            StepKind::RemoveListEntry => "removed a list entry",
            StepKind::ResetSetting => "set a key back to its default",
            StepKind::FewerPartitions => "fewer partitions",
            StepKind::FewerRecords => "fewer records",
            StepKind::ShorterDelay => "shorter delay or earlier time",
            StepKind::LowerValue => "value toward its low end",
            StepKind::ZeroDecisions => "made a chunk of scheduling decisions default",
            StepKind::OneDecision => "replaced the schedule by one non-default decision",
            StepKind::LowerDecision => "lowered a pick",
            StepKind::DeleteDecisions => "deleted default decisions before a forced one",
            StepKind::SortDecisions => "sorted a window of decisions",
            StepKind::DeleteEntries => "deleted entries of the schedule keyed by fiber",
        }
    }
}

/// The sizes of a run that the shrinker reports before and after.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Sizes {
    /// Events of the scenario.
    pub events: usize,
    /// Written-out faults of the scenario's fault plan.
    pub faults: usize,
    /// Records produced in all (partitions times records per partition, summed over topics).
    pub records: u64,
    /// Fibers that appear in the trace.
    pub fibers: usize,
    /// Scheduling decisions other than the default (a forced yield, a pick other than the
    /// oldest ready fiber).
    pub non_default_decisions: usize,
    /// Decisions in the log.
    pub decisions: usize,
    /// Events in the trace.
    pub trace_length: usize,
}

impl Sizes {
    /// The sizes of a recorded run (a run without recorded events has no fibers or trace).
    pub fn of(record: &RunRecord) -> Sizes {
        let file = &record.resolved;
        let faults = &file.faults;
        let events = record.events.as_deref().unwrap_or_default();
        Sizes {
            events: file.events.len(),
            faults: faults.acl_changes.len()
                + faults.authentication_outages.len()
                + faults.call_faults.len()
                + faults.poll_latency.len()
                + faults.call_latency.len()
                + faults.peer_changes.len()
                + faults.session_timeouts.len(),
            records: file
                .topics
                .iter()
                .map(|topic| topic.partitions.value() * topic.records_per_partition.value())
                .sum(),
            fibers: events
                .iter()
                .filter_map(|event| event.fiber)
                .collect::<BTreeSet<u64>>()
                .len(),
            non_default_decisions: schedule_passes::non_default_positions(
                record.decisions.decisions(),
            )
            .len(),
            decisions: record.decisions.len(),
            trace_length: events.len(),
        }
    }

    /// Each size by name, in the order they are printed.
    pub fn named(&self) -> [(&'static str, u64); 7] {
        [
            ("events", self.events as u64),
            ("faults", self.faults as u64),
            ("records", self.records),
            ("fibers", self.fibers as u64),
            ("non-default decisions", self.non_default_decisions as u64),
            ("decisions", self.decisions as u64),
            ("trace length", self.trace_length as u64),
        ]
    }
}

/// A finished shrink.
#[derive(Clone, Debug)]
pub struct ShrinkOutcome {
    /// The shrunk fixture (it replays strictly; checked).
    pub fixture: Fixture,
    pub before: Sizes,
    pub after: Sizes,
    /// How many steps of each kind were accepted.
    pub steps: BTreeMap<StepKind, usize>,
    /// Candidate runs made.
    pub runs: usize,
    /// Rounds begun.
    pub rounds: usize,
    /// Whether the run budget ended the shrink (else a whole round made no progress).
    pub budget_spent: bool,
    /// Whether the schedule was re-expressed under `log` first.
    pub reexpression: Reexpression,
    /// Whether the decisions left were then keyed by fiber and shrunk as a schedule.
    pub keyed: KeyedPhase,
}

/// Whether the shrinker re-expressed the fixture's schedule under the strategy `log` before
/// shrinking it (see the module's documentation).
#[derive(Clone, Debug, PartialEq)]
pub enum Reexpression {
    /// The fixture's strategy admits default decisions: its schedule is shrunk under it.
    NotNeeded,
    /// The fixture's decisions, under `log`, replayed its run exactly; the shrunk fixture names
    /// `log`.
    UnderLog { original: StrategyChoice },
    /// Under `log` the decisions did not replay the run (how, in words): the fixture keeps
    /// `original`, and only the scenario passes run.
    Refused {
        original: StrategyChoice,
        mismatch: String,
    },
}

impl fmt::Display for Reexpression {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Reexpression::NotNeeded => f.write_str("shrunk under the fixture's own strategy"),
            Reexpression::UnderLog { original } => write!(
                f,
                "re-expressed under `log` (its {original} decisions replay the same run), then shrunk toward default decisions"
            ),
            Reexpression::Refused { original, mismatch } => write!(
                f,
                "kept under {original}, scenario passes only: under `log` its decisions did not replay the same run ({mismatch})"
            ),
        }
    }
}

impl fmt::Display for ShrinkOutcome {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "{} candidate runs in {} rounds; {}",
            self.runs,
            self.rounds,
            if self.budget_spent {
                "stopped: --max-runs spent"
            } else {
                "stopped: a whole round made no progress"
            }
        )?;
        writeln!(f, "schedule: {}", self.reexpression)?;
        writeln!(f, "keyed by fiber: {}", self.keyed)?;
        if self.steps.is_empty() {
            writeln!(
                f,
                "removed: nothing (no smaller candidate failed the same way)"
            )?;
        }
        for (kind, count) in &self.steps {
            writeln!(f, "removed: {count:>4} x {}", kind.description())?;
        }
        writeln!(f, "{:<24} {:>8}   {:>8}", "size", "before", "after")?;
        for ((name, before), (_, after)) in self.before.named().iter().zip(self.after.named()) {
            writeln!(f, "{name:<24} {before:>8} → {after:>8}")?;
        }
        Ok(())
    }
}

/// What every accepted candidate must reproduce.
struct Target {
    signature: String,
    kind: VerdictKind,
}

/// The runs of candidates, within the budget.
struct Candidates<'f> {
    /// The fixture being shrunk, under the strategy its candidates run with (`log` when it was
    /// re-expressed).
    original: &'f Fixture,
    target: Target,
    max_runs: usize,
    runs: usize,
    /// Whether [`one_non_default_decision`] has run (it runs once: it costs up to a run per
    /// decision).
    one_decision_tried: bool,
}

impl Candidates<'_> {
    /// Whether the strategy candidates run under admits default decisions in place of its own
    /// (not PCT, unless re-expressed under `log`), so that an edited log replays strictly.
    fn defaults_admitted(&self) -> bool {
        self.original.strategy.admits_default_decisions()
    }

    fn spent(&self) -> bool {
        self.runs >= self.max_runs
    }

    /// How many decisions the run of `scenario` with every decision default takes (one run of
    /// the budget; `None` once it is spent), whether it fails or not.
    fn decisions_of_default_run(&mut self, scenario: &Arc<ScenarioFile>) -> Option<usize> {
        if self.spent() {
            return None;
        }
        self.runs += 1;
        // A default tail, not an empty log: past its log a `yields:P` run draws its own yields.
        let spec = self.spec(scenario, schedule_passes::with_default_tail(&[]));
        Some(run_one(&spec).decisions.len())
    }

    /// The run of `scenario` from `log` under the candidates' strategy.
    fn spec(&self, scenario: &Arc<ScenarioFile>, log: Vec<u32>) -> RunSpec {
        RunSpec {
            resolved: Some(scenario.clone()),
            replay: Some(DecisionLog::from_decisions(log)),
            strategy: self.original.strategy.clone(),
            deadline: self.original.deadline,
            ..RunSpec::new(
                Scenario::embedded((**scenario).clone()),
                self.original.protocol,
                self.original.seed,
            )
        }
    }

    /// The candidate's run, when it fails the same way and replays strictly; `None` otherwise
    /// (and once the budget is spent).
    fn try_run(&mut self, scenario: &Arc<ScenarioFile>, log: Vec<u32>) -> Option<RunRecord> {
        if self.spent() {
            return None;
        }
        self.runs += 1;
        let record = run_one(&self.spec(scenario, log));
        let same = record.signature == self.target.signature
            && record.verdict.kind() == self.target.kind
            && record.strategy_disagreement.is_none();
        same.then_some(record)
    }
}

/// The best candidate so far: its scenario and its run.
struct Best {
    scenario: Arc<ScenarioFile>,
    record: RunRecord,
}

/// Shrinks a failing fixture (see the module's documentation). Refuses, with one line, a
/// fixture that does not replay strictly (it fails differently, or not at all, on replay) and
/// one that passes.
pub fn shrink(original: &Fixture, options: &ShrinkOptions) -> Result<ShrinkOutcome, String> {
    let first = replay_fixture(original);
    if !first.matched() {
        let differences: Vec<String> = first.mismatches.iter().map(|m| m.to_string()).collect();
        return Err(format!(
            "it does not replay as recorded: {}",
            differences.join("; ")
        ));
    }
    if !first.record.verdict.is_failure() {
        return Err("it does not fail (verdict pass): there is no failure to keep".into());
    }
    let before = Sizes::of(&first.record);
    let (working, reexpression) = reexpress(original, &first.record.decisions);
    let mut candidates = Candidates {
        original: &working,
        target: Target {
            signature: first.record.signature.clone(),
            kind: first.record.verdict.kind(),
        },
        // The log passes get half the budget, so that a schedule they cannot shrink (they spend
        // whatever they are given on it) leaves the keyed phase the other half; the keyed
        // phase gets all that is left.
        max_runs: options.max_runs.div_ceil(2),
        runs: 0,
        one_decision_tried: false,
    };
    let mut best = Best {
        scenario: original.resolved.clone(),
        record: first.record,
    };
    let mut steps = BTreeMap::new();
    let mut rounds = 0;
    while !candidates.spent() {
        rounds += 1;
        let scenario_progress = scenario_round(&mut candidates, &mut best, &mut steps);
        let schedule_progress = schedule_round(&mut candidates, &mut best, &mut steps);
        // Once the passes converge, one costlier try, once: a schedule with a single
        // non-default decision; rounds go on after it if it found one.
        if !scenario_progress
            && !schedule_progress
            && !one_non_default_decision(&mut candidates, &mut best, &mut steps)
        {
            break;
        }
    }
    // Then what the log passes left, keyed by fiber.
    candidates.max_runs = options.max_runs;
    let keyed = keyed::keyed_phase(&mut candidates, &mut best, &mut steps);
    let original_strategy = match &reexpression {
        Reexpression::UnderLog { original } => Some(original.to_string()),
        // A fixture shrunk again keeps the strategy its first original had.
        _ => original.provenance.original_strategy.clone(),
    };
    let fixture = Fixture::from_record(
        &best.record,
        Provenance {
            found_by: "shrink".into(),
            shrunk_from: Some(options.origin.clone()),
            original_strategy,
            ..original.provenance.clone()
        },
    );
    let check = replay_fixture(&fixture);
    if !check.matched() {
        let differences: Vec<String> = check.mismatches.iter().map(|m| m.to_string()).collect();
        return Err(format!(
            "the shrunk fixture does not replay strictly (a bug of the shrinker): {}",
            differences.join("; ")
        ));
    }
    Ok(ShrinkOutcome {
        fixture,
        before,
        after: Sizes::of(&check.record),
        steps,
        runs: candidates.runs,
        rounds,
        budget_spent: candidates.spent(),
        reexpression,
        keyed,
    })
}

/// The fixture to shrink: `original` itself when its strategy admits default decisions, else
/// `original` under `log` when that replays the same run exactly (one strict replay, not counted
/// as a candidate run), else `original` itself again, with the reason. A fixture under
/// `schedule` (shrunk before) is re-expressed under `log` with `replayed`, the decisions its
/// replay took, so that the log passes see them by position.
fn reexpress(original: &Fixture, replayed: &DecisionLog) -> (Fixture, Reexpression) {
    let keyed = original.strategy == StrategyChoice::Schedule;
    if original.strategy.admits_default_decisions() && !keyed {
        return (original.clone(), Reexpression::NotNeeded);
    }
    let explicit = Fixture {
        strategy: StrategyChoice::Log,
        decisions: if keyed {
            replayed.clone()
        } else {
            original.decisions.clone()
        },
        schedule: None,
        ..original.clone()
    };
    let replay = replay_fixture(&explicit);
    if replay.matched() {
        let reexpression = Reexpression::UnderLog {
            original: original.strategy.clone(),
        };
        return (explicit, reexpression);
    }
    let differences: Vec<String> = replay.mismatches.iter().map(|m| m.to_string()).collect();
    let reexpression = Reexpression::Refused {
        original: original.strategy.clone(),
        mismatch: differences.join("; "),
    };
    (original.clone(), reexpression)
}

/// One pass over the scenario candidates, each run under the current log (see
/// [`scenario_round_with`]).
fn scenario_round(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    scenario_round_with(candidates, best, steps, |candidates, scenario, best| {
        // The current log as a prefix: the schedule that failed, as far as it still fits;
        // then default decisions where the strategy admits them, so that a smaller scenario
        // never brings new forced yields of its own.
        let current = best.record.decisions.decisions();
        let log = if candidates.defaults_admitted() {
            schedule_passes::with_default_tail(current)
        } else {
            current.to_vec()
        };
        candidates.try_run(scenario, log)
    })
}

/// One pass over the scenario candidates, each run by `run` (under a log, or under a schedule
/// keyed by fiber); after an accepted one the candidates are generated again from it and the
/// pass goes on from the same place (the entry that slid into the removed one's place, or the
/// same value lowered further).
fn scenario_round_with(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
    mut run: impl FnMut(&mut Candidates, &Arc<ScenarioFile>, &Best) -> Option<RunRecord>,
) -> bool {
    let mut progress = false;
    let mut index = 0;
    'regenerate: loop {
        let list = scenario_passes::candidates(&best.scenario);
        while index < list.len() {
            if candidates.spent() {
                return progress;
            }
            let candidate = &list[index];
            let scenario = Arc::new(candidate.file.clone());
            if let Some(record) = run(candidates, &scenario, best) {
                *steps.entry(candidate.kind).or_insert(0) += 1;
                *best = Best { scenario, record };
                progress = true;
                continue 'regenerate;
            }
            index += 1;
        }
        return progress;
    }
}

/// One pass over the decision log: chunks of non-default decisions made default, largest
/// chunks first; then the local candidates at each remaining non-default decision.
fn schedule_round(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    if !candidates.defaults_admitted() {
        return false;
    }
    let mut progress = bisect_default_tail(candidates, best, steps);
    let count = schedule_passes::non_default_positions(best.record.decisions.decisions()).len();
    for size in schedule_passes::chunk_sizes(count) {
        let mut from = 0;
        loop {
            if candidates.spent() {
                return progress;
            }
            let current = best.record.decisions.decisions().to_vec();
            let Some(smaller) = schedule_passes::zero_chunk(&current, from, from + size) else {
                break;
            };
            if try_schedule(StepKind::ZeroDecisions, &smaller, candidates, best, steps) {
                // The accepted chunk is gone, so the next chunk now starts at `from`.
                progress = true;
            } else {
                from += size;
            }
        }
    }
    let mut index = 0;
    loop {
        let current = best.record.decisions.decisions().to_vec();
        if index >= schedule_passes::non_default_positions(&current).len() {
            return progress;
        }
        let mut accepted = false;
        for (kind, log) in schedule_passes::local_candidates(&current, index) {
            if candidates.spent() {
                return progress;
            }
            if try_schedule(kind, &log, candidates, best, steps) {
                accepted = true;
                progress = true;
                break;
            }
        }
        // After a change the same decision number is tried again: it may shrink further.
        if !accepted {
            index += 1;
        }
    }
}

/// Bisects for the fewest leading non-default decisions that, with every later decision
/// default, still fail the same way: a few runs (about log2 of the count) that cut most of a
/// long schedule whose failure was decided early, such as a PCT run's, where the chunk passes
/// below would need about two runs per non-default decision. Bisection assumes that keeping
/// more of the prefix never loses the failure; where that is false it only finds less.
///
/// Only on a schedule re-expressed under `log`: on `yields` schedules it was measured to lead
/// the chunk passes to a worse end (a group-churn fixture kept 498 of 11,700 forced yields
/// instead of none, `scripts/shrink-all.sh`), and it gains a little on PCT's drain races
/// (1,931 non-default decisions left over all 71 `pct:3` fixtures, against 2,019 without it).
fn bisect_default_tail(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    if candidates.original.strategy != StrategyChoice::Log {
        return false;
    }
    let mut progress = false;
    // `kept_fails`: a count of leading non-default decisions known to fail (the whole log);
    // `lowest`: no smaller count than this is left to try.
    let mut lowest = 0;
    let mut kept_fails =
        schedule_passes::non_default_positions(best.record.decisions.decisions()).len();
    while lowest < kept_fails && !candidates.spent() {
        let middle = lowest + (kept_fails - lowest) / 2;
        let current = best.record.decisions.decisions().to_vec();
        let Some(shorter) = schedule_passes::zero_chunk(&current, middle, usize::MAX) else {
            break;
        };
        if try_schedule(StepKind::ZeroDecisions, &shorter, candidates, best, steps) {
            progress = true;
            // The accepted run took its own path: count its leading non-default decisions.
            kept_fails = schedule_passes::non_default_positions(best.record.decisions.decisions())
                .len()
                .min(middle);
        } else {
            lowest = middle + 1;
        }
    }
    progress
}

/// Tries the schedules with a single non-default decision (a 1: a forced yield, or the second
/// oldest ready fiber) at each position of the all-default run, latest first. A long schedule
/// whose decisions matter only together (a PCT run's priorities put many fibers out of age
/// order) loses its failure to every chunk the passes below zero, yet the race it shows often
/// needs one preemption at the right place: this finds it in at most as many runs as the
/// default run takes decisions. Latest first, because the hang is the run's end and the race
/// that causes it comes late. It runs once the other passes have converged (so that a budget
/// they need is never spent here: on a drain race, which needs many decisions, it finds
/// nothing), once, and only on a schedule re-expressed under `log`
/// (a `yields` schedule's forced yields are independent draws, which the chunk passes remove
/// well, and this pass would spend their budget), and not when the log has at most one
/// non-default decision.
fn one_non_default_decision(
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    let explicit = candidates.original.strategy == StrategyChoice::Log;
    let count = schedule_passes::non_default_positions(best.record.decisions.decisions()).len();
    if candidates.one_decision_tried || !explicit || count <= 1 {
        return false;
    }
    candidates.one_decision_tried = true;
    let Some(default_length) = candidates.decisions_of_default_run(&best.scenario) else {
        return false;
    };
    for at in (0..default_length).rev() {
        if candidates.spent() {
            return false;
        }
        let mut log = vec![0; at + 1];
        log[at] = 1;
        if try_schedule(StepKind::OneDecision, &log, candidates, best, steps) {
            return true;
        }
    }
    false
}

/// Runs a changed decision log (with default decisions after it) on the best scenario; accepts
/// it when the run fails the same way and the log it took is smaller.
fn try_schedule(
    kind: StepKind,
    log: &[u32],
    candidates: &mut Candidates,
    best: &mut Best,
    steps: &mut BTreeMap<StepKind, usize>,
) -> bool {
    let current = schedule_passes::measure(best.record.decisions.decisions());
    let Some(record) = candidates.try_run(&best.scenario, schedule_passes::with_default_tail(log))
    else {
        return false;
    };
    if schedule_passes::measure(record.decisions.decisions()) >= current {
        return false;
    }
    *steps.entry(kind).or_insert(0) += 1;
    best.record = record;
    true
}
