//! The runner: one run of a scenario under a protocol, seed and strategy, judged; and the one
//! place where a run is run twice and the two compared.

use std::cell::RefCell;
use std::fmt;
use std::rc::Rc;
use std::str::FromStr;
use std::time::Duration;

use consumer::internal::labels::{COMMAND_QUEUE, RUNLOOP_DONE};
use serde::{Deserialize, Serialize};
use sim::{run, RunConfig, RunResult};

use std::sync::Arc;

use crate::coverage::RunCoverage;
use crate::invariants;
use crate::report::{self, Nondeterminism, RunReport};
use crate::scenario::ScenarioFile;
use crate::verdict::{RunRecord, RunSpec, Verdict};
use crate::workload::{workload, Milestone, Observations};

/// The shortest default deadline: what every run had before deadlines were derived, so that a
/// run that passed then still passes the same way.
pub const MIN_DEADLINE: Duration = Duration::from_secs(120);

/// The longest deadline a user may ask for (`--deadline`, a fixture's `deadline_secs`): a
/// bound on the virtual time, and so on the work, of one run.
pub const MAX_DEADLINE: Duration = Duration::from_secs(3_600);

/// Whether a deadline the user chose lies within 1 s..=[`MAX_DEADLINE`]; the error says so.
pub fn check_deadline(deadline: Duration) -> Result<(), String> {
    if deadline >= Duration::from_secs(1) && deadline <= MAX_DEADLINE {
        Ok(())
    } else {
        Err(format!(
            "deadline {} s is outside its bounds 1..={} s",
            deadline.as_secs(),
            MAX_DEADLINE.as_secs()
        ))
    }
}

/// Added to the longest legitimate wait to make the quiet window: room for what follows such a
/// wait (a commit's retries back off 1 + 2 + 4 s, a close takes its own steps).
pub const QUIET_MARGIN: Duration = Duration::from_secs(10);

/// The times a run's limits are derived from: plain values, so that any description of a
/// scenario (its resolved file, through [`RunTimings::of_scenario`])
/// can give them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunTimings {
    /// How long a commit may wait for its callback (`commit_timeout`).
    pub commit_timeout: Duration,
    /// How long a revocation may wait for commits (`max_rebalance_duration`).
    pub max_rebalance_duration: Duration,
    /// `max.poll.interval.ms`, also the stream pull interval: the runloop may wait this long
    /// on a stream that is not pulled.
    pub max_poll_interval: Duration,
    /// A handler's time for one record.
    pub handler_delay: Duration,
    /// The most records one handler processes one after the other (a partition's).
    pub records_in_sequence: u64,
    /// The longest the scenario itself may do nothing (its driver's sleeps, the time between
    /// two produced records, the final stop when nothing else happens).
    pub longest_scenario_delay: Duration,
    /// When the scenario's last action (its final stop) happens at the latest.
    pub last_action_at: Duration,
}

/// How long a run may take: the virtual deadline, and the quiet window (no progress for that
/// long is a hang). DESIGN 3.4: the quiet window is longer than the longest legitimate wait
/// the scenario's settings allow; the deadline leaves the workload time to do all its work
/// after its last action and then a whole quiet window, so that a hang is called one before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunLimits {
    pub deadline: Duration,
    pub quiet_window: Duration,
}

impl RunLimits {
    /// The limits a run with these timings gets by default. The one place they are derived.
    pub fn derive(timings: &RunTimings) -> RunLimits {
        let longest_wait = [
            timings.commit_timeout,
            timings.max_rebalance_duration,
            timings.max_poll_interval,
            timings.handler_delay,
            timings.longest_scenario_delay,
        ]
        .into_iter()
        .max()
        .unwrap_or_default();
        let quiet_window = longest_wait.saturating_add(QUIET_MARGIN);
        let handling = timings
            .handler_delay
            .saturating_mul(timings.records_in_sequence.min(u32::MAX as u64) as u32);
        let deadline = timings
            .last_action_at
            .saturating_add(handling)
            .saturating_add(timings.commit_timeout)
            .saturating_add(quiet_window)
            .max(MIN_DEADLINE);
        RunLimits {
            deadline,
            quiet_window,
        }
    }

    /// These limits with the user's deadline instead of the derived one.
    pub fn with_deadline(self, deadline: Option<Duration>) -> RunLimits {
        RunLimits {
            deadline: deadline.unwrap_or(self.deadline),
            ..self
        }
    }
}

