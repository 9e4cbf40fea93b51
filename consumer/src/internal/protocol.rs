//! `ShutdownProtocol`: the seven historical variants of the runloop's request/response
//! protocol, side by side (DESIGN.md section 2).
//!
//! Notation: a caller C offers its command (O), checks `runloop_done` (K) and waits (W); the
//! runloop R, when it ends, completes `runloop_done` with its cause (F) and drains the command
//! queue, failing every drained command's promise (D). The crash hook runs when the runloop
//! fails, the exit hook when it stops on `StopRunloop`. Each variant is data: how
//! [`offer_and_await`](RequestChannel::offer_and_await) behaves, and which [`EndStep`]s the hooks run in which order.

use std::fmt;
use std::str::FromStr;

use super::command::{Reply, RunloopCommand};
use super::error::ConsumerError;
use crate::rt::{Cause, Exit, Promise, Queue, QueueError, Rt};

/// The request/response protocol between callers and the runloop.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ShutdownProtocol {
    /// zio-kafka before #1712. `offer_and_await`: make a promise, O, W. No hooks: after a crash
    /// nothing ever completes a command's promise.
    Master,
    /// #1711, and the first push of #1712. `offer_and_await`: if K then wait on `runloop_done`,
    /// else `race_first({O; W}, runloop_done.await)`. Crash hook: F, *before* halting the
    /// streams. No exit hook. `halt` also queues the failure on the data queue.
    CheckThenRace,
    /// The review suggestion of 2026-06-10, made against the first push of #1712.
    /// `offer_and_await`: `race_first(runloop_done.await, {O; W})`. Crash hook: F, last. No
    /// exit hook. `halt` also queues the failure on the data queue.
    RaceOnly,
    /// #1712 as of 2026-06-15. `offer_and_await` as `CheckThenRace`. Crash hook: F then D,
    /// last. Exit hook: F then D. `should_poll` is false once `runloop_done` is done. From here
    /// on a partition stream's whole pull is raced with its interruption promise.
    CheckOfferDrain,
    /// #1712 as merged. `offer_and_await`: O; if K then fail the promise with the runloop's
    /// cause; W (no race). Crash hook: F then D, last. No exit hook.
    OfferThenCheck,
    /// #1733-#1735. `offer_and_await`: O; then
    /// `fork_daemon(interruptible(race_first(p.await, runloop_done.await))).join`, preferring
    /// the promise when both are done. Crash hook: F then D. Exit hook: F then D.
    DaemonRace,
    /// Ours, correct by construction. O fails at once with the runloop's cause once the queue
    /// is closed; otherwise W. Crash and exit hooks: close the queue and drain it in one atomic
    /// step, and fail every command dequeued but not yet handled.
    ClosedQueue,
}

/// One step of the runloop's end, in the order a protocol's hook runs them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum EndStep {
    /// Halt every assigned partition stream with the cause and publish the failure on the
    /// partitions hub (zio-kafka's crash handler since #1707; crash only).
    HaltStreamsAndPublish,
    /// F: complete `runloop_done` with the cause.
    CompleteRunloopDone,
    /// D: take every command left in the queue and fail its promise with the cause.
    DrainQueue,
    /// Close the queue and drain it in one step, failing the drained commands' promises and
    /// those of the commands dequeued but not yet handled; also F.
    CloseAndDrainQueue,
}

impl ShutdownProtocol {
    /// Every protocol, in historical order.
    pub const ALL: [ShutdownProtocol; 7] = [
        ShutdownProtocol::Master,
        ShutdownProtocol::CheckThenRace,
        ShutdownProtocol::RaceOnly,
        ShutdownProtocol::CheckOfferDrain,
        ShutdownProtocol::OfferThenCheck,
        ShutdownProtocol::DaemonRace,
        ShutdownProtocol::ClosedQueue,
    ];

