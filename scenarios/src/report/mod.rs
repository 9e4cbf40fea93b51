//! Reports in plain words, kept as data: a [`RunReport`] says how a run ended (its verdict, the
//! runloop's exit, panics, broken invariants) and, for a hang, who waits on what and why nobody
//! will answer ([`HangReport`]). It prints itself (`Display`) for people and serializes (serde)
//! into NDJSON lines and fixtures; nothing reads its printed text back. A maintainer should not
//! need our code to read it.
//!
//! Map: this file holds the report of a run; [`hang`] the hang report (stuck callers, each stuck
//! command's history on the command queue, the why); [`signature`] the failure signatures.
//! Times in serialized reports are virtual nanoseconds since the run started.

use std::fmt;
use std::time::Duration;

use consumer::rt::ExitKind;
use consumer::ShutdownProtocol;
use serde::{Deserialize, Serialize};
use sim::{Outcome, RunResult, StrategyChoice};

use crate::invariants::{Broken, Invariant};
use crate::runner::RunLimits;
use crate::verdict::{RunSpec, Verdict, VerdictKind};
use crate::workload::{Milestone, Observations};

pub mod hang;
pub mod observed;
pub mod signature;

pub use hang::{Completer, HangReport, RequestHistory, RunloopEnd, StuckCaller, WaitStep, Why};
pub use observed::ObservationsReport;
pub use signature::{hang_signature, panic_signature, without_numbers};

/// A virtual time (since the run started): printed as `1.250000s`, serialized as whole
/// nanoseconds.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct VirtualTime(#[serde(with = "crate::serde_as::nanos")] pub Duration);

impl fmt::Display for VirtualTime {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&sim::trace::format_virtual_time(self.0))
    }
}

/// The report of one run.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct RunReport {
    /// The scenario's name.
    pub scenario: String,
    #[serde(with = "crate::serde_as::protocol")]
    pub protocol: ShutdownProtocol,
    #[serde(with = "crate::serde_as::seed")]
    pub seed: u64,
    pub strategy: StrategyChoice,
    pub verdict: VerdictKind,
    /// The broken invariant that decided a violation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub invariant: Option<Invariant>,
    /// When the same run, run again, gave another trace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nondeterminism: Option<Nondeterminism>,
    /// When the runner itself panicked (a hangsim bug): its message's first line. There was no
    /// run to tell more of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub runner_panic: Option<String>,
    /// How the run ended; `None` when the runner panicked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ending: Option<RunEnding>,
    pub runloop: RunloopState,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub panics: Vec<PanicLine>,
    /// Every broken invariant, in the order of [`Invariant::ALL`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub broken: Vec<Broken>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hang: Option<HangReport>,
}

/// Two runs of the same spec that gave two traces.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Nondeterminism {
    pub first_trace_hash: u64,
    pub second_trace_hash: u64,
    /// Whether the two decision logs differ too.
    pub decisions_differ: bool,
}

/// How the simulation of a run ended, and when; and how it had progressed, which is what tells
/// a hang from a slow run (DESIGN 3.4).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RunEnding {
    pub outcome: Outcome,
    pub at: VirtualTime,
    /// How many times the run progressed (an obligation closed, a fiber ended, a promise
    /// completed, a record reached its handler, a commit completed).
    #[serde(default)]
    pub progress_marks: u64,
    /// When it last progressed, and how.
    #[serde(default)]
    pub last_progress_at: VirtualTime,
    #[serde(default)]
    pub last_progress: String,
    /// The run's limits: no progress for a quiet window is a hang; the deadline stops a run
    /// that still progresses (a timeout).
    #[serde(default)]
    pub quiet_window: VirtualTime,
    #[serde(default)]
    pub deadline: VirtualTime,
}

/// What became of the runloop.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum RunloopState {
    /// It stopped normally (`StopRunloop`).
    Stopped { at: VirtualTime },
    /// It ended otherwise: how, and its cause.
    Crashed {
        at: VirtualTime,
        #[serde(with = "crate::serde_as::exit_kind")]
        exit: ExitKind,
        cause: Option<String>,
    },
    /// It had not ended when the run did (or never started).
    StillRunning,
    /// Not worth a line: the workload ran to its end and no runloop exit was seen (a scenario
    /// that never started one), or the runner itself panicked.
    NotReported,
}

