//! Reports in plain words: for a hang, each stuck caller and what it waits on, the stuck
//! command's history (offered when and by whom, dequeued or not), the runloop's exit, the drains,
//! and one line of why nobody will answer. A maintainer should not need our code to read it.
//!
//! The command history needs the run's events; runs are recorded when a report is wanted
//! (`hangsim run`, `replay`, the search's findings), and without events the report says so.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use consumer::rt::ExitKind;
use sim::liveness::OpenObligation;
use sim::trace::format_virtual_time as at;
use sim::{Outcome, RunResult, WatchedOp};

use crate::catalogue::{Milestone, Observations};
use crate::invariants::Broken;
use crate::verdict::{RunSpec, Verdict};

/// `RemoveSubscription#4` -> `RemoveSubscription#N`: signatures ignore numbers.
pub fn without_numbers(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_number = false;
    for c in text.chars() {
        if c.is_ascii_digit() {
            if !in_number {
                out.push('N');
            }
            in_number = true;
        } else {
            in_number = false;
            out.push(c);
        }
    }
    out
}

/// The shape of a hang: the open requests (or user calls) and the object each caller's chain of
/// waits ends on, without numbers, sorted.
pub fn hang_signature(result: &RunResult) -> String {
    let mut parts: Vec<String> = result
        .liveness
        .open_obligations
        .iter()
        .filter(|open| open.kind == "request")
        .map(|open| {
            let end = result
                .liveness
                .wait_chain(open.fiber)
                .last()
                .map(|waiting| waiting.waits_on.object.clone())
                .unwrap_or_else(|| "nothing".into());
            format!("{}@{}", without_numbers(&open.label), without_numbers(&end))
        })
        .collect();
    if parts.is_empty() {
        parts = result
            .liveness
            .open_obligations
            .iter()
            .map(|open| without_numbers(&open.label))
            .collect();
    }
    if parts.is_empty() {
        parts.push(format!("{:?}", result.outcome));
    }
    parts.sort();
    parts.dedup();
    format!("hang:{}", parts.join("+"))
}

/// The whole report of a run.
pub fn render(
    spec: &RunSpec,
    verdict: &Verdict,
    result: &RunResult,
    seen: &Observations,
    broken: &[Broken],
) -> String {
    let mut out = format!(
        "{} under {}, seed {} ({} scheduling): {}\n",
        spec.scenario,
        spec.protocol,
        spec.seed,
        spec.strategy,
        verdict.to_string().to_uppercase()
    );
    let ended = match result.outcome {
        Outcome::Completed => format!("the workload ran to its end at {}", at(result.elapsed)),
        Outcome::DeadlineReached => format!(
            "the deadline passed at {} with the workload still running",
            at(result.elapsed)
        ),
        Outcome::BlockedForever => {
            format!("at {} no fiber could ever run again", at(result.elapsed))
        }
        Outcome::StepLimitReached => {
            format!("the run reached its step limit at {}", at(result.elapsed))
        }
    };
    let _ = writeln!(out, "{ended}");
    let runloop_exit = seen
        .milestones
        .iter()
        .find_map(|(time, _, event)| match event {
            Milestone::RunloopExited { exit, cause } => Some((*time, *exit, cause.clone())),
            _ => None,
        });
    match &runloop_exit {
        Some((time, ExitKind::Success, _)) => {
            let _ = writeln!(
                out,
                "the runloop: stopped normally (StopRunloop) at {}",
                at(*time)
            );
        }
        Some((time, exit, cause)) => {
            let _ = writeln!(
                out,
                "the runloop: crashed at {} ({exit}): {}",
                at(*time),
                cause.as_deref().unwrap_or("no cause")
            );
        }
        None if seen.finished || result.outcome != Outcome::Completed => {
            let _ = writeln!(out, "the runloop: still running (or never started)");
        }
        None => {}
    }
    for panic in &result.panics {
        let _ = writeln!(
            out,
            "panic in fiber#{} ({}) at {}: {}",
            panic.fiber,
            panic.fiber_name,
            at(panic.at),
            panic.message
        );
    }
    for broke in broken {
        let _ = writeln!(
            out,
            "invariant {} broken: {}",
            broke.invariant, broke.detail
        );
    }
    if *verdict == Verdict::Hang {
        render_hang(
            &mut out,
            result,
            runloop_exit.map(|(time, exit, _)| (time, exit)),
        );
    }
    out
}