    /// The name on the command line and in fixtures (kebab case).
    pub fn name(self) -> &'static str {
        match self {
            ShutdownProtocol::Master => "master",
            ShutdownProtocol::CheckThenRace => "check-then-race",
            ShutdownProtocol::RaceOnly => "race-only",
            ShutdownProtocol::CheckOfferDrain => "check-offer-drain",
            ShutdownProtocol::OfferThenCheck => "offer-then-check",
            ShutdownProtocol::DaemonRace => "daemon-race",
            ShutdownProtocol::ClosedQueue => "closed-queue",
        }
    }

    /// A one-line description for `hangsim list`.
    pub fn description(self) -> &'static str {
        match self {
            ShutdownProtocol::Master => "zio-kafka before #1712: offer, then await the reply",
            ShutdownProtocol::CheckThenRace => {
                "#1711: check runloop_done, else race the reply against it; done before halting"
            }
            ShutdownProtocol::RaceOnly => {
                "review of 2026-06-10: race runloop_done against the reply"
            }
            ShutdownProtocol::CheckOfferDrain => {
                "#1712 of 2026-06-15: check-then-race, and the runloop drains the queue at its end"
            }
            ShutdownProtocol::OfferThenCheck => {
                "#1712 as merged: offer, check runloop_done, fail own promise if done"
            }
            ShutdownProtocol::DaemonRace => {
                "#1733-#1735: race reply and runloop_done on a daemon fiber"
            }
            ShutdownProtocol::ClosedQueue => {
                "ours: offers fail once the queue is closed and drained"
            }
        }
    }

    /// What the crash hook does, in order.
    pub fn crash_steps(self) -> &'static [EndStep] {
        use EndStep::*;
        match self {
            ShutdownProtocol::Master => &[HaltStreamsAndPublish],
            ShutdownProtocol::CheckThenRace => &[CompleteRunloopDone, HaltStreamsAndPublish],
            ShutdownProtocol::RaceOnly => &[HaltStreamsAndPublish, CompleteRunloopDone],
            ShutdownProtocol::CheckOfferDrain
            | ShutdownProtocol::OfferThenCheck
            | ShutdownProtocol::DaemonRace => {
                &[HaltStreamsAndPublish, CompleteRunloopDone, DrainQueue]
            }
            ShutdownProtocol::ClosedQueue => &[CloseAndDrainQueue, HaltStreamsAndPublish],
        }
    }

    /// What the exit hook does, in order.
    pub fn exit_steps(self) -> &'static [EndStep] {
        use EndStep::*;
        match self {
            ShutdownProtocol::Master
            | ShutdownProtocol::CheckThenRace
            | ShutdownProtocol::RaceOnly
            | ShutdownProtocol::OfferThenCheck => &[],
            ShutdownProtocol::CheckOfferDrain | ShutdownProtocol::DaemonRace => {
                &[CompleteRunloopDone, DrainQueue]
            }
            ShutdownProtocol::ClosedQueue => &[CloseAndDrainQueue],
        }
    }

    /// What the runloop's end does when its fiber is interrupted. zio-kafka's hooks are error
    /// handlers and continuations (`catchAllCause`, `zipLeft`), which ZIO skips for an
    /// interrupted fiber; #1735 completes `runloop_done` on any exit of the runloop (a
    /// finalizer), and `ClosedQueue` closes its queue on any exit by design.
    pub fn interruption_steps(self) -> &'static [EndStep] {
        use EndStep::*;
        match self {
            ShutdownProtocol::Master
            | ShutdownProtocol::CheckThenRace
            | ShutdownProtocol::RaceOnly
            | ShutdownProtocol::CheckOfferDrain
            | ShutdownProtocol::OfferThenCheck => &[],
            ShutdownProtocol::DaemonRace => &[CompleteRunloopDone, DrainQueue],
            ShutdownProtocol::ClosedQueue => &[CloseAndDrainQueue],
        }
    }

    /// Whether `should_poll` is false once `runloop_done` is done (from `CheckOfferDrain` on).
    pub fn should_poll_checks_runloop_done(self) -> bool {
        self >= ShutdownProtocol::CheckOfferDrain
    }

    /// Whether a partition stream's whole pull (`dataQueue.poll` too, not only the wait for
    /// data) is raced with its interruption promise: item 2 of #1712, pushed on 11 June, so
    /// from `CheckOfferDrain` (the state of 15 June) on.
    pub fn races_pull_with_interruption(self) -> bool {
        self >= ShutdownProtocol::CheckOfferDrain
    }

    /// Whether `halt` also queues the failure on the stream's data queue, so that a stream
    /// between two pulls sees it: the first push of #1712 did (`CheckThenRace`, and `RaceOnly`,
    /// the suggestion made against that push); the push of 11 June reverted it.
    pub fn halt_queues_failure(self) -> bool {
        matches!(
            self,
            ShutdownProtocol::CheckThenRace | ShutdownProtocol::RaceOnly
        )
    }

    /// Whether the subscription finalizer's `remove_subscription` failure is a defect (`.orDie`,
    /// `Master`) or ignored (`.ignore`, every later protocol).
    pub fn subscription_finalizer_dies_on_failure(self) -> bool {
        self == ShutdownProtocol::Master
    }
}