impl RunTimings {
    /// The timings of a resolved scenario: the slowest consumer's settings, the slowest
    /// handler, the longest run of records, and the scenario's own times (events, production,
    /// starts, the final stop).
    pub fn of_scenario(file: &ScenarioFile) -> RunTimings {
        let defaults = consumer::ConsumerSettings::default();
        let ms = |value: &Option<crate::scenario::Draw<u64>>| {
            value
                .as_ref()
                .map(|value| Duration::from_millis(value.value()))
        };
        let mut timings = RunTimings {
            commit_timeout: Duration::ZERO,
            max_rebalance_duration: Duration::ZERO,
            max_poll_interval: Duration::ZERO,
            handler_delay: Duration::ZERO,
            records_in_sequence: 0,
            longest_scenario_delay: Duration::ZERO,
            last_action_at: Duration::ZERO,
        };
        for consumer in file
            .consumers
            .iter()
            .filter(|consumer| consumer.is_enabled())
        {
            let poll_interval =
                ms(&consumer.max_poll_interval_ms).unwrap_or(defaults.max_poll_interval);
            let commit_timeout = ms(&consumer.commit_timeout_ms).unwrap_or(defaults.commit_timeout);
            timings.commit_timeout = timings.commit_timeout.max(commit_timeout);
            timings.max_poll_interval = timings.max_poll_interval.max(poll_interval);
            timings.max_rebalance_duration = timings
                .max_rebalance_duration
                .max(ms(&consumer.max_rebalance_duration_ms).unwrap_or(poll_interval * 3 / 5));
            for consume in &consumer.consumptions {
                timings.handler_delay = timings
                    .handler_delay
                    .max(ms(&consume.handler_delay_ms).unwrap_or_default());
            }
            timings.longest_scenario_delay = timings
                .longest_scenario_delay
                .max(ms(&consumer.start_at_ms).unwrap_or_default());
        }
        // A plain stream handles every partition of its topics one record after the other.
        timings.records_in_sequence = file
            .topics
            .iter()
            .map(|topic| topic.records_per_partition.value() * topic.partitions.value())
            .max()
            .unwrap_or(0);
        let final_stop = crate::workload::final_stop(file);
        let mut longest = final_stop;
        let mut last = final_stop;
        for topic in &file.topics {
            longest = longest.max(Duration::from_millis(topic.produce_every_ms.value()));
        }
        for event in &file.events {
            let at = ms(&event.at_ms).unwrap_or_default() + ms(&event.delay_ms).unwrap_or_default();
            let lasts = ms(&event.for_ms).unwrap_or_default();
            longest = longest.max(at).max(ms(&event.ms).unwrap_or_default());
            last = last.max(at + lasts);
            if event.kind == crate::scenario::spec::EventKind::KillConsumer {
                // The group waits a whole session timeout for the dead consumer before its
                // partitions move on: a legitimate wait, however quiet.
                let session_timeout = crate::scenario::validate::target_consumer(file, event)
                    .and_then(|target| ms(&target.session_timeout_ms))
                    .unwrap_or_else(|| {
                        // The fake client's default, Kafka's since 3.0.
                        sim::kafka::ClientConfig::group(crate::scenario::GROUP).session_timeout
                    });
                longest = longest.max(session_timeout);
                last = last.max(at + session_timeout);
            }
            if let Some(every) = ms(&event.every_ms) {
                // A repeated commit: one round per `every` until the final stop, each of which
                // may wait its whole commit timeout.
                let rounds = (final_stop.as_millis() / every.as_millis().max(1)) as u32 + 1;
                last = last.max((every + timings.commit_timeout).saturating_mul(rounds));
            }
        }
        timings.longest_scenario_delay = timings.longest_scenario_delay.max(longest);
        timings.last_action_at = last;
        timings
    }
}

/// Runs `spec` once and judges it.
pub fn run_one(spec: &RunSpec) -> RunRecord {
    let resolved = spec
        .resolved
        .clone()
        .unwrap_or_else(|| Arc::new(spec.scenario.resolve(spec.seed)));
    let limits =
        RunLimits::derive(&RunTimings::of_scenario(&resolved)).with_deadline(spec.deadline);
    let sink = Rc::new(RefCell::new(Vec::<Observations>::new()));
    let mut config = RunConfig::new(spec.seed)
        .with_strategy(spec.strategy.clone())
        .with_deadline(limits.deadline)
        .with_quiet_window(limits.quiet_window)
        // The hang report tells each stuck command's history from these operations.
        .watching(COMMAND_QUEUE);
    if spec.coverage {
        // The interleaving coverage reads the checks and completion of `runloop_done`.
        config = config.watching(RUNLOOP_DONE);
    }
    if let Some(log) = &spec.replay {
        config = config.replaying(log.clone());
    }
    config.schedule = spec.schedule.as_deref().cloned();
    config.key_decisions = spec.key_decisions;
    config.pin_picks_at = spec.pin_picks_at;
    if spec.record_events {
        config = config.recording();
    }
    let (protocol, file, workload_sink) = (spec.protocol, resolved.clone(), sink.clone());
    let result = run(&config, move |rt| {
        workload(rt, file, protocol, workload_sink)
    });
    let observations = sink.take();
    judge(spec, resolved, limits, result, observations)
}