/// A panic of the system under test.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PanicLine {
    pub fiber: u64,
    pub fiber_name: String,
    pub at: VirtualTime,
    pub message: String,
}

impl RunReport {
    /// The report of a judged run.
    pub fn of(
        spec: &RunSpec,
        verdict: &Verdict,
        result: &RunResult,
        seen: &Observations,
        broken: &[Broken],
        limits: RunLimits,
    ) -> RunReport {
        let runloop_exit = seen
            .milestones
            .iter()
            .find_map(|(time, _, event)| match event {
                Milestone::RunloopExited { exit, cause, .. } => Some((*time, *exit, cause.clone())),
                _ => None,
            });
        let runloop = match runloop_exit {
            Some((at, ExitKind::Success, _)) => RunloopState::Stopped {
                at: VirtualTime(at),
            },
            Some((at, exit, cause)) => RunloopState::Crashed {
                at: VirtualTime(at),
                exit,
                cause,
            },
            None if seen.finished || result.outcome != Outcome::Completed => {
                RunloopState::StillRunning
            }
            None => RunloopState::NotReported,
        };
        let runloop_cause = match &runloop {
            RunloopState::Crashed { cause, .. } => cause.clone(),
            _ => None,
        };
        let runloop_ended_at = match &runloop {
            RunloopState::Stopped { at } | RunloopState::Crashed { at, .. } => Some(*at),
            RunloopState::StillRunning | RunloopState::NotReported => None,
        };
        RunReport {
            scenario: spec.scenario.name().to_string(),
            protocol: spec.protocol,
            seed: spec.seed,
            strategy: spec.strategy.clone(),
            verdict: verdict.kind(),
            invariant: verdict.invariant(),
            nondeterminism: None,
            runner_panic: None,
            ending: Some(RunEnding {
                outcome: result.outcome,
                at: VirtualTime(result.elapsed),
                progress_marks: result.progress.marks,
                last_progress_at: VirtualTime(result.progress.last_at),
                last_progress: result.progress.last.to_string(),
                quiet_window: VirtualTime(limits.quiet_window),
                deadline: VirtualTime(limits.deadline),
            }),
            runloop,
            panics: result
                .panics
                .iter()
                .map(|panic| PanicLine {
                    fiber: panic.fiber,
                    fiber_name: panic.fiber_name.clone(),
                    at: VirtualTime(panic.at),
                    message: panic.message.clone(),
                })
                .collect(),
            broken: broken.to_vec(),
            hang: (*verdict == Verdict::Hang).then(|| {
                HangReport::of(
                    &result.liveness,
                    &result.watched,
                    RunloopEnd {
                        at: runloop_ended_at,
                        cause: runloop_cause.as_deref(),
                    },
                )
            }),
        }
    }

    /// The report of a run whose runner itself panicked (a hangsim bug, not a finding).
    pub fn runner_panic(spec: &RunSpec, message: &str) -> RunReport {
        RunReport {
            scenario: spec.scenario.name().to_string(),
            protocol: spec.protocol,
            seed: spec.seed,
            strategy: spec.strategy.clone(),
            verdict: VerdictKind::Panic,
            invariant: None,
            nondeterminism: None,
            runner_panic: Some(message.lines().next().unwrap_or("").to_string()),
            ending: None,
            runloop: RunloopState::NotReported,
            panics: Vec::new(),
            broken: Vec::new(),
            hang: None,
        }
    }

    /// One line that says why the run failed, for NDJSON lines and summaries: a hang's first
    /// `why`, the violated invariant and its detail, a panic's message, or how the run ended.
    pub fn why(&self) -> String {
        if let Some(nondeterminism) = &self.nondeterminism {
            return nondeterminism.to_string();
        }
        if let Some(message) = &self.runner_panic {
            return format!("the runner panicked: {message}");
        }
        if let Some(why) = self
            .hang
            .as_ref()
            .and_then(|hang| hang.whys().next())
            .map(Why::to_string)
        {
            return why;
        }
        if let Some(broken) = self
            .invariant
            .and_then(|invariant| self.broken.iter().find(|b| b.invariant == invariant))
        {
            return format!("{}: {}", broken.invariant, broken.detail);
        }
        if let Some(panic) = self.panics.first() {
            return format!(
                "panic in fiber#{} ({}): {}",
                panic.fiber, panic.fiber_name, panic.message
            );
        }
        if let Some(hang) = &self.hang {
            if let Some(caller) = hang.stuck.first() {
                return format!(
                    "{} `{}` is still open at the end of the run",
                    caller.kind, caller.label
                );
            }
        }
        match &self.ending {
            Some(ending) => ending.to_string(),
            None => String::new(),
        }
    }
}