impl fmt::Display for ShutdownProtocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

impl FromStr for ShutdownProtocol {
    type Err = String;

    fn from_str(text: &str) -> Result<Self, String> {
        ShutdownProtocol::ALL
            .into_iter()
            .find(|p| p.name() == text)
            .ok_or_else(|| {
                let names: Vec<&str> = ShutdownProtocol::ALL.iter().map(|p| p.name()).collect();
                format!(
                    "unknown protocol {text:?}: expected one of {}",
                    names.join(", ")
                )
            })
    }
}

/// What a caller needs to talk to the runloop: the queue and `runloop_done`.
#[derive(Clone)]
pub struct RequestChannel {
    pub rt: Rt,
    pub protocol: ShutdownProtocol,
    pub command_queue: Queue<RunloopCommand, Cause<ConsumerError>>,
    /// Completed (always with a failure cause) when the runloop ends, by the protocols that
    /// have hooks.
    pub runloop_done: Promise<(), ConsumerError>,
    /// Told of every command offered (scenario triggers).
    pub diagnostics: super::diagnostics::Diagnostics,
}

fn offer_failure(error: QueueError<Cause<ConsumerError>>) -> Cause<ConsumerError> {
    match error {
        // ZIO: `offer` on a shut-down queue is `ZIO.interrupt`.
        QueueError::Interrupted(interrupted) => interrupted.into(),
        QueueError::Closed(cause) => cause,
    }
}

impl RequestChannel {
    /// Offers the command built around a fresh reply promise and waits for the reply, the way
    /// the protocol says. `name` labels the command in reports (`RemoveSubscription#3`).
    pub async fn offer_and_await(
        &self,
        name: &str,
        make_command: impl FnOnce(Reply) -> RunloopCommand + 'static,
    ) -> Exit<(), ConsumerError> {
        let rt = &self.rt;
        let obligation = rt.obligation(crate::rt::ObligationKind::Request, name);
        let reply: Reply = Promise::new(rt, super::labels::promise_label(name));
        let command = make_command(reply.clone());
        let result = match self.protocol {
            ShutdownProtocol::Master | ShutdownProtocol::ClosedQueue => {
                self.offer(command).await?;
                reply.wait().await
            }
            ShutdownProtocol::CheckThenRace | ShutdownProtocol::CheckOfferDrain => {
                if self.runloop_done.is_done().await? {
                    self.runloop_done.wait().await
                } else {
                    let channel = self.clone();
                    let done = self.runloop_done.clone();
                    rt.race_first(
                        &format!("offer_and_await:{name}"),
                        async move {
                            channel.offer(command).await?;
                            reply.wait().await
                        },
                        async move { done.wait().await },
                    )
                    .await
                }
            }
            ShutdownProtocol::RaceOnly => {
                let channel = self.clone();
                let done = self.runloop_done.clone();
                rt.race_first(
                    &format!("offer_and_await:{name}"),
                    async move { done.wait().await },
                    async move {
                        channel.offer(command).await?;
                        reply.wait().await
                    },
                )
                .await
            }
            ShutdownProtocol::OfferThenCheck => {
                self.offer(command).await?;
                if self.runloop_done.is_done().await? {
                    if let Some(Err(cause)) = self.runloop_done.poll_now() {
                        reply.fail_cause(cause).await?;
                    }
                }
                reply.wait().await
            }
            ShutdownProtocol::DaemonRace => {
                self.offer(command).await?;
                let (race_rt, waiter, done) =
                    (rt.clone(), reply.clone(), self.runloop_done.clone());
                let label = format!("offer_and_await:{name}");
                let daemon = rt.fork_daemon(format!("{label}.daemon"), async move {
                    race_rt
                        .interruptible(race_rt.race_first(
                            &label,
                            async move { waiter.wait().await },
                            async move { done.wait().await },
                        ))
                        .await
                });
                let raced = daemon.join().await;
                // When both are done, the reply wins: it is the command's own answer.
                match reply.poll_now() {
                    Some(answer) => answer,
                    None => raced,
                }
            }
        };
        obligation.close();
        result
    }