/// Which runs are run twice and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DeterminismCheck {
    /// Failing runs only: a finding must reproduce before it is reported.
    Failing,
    /// Every run (half the throughput).
    Every,
}

impl DeterminismCheck {
    /// Both, for the command line's list.
    pub const ALL: [DeterminismCheck; 2] = [DeterminismCheck::Failing, DeterminismCheck::Every];

    /// The name on the command line and in progress files.
    pub fn name(self) -> &'static str {
        match self {
            DeterminismCheck::Failing => "failing",
            DeterminismCheck::Every => "every",
        }
    }

    /// One line for `--help`.
    pub fn description(self) -> &'static str {
        match self {
            DeterminismCheck::Failing => {
                "failing runs only: each is run a second time and the two traces compared"
            }
            DeterminismCheck::Every => "every run (half the throughput)",
        }
    }
}

impl fmt::Display for DeterminismCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for DeterminismCheck {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        DeterminismCheck::ALL
            .into_iter()
            .find(|check| check.name() == text)
            .ok_or_else(|| format!("unknown determinism check {text:?}: expected failing or every"))
    }
}

/// Runs `spec`, and again when `check` asks for it (every run, or a failing one): the second
/// run must give the same trace hash and the same decision log, else the record's verdict is
/// `Nondeterminism`. This is the only place that runs a spec twice and compares.
pub fn run_checked(spec: &RunSpec, check: DeterminismCheck) -> RunRecord {
    let first = run_one(spec);
    if check == DeterminismCheck::Failing && !first.verdict.is_failure() {
        return first;
    }
    let second = run_one(spec);
    compare(first, &second)
}

/// The first record, or a `Nondeterminism` verdict when the second run differs from it.
fn compare(first: RunRecord, second: &RunRecord) -> RunRecord {
    let decisions_differ = first.decisions != second.decisions;
    if first.trace_hash == second.trace_hash && !decisions_differ {
        return first;
    }
    let mut record = first;
    record.report.nondeterminism = Some(Nondeterminism {
        first_trace_hash: record.trace_hash,
        second_trace_hash: second.trace_hash,
        decisions_differ,
    });
    record.report.verdict = crate::verdict::VerdictKind::Nondeterminism;
    record.report.invariant = None;
    record.verdict = Verdict::Nondeterminism;
    record.signature = "nondeterminism".into();
    record
}

/// The verdict (DESIGN 3.4): a panic first; then a hang, which needs evidence (the run was
/// stopped stuck, or ended with an obligation open); then a timeout (the deadline stopped a
/// run still progressing); then the first broken invariant; else a pass.
fn judge(
    spec: &RunSpec,
    resolved: Arc<ScenarioFile>,
    limits: RunLimits,
    result: RunResult,
    seen: Vec<Observations>,
) -> RunRecord {
    let broken = invariants::check_all(&resolved, &seen);
    // The report tells of the consumer under test, the first; the record keeps every one.
    let under_test = seen.first().cloned().unwrap_or_default();
    let (verdict, signature) = if let Some(panic) = result.panics.first() {
        (Verdict::Panic, report::panic_signature(&panic.message))
    } else if result.is_hang() {
        (Verdict::Hang, report::hang_signature(&result))
    } else if result.timed_out() {
        (Verdict::Timeout, "timeout".to_string())
    } else if let Some(first) = broken.first() {
        (
            Verdict::Violation {
                invariant: first.invariant,
                detail: first.detail.clone(),
            },
            format!("violation:{}", first.invariant),
        )
    } else {
        (Verdict::Pass, "pass".to_string())
    };
    let report = RunReport::of(spec, &verdict, &result, &under_test, &broken, limits);
    let coverage = if spec.coverage {
        let runloop_ended_at: Vec<Option<Duration>> = seen
            .iter()
            .map(|observed| {
                observed.milestones.iter().find_map(|(at, _, milestone)| {
                    matches!(milestone, Milestone::RunloopExited { .. }).then_some(*at)
                })
            })
            .collect();
        RunCoverage::of_watched(&result.watched, &runloop_ended_at)
    } else {
        RunCoverage::default()
    };
    RunRecord {
        spec: RunSpec {
            resolved: Some(resolved.clone()),
            replay: spec.replay.clone(),
            ..spec.clone()
        },
        resolved,
        verdict,
        report,
        trace_hash: result.trace_hash,
        decisions: result.decisions,
        replay_divergence: result.replay_divergence,
        strategy_disagreement: result.strategy_disagreement,
        fiber_schedule: result.fiber_schedule,
        schedule_divergence: result.schedule_divergence,
        signature,
        events: result.events,
        observations: seen,
        coverage,
    }
}
