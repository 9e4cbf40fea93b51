//! [`Rt::race_first`]: the first of two effects to finish wins (ZIO `raceFirst`).
//!
//! ZIO's semantics, which zio-kafka's fixes ran into (zio/zio#11044): both sides are forked as
//! children of the caller and inherit the caller's interruptibility; the first to terminate, in
//! success or failure, wins; the loser is then interrupted *and awaited until it terminates*.
//! In an uninterruptible region the loser cannot be interrupted, so the race returns only when
//! both sides have finished by themselves. If the caller is interrupted while the race is
//! undecided, or while an interruptible caller awaits the loser, the interruption reaches both
//! sides (they are its children) and the race ends in interruption at once; the sides are
//! awaited when the caller's fiber ends.

use std::future::Future;
use std::task::Poll;
use std::time::Duration;

use super::fiber::Blocking;
use super::{label, Cause, Exit, Rt};

#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    Left,
    Right,
}

impl Rt {
    /// Races `left` against `right`; see the module documentation for the exact semantics.
    /// `label` names the race in reports; the sides are forked as `<label>.left` and
    /// `<label>.right`.
    pub async fn race_first<A, E, L, R>(&self, label: &str, left: L, right: R) -> Exit<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        L: Future<Output = Exit<A, E>> + 'static,
        R: Future<Output = Exit<A, E>> + 'static,
    {
        self.checkpoint().await?;
        let left = self.fork(label::join(&[label, ".left"]), left);
        let right = self.fork(label::join(&[label, ".right"]), right);
        let race = self.object("race", label::join(&["race:", label]));
        let first = Blocking::new(self, &race, |cx, waiter| {
            // The first to terminate wins, even when both have by the time the caller looks.
            match (left.is_done(), right.is_done()) {
                (true, true) if right.end_rank() < left.end_rank() => {
                    return Poll::Ready(Side::Right)
                }
                (true, _) => return Poll::Ready(Side::Left),
                (false, true) => return Poll::Ready(Side::Right),
                (false, false) => {}
            }
            left.register_exit_waiter(waiter, cx.waker());
            right.register_exit_waiter(waiter, cx.waker());
            Poll::Pending
        })
        .await;
        let (winner, loser) = match first {
            Ok(Side::Left) => (left, right),
            Ok(Side::Right) => (right, left),
            Err(interrupted) => {
                // The sides are the caller's children, so the caller's interruption has already
                // reached them. As in ZIO's `raceFibersWith`, the caller does not wait for them
                // here: its own end awaits them (auto-supervision).
                left.deregister_exit_waiter(self.current_fiber());
                right.deregister_exit_waiter(self.current_fiber());
                return Err(interrupted.into());
            }
        };
        loser.deregister_exit_waiter(self.current_fiber());
        self.observe_op(&race, "race.won", winner.id().0);
        let winner_exit = winner.exit_now().expect("the winner is done");
        // The race is not over until the loser has terminated (ZIO `interruptAs`: interrupt,
        // then `await`). The await has the caller's interruptibility: an interruptible caller
        // interrupted meanwhile stops waiting (the loser, its child, is awaited when the caller
        // ends); an uninterruptible one waits for the loser however long it takes.
        let _ = loser.interrupt().await?;
        winner_exit
    }

    /// Fails with `error` unless `effect` finishes within `duration` (ZIO `timeoutFail`): a race
    /// of the effect against an interruptible sleep. In an uninterruptible region the effect
    /// cannot be interrupted, so a timeout that wins still waits for the effect to finish, as in
    /// ZIO ("if the effect is uninterruptible, timeout waits for it").
    pub async fn timeout_fail<A, E, F>(
        &self,
        label: &str,
        effect: F,
        duration: Duration,
        error: E,
    ) -> Exit<A, E>
    where
        A: Clone + 'static,
        E: Clone + 'static,
        F: Future<Output = Exit<A, E>> + 'static,
    {
        let rt = self.clone();
        let timer = async move {
            rt.interruptible(rt.sleep(duration)).await?;
            Err(Cause::Fail(error))
        };
        self.race_first(label, effect, timer).await
    }
}