    /// O: offers a command; a shut-down queue interrupts, a closed one fails with its cause.
    pub async fn offer(&self, command: RunloopCommand) -> Exit<(), ConsumerError> {
        self.diagnostics.command_offered(command.name());
        // The queue's own event cannot name its element: a recorded trace gets the command here.
        self.rt.note(|| match command.reply() {
            Some(reply) => format!(
                "offers {} to command_queue",
                reply
                    .object()
                    .label
                    .strip_prefix(super::labels::PROMISE_PREFIX)
                    .unwrap_or(command.name())
            ),
            None => format!("offers {} to command_queue", command.name()),
        });
        self.command_queue
            .offer(command)
            .await
            .map_err(offer_failure)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every protocol's name parses back to it; unknown names are refused with the list.
    #[test]
    fn protocol_names_round_trip() {
        for protocol in ShutdownProtocol::ALL {
            assert_eq!(protocol.name().parse::<ShutdownProtocol>(), Ok(protocol));
        }
        let error = "optimistic".parse::<ShutdownProtocol>().unwrap_err();
        assert!(error.contains("closed-queue"), "{error}");
    }

    /// The hooks are as DESIGN.md section 2 tabulates them.
    #[test]
    fn hooks_follow_the_protocol_table() {
        use EndStep::*;
        assert!(ShutdownProtocol::Master.exit_steps().is_empty());
        assert_eq!(
            ShutdownProtocol::CheckThenRace.crash_steps()[0],
            CompleteRunloopDone
        );
        assert_eq!(
            ShutdownProtocol::RaceOnly.crash_steps().last(),
            Some(&CompleteRunloopDone)
        );
        assert_eq!(
            ShutdownProtocol::CheckOfferDrain.crash_steps().last(),
            Some(&DrainQueue)
        );
        assert!(ShutdownProtocol::OfferThenCheck.exit_steps().is_empty());
        assert_eq!(
            ShutdownProtocol::ClosedQueue.exit_steps(),
            &[CloseAndDrainQueue]
        );
        assert!(!ShutdownProtocol::CheckThenRace.should_poll_checks_runloop_done());
        assert!(ShutdownProtocol::CheckOfferDrain.should_poll_checks_runloop_done());
        assert!(ShutdownProtocol::CheckOfferDrain.races_pull_with_interruption());
        assert!(!ShutdownProtocol::RaceOnly.races_pull_with_interruption());
        assert!(ShutdownProtocol::CheckThenRace.halt_queues_failure());
        assert!(!ShutdownProtocol::OfferThenCheck.halt_queues_failure());
        assert!(!ShutdownProtocol::Master.halt_queues_failure());
    }
}