fn render_hang(
    out: &mut String,
    result: &RunResult,
    runloop_exit: Option<(std::time::Duration, ExitKind)>,
) {
    let _ = writeln!(out, "stuck:");
    out.push_str(&result.liveness.describe());
    let requests: Vec<&OpenObligation> = result
        .liveness
        .open_obligations
        .iter()
        .filter(|open| open.kind == "request")
        .collect();
    let history = CommandQueueHistory::from_watched(&result.watched);
    for request in requests {
        let chain = result.liveness.wait_chain(request.fiber);
        let end = chain
            .last()
            .map(|waiting| waiting.waits_on.object.clone())
            .unwrap_or_default();
        let offered = history.offer_of(request);
        let _ = writeln!(out, "history of `{}`:", request.label);
        let _ = writeln!(
            out,
            "  requested at {} by fiber#{} ({})",
            at(request.opened_at),
            request.fiber,
            request.fiber_name
        );
        match offered {
            Some((time, fiber)) => {
                let _ = writeln!(
                    out,
                    "  offered to command_queue at {} by fiber#{fiber}",
                    at(time)
                );
                match history.take_after(time) {
                    Some((taken, by, kind)) => {
                        let _ = writeln!(
                            out,
                            "  the queue was next read at {} by fiber#{by} ({kind})",
                            at(taken)
                        );
                    }
                    None => {
                        let _ = writeln!(
                            out,
                            "  never dequeued: nothing read command_queue after it was offered"
                        );
                    }
                }
            }
            None => {
                let _ = writeln!(out, "  never offered to command_queue");
            }
        }
        for (time, by, kind, count) in &history.drains {
            let _ = writeln!(
                out,
                "  drain: {kind} of command_queue at {} by fiber#{by} took {count}",
                at(*time)
            );
        }
        let _ = writeln!(
            out,
            "why: {}",
            why(
                request,
                &end,
                offered.map(|(time, _)| time),
                runloop_exit,
                &history
            )
        );
    }
}

fn why(
    request: &OpenObligation,
    end: &str,
    offered: Option<std::time::Duration>,
    runloop_exit: Option<(std::time::Duration, ExitKind)>,
    history: &CommandQueueHistory,
) -> String {
    let command = &request.label;
    if end == "promise:runloop_done" {
        return format!(
            "{command}'s caller races uninterruptibly and its race's loser waits on runloop_done, which \
             completes only when the runloop stops; the runloop is stopped by the consumer scope, \
             which closes only after this caller returns"
        );
    }
    let last_drain = history.drains.last().map(|(time, ..)| *time);
    match (offered, runloop_exit, last_drain) {
        (Some(offered), Some((exited, _)), Some(drained)) if offered >= drained => format!(
            "{command} was offered at {}, after the runloop ended ({}) and after the last drain ({}); \
             no live fiber takes from command_queue, so nothing will complete its promise",
            at(offered),
            at(exited),
            at(drained)
        ),
        (Some(offered), Some((exited, _)), _) if offered >= exited => format!(
            "{command} was offered at {}, after the runloop ended at {}; no live fiber takes from \
             command_queue, so nothing will complete its promise",
            at(offered),
            at(exited)
        ),
        (Some(offered), Some((exited, _)), _) => format!(
            "{command} was offered at {} while the runloop ran; the runloop ended at {} without \
             answering it, and nothing else completes its promise",
            at(offered),
            at(exited)
        ),
        (None, Some((exited, _)), _) if request.opened_at >= exited => format!(
            "{command} was requested at {}, after the runloop ended at {}; nothing will complete its promise",
            at(request.opened_at),
            at(exited)
        ),
        _ => format!("{command} waits on `{end}`, which nothing will complete"),
    }
}

/// The label of the runloop's command queue, whose operations every run keeps.
pub const COMMAND_QUEUE: &str = "command_queue";

/// What happened on `command_queue`, read from the run's watched operations.
struct CommandQueueHistory {
    /// Offers: time and fiber.
    offers: Vec<(std::time::Duration, u64)>,
    /// Reads (take, take_all, close_and_drain): time, fiber, which.
    reads: Vec<(std::time::Duration, u64, &'static str)>,
    /// Drains (take_all, close_and_drain): time, fiber, which, how many.
    drains: Vec<(std::time::Duration, u64, &'static str, u64)>,
    /// Fiber names by id.
    names: BTreeMap<u64, String>,
}

impl CommandQueueHistory {
    fn from_watched(watched: &[WatchedOp]) -> CommandQueueHistory {
        let mut history = CommandQueueHistory {
            offers: vec![],
            reads: vec![],
            drains: vec![],
            names: BTreeMap::new(),
        };
        for op in watched.iter().filter(|op| op.object == COMMAND_QUEUE) {
            history
                .names
                .entry(op.fiber)
                .or_insert_with(|| op.fiber_name.clone());
            match (op.op, op.detail) {
                // An offer's detail is whether the queue accepted it.
                ("queue.offer", 1) => history.offers.push((op.at, op.fiber)),
                ("queue.take", _) => history.reads.push((op.at, op.fiber, "take")),
                ("queue.take_all", count) => {
                    history.reads.push((op.at, op.fiber, "take_all"));
                    history.drains.push((op.at, op.fiber, "take_all", count));
                }
                ("queue.close_and_drain", count) => {
                    history.reads.push((op.at, op.fiber, "close_and_drain"));
                    history
                        .drains
                        .push((op.at, op.fiber, "close_and_drain", count));
                }
                _ => {}
            }
        }
        history
    }

    /// The offer of this request: the first offer after it was opened, by its fiber or a fiber
    /// named after its command (a race's side).
    fn offer_of(&self, request: &OpenObligation) -> Option<(std::time::Duration, u64)> {
        self.offers.iter().copied().find(|(time, fiber)| {
            *time >= request.opened_at
                && (*fiber == request.fiber
                    || self
                        .names
                        .get(fiber)
                        .is_some_and(|name| name.contains(request.label.as_str())))
        })
    }

    /// The first read of the queue at or after `time`.
    fn take_after(
        &self,
        time: std::time::Duration,
    ) -> Option<(std::time::Duration, u64, &'static str)> {
        self.reads.iter().copied().find(|(read, ..)| *read >= time)
    }
}