impl fmt::Display for Nondeterminism {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "the same run gave trace {:#018x}, then {:#018x}{}",
            self.first_trace_hash,
            self.second_trace_hash,
            if self.decisions_differ {
                ", with different decisions"
            } else {
                ""
            }
        )
    }
}

impl fmt::Display for RunEnding {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let at = self.at;
        let last = format!("{} at {}", self.last_progress, self.last_progress_at);
        match self.outcome {
            Outcome::Completed => write!(f, "the workload ran to its end at {at}"),
            Outcome::DeadlineReached => {
                // How fast it went: progress marks per virtual second over the whole run.
                let seconds = self.at.0.as_secs_f64().max(1e-9);
                write!(
                    f,
                    "the deadline passed and the workload still progressed after it, at {at} \
                     (last: {last}; {} progress marks, {:.1} per virtual second); not proven \
                     stuck: a longer --deadline may let it finish",
                    self.progress_marks,
                    self.progress_marks as f64 / seconds
                )
            }
            Outcome::BlockedForever => write!(
                f,
                "at {at} no fiber could ever run again (none ready, no timer pending); last \
                 progress: {last}"
            ),
            Outcome::OnlyBackgroundLoopsLeft => write!(
                f,
                "at {at} nothing but background loops (such as the runloop's metrics ticker) could ever \
                 run again: stuck, proven; last progress: {last}"
            ),
            Outcome::QuietWindowElapsed => write!(
                f,
                "at {at} nothing had progressed for a whole quiet window of {} (longer than \
                 any wait the settings allow); last progress: {last}",
                self.quiet_window
            ),
            Outcome::StepLimitReached => write!(
                f,
                "the run reached its step limit at {at} (a livelock?); last progress: {last}"
            ),
        }
    }
}

impl fmt::Display for RunReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if let Some(nondeterminism) = &self.nondeterminism {
            writeln!(f, "NONDETERMINISM: {nondeterminism}")?;
        }
        let verdict = match self.invariant {
            Some(invariant) => format!("{} of {invariant}", self.verdict),
            None => self.verdict.to_string(),
        };
        if let Some(message) = &self.runner_panic {
            writeln!(
                f,
                "{} under {}, seed {}: PANIC of the runner itself (a hangsim bug, not a finding \
                 about the protocol)",
                self.scenario, self.protocol, self.seed
            )?;
            return writeln!(f, "why: the runner panicked: {message}");
        }
        writeln!(
            f,
            "{} under {}, seed {} ({} scheduling): {}",
            self.scenario,
            self.protocol,
            self.seed,
            self.strategy,
            verdict.to_uppercase()
        )?;
        if let Some(ending) = &self.ending {
            writeln!(f, "{ending}")?;
        }
        match &self.runloop {
            RunloopState::Stopped { at } => {
                writeln!(f, "the runloop: stopped normally (StopRunloop) at {at}")?
            }
            RunloopState::Crashed { at, exit, cause } => writeln!(
                f,
                "the runloop: crashed at {at} ({exit}): {}",
                cause.as_deref().unwrap_or("no cause")
            )?,
            RunloopState::StillRunning => {
                writeln!(f, "the runloop: still running (or never started)")?
            }
            RunloopState::NotReported => {}
        }
        for panic in &self.panics {
            writeln!(
                f,
                "panic in fiber#{} ({}) at {}: {}",
                panic.fiber, panic.fiber_name, panic.at, panic.message
            )?;
        }
        for broken in &self.broken {
            writeln!(
                f,
                "invariant {} broken: {}",
                broken.invariant, broken.detail
            )?;
        }
        if let Some(hang) = &self.hang {
            write!(f, "{hang}")?;
        }
        Ok(())
    }
}
