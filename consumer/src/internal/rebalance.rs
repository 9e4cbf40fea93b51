//! The rebalance coordinator (zio-kafka's `RebalanceCoordinator`, at 094258a1): the listener the
//! runloop gives the client.
//!
//! Its callbacks run inside `poll` (and `unsubscribe`, `close`), on the runloop's fiber. They end
//! the streams of revoked and lost partitions (all streams in restart mode) and accumulate what
//! happened into one [`RebalanceEvent`] per poll, which the runloop takes after the poll and
//! applies: new streams for assigned partitions, requests of revoked and lost partitions
//! dropped. Then the user's listener, if any, gets the same callback (`coordinator ++ user`).
//!
//! With `rebalance_safe_commits`, ending streams in `on_revoked` or `on_assigned` also waits
//! for them (`doAwaitStreamCommits`), on a fiber of its own without the access lock (the
//! runloop holds it): every 100 ms, until `max_rebalance_duration - commit_timeout` has passed,
//! it sends the queued commits (`commit_async`, also with nothing queued, which makes the client
//! run the callbacks of earlier commits) and stops once every ended stream has finished and its
//! last offset is committed or pending; then it flushes async commits with `commit_sync` of
//! nothing. All of this runs inside the client's call, so it stalls the runloop, up to the
//! deadline; a failure of `commit_async` or `commit_sync` fails the callback, and so the poll or
//! `unsubscribe` that ran it. Lost partitions are ended without waiting.

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use super::committer::Committer;
use super::consumer_access::{kafka_failure, ConsumerAccess};
use super::error::ConsumerError;
use super::partition_stream::PartitionStreamControl;
use super::runloop::State;
use super::settings::ConsumerSettings;
use crate::kafka::{
    KafkaClient, KafkaError, KafkaFuture, Offsets, RebalanceListener, TopicPartition,
};
use crate::rt::{Cause, Exit, Ref, Rt};

/// How often a rebalance-safe revoke sends queued commits and looks at the ended streams
/// (`commitQueuePollInterval`).
const COMMIT_QUEUE_POLL_INTERVAL: Duration = Duration::from_millis(100);

/// What the callbacks of one poll did, accumulated (`RebalanceEvent`, with
/// `RebalanceCallback.append`'s rule: assigned = a1 ++ a2 -- revoked2 -- lost2).
#[derive(Clone, Default)]
pub struct RebalanceEvent {
    pub was_invoked: bool,
    pub assigned: BTreeSet<TopicPartition>,
    pub revoked: BTreeSet<TopicPartition>,
    pub lost: BTreeSet<TopicPartition>,
    pub ended_streams: Vec<PartitionStreamControl>,
}

impl RebalanceEvent {
    fn on_assigned(
        &mut self,
        assigned: &BTreeSet<TopicPartition>,
        ended: Vec<PartitionStreamControl>,
    ) {
        self.was_invoked = true;
        self.assigned.extend(assigned.iter().cloned());
        self.ended_streams.extend(ended);
    }

    fn on_revoked(
        &mut self,
        revoked: &BTreeSet<TopicPartition>,
        ended: Vec<PartitionStreamControl>,
    ) {
        self.was_invoked = true;
        self.assigned.retain(|tp| !revoked.contains(tp));
        self.revoked.extend(revoked.iter().cloned());
        self.ended_streams.extend(ended);
    }

    fn on_lost(&mut self, lost: &BTreeSet<TopicPartition>, ended: Vec<PartitionStreamControl>) {
        self.was_invoked = true;
        self.assigned.retain(|tp| !lost.contains(tp));
        self.lost.extend(lost.iter().cloned());
        self.ended_streams.extend(ended);
    }
}

/// The coordinator. Cloning shares it.
#[derive(Clone)]
pub struct RebalanceCoordinator {
    inner: Rc<Inner>,
}

struct Inner {
    rt: Rt,
    settings: ConsumerSettings,
    committer: Committer,
    access: ConsumerAccess,
    /// The runloop's current state (`currentStateRef`), for the assigned streams.
    current_state: Ref<State>,
    last_event: RefCell<RebalanceEvent>,
}

fn to_kafka(cause: Cause<ConsumerError>) -> KafkaError {
    match cause {
        Cause::Fail(ConsumerError::Kafka(error)) => error,
        other => KafkaError::Other(format!("rebalance listener: {other}")),
    }
}

impl RebalanceCoordinator {
    /// A coordinator reading the runloop's state.
    pub fn new(
        rt: &Rt,
        settings: ConsumerSettings,
        committer: Committer,
        access: ConsumerAccess,
        current_state: Ref<State>,
    ) -> Self {
        RebalanceCoordinator {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                settings,
                committer,
                access,
                current_state,
                last_event: RefCell::new(RebalanceEvent::default()),
            }),
        }
    }

    /// Takes this poll's accumulated event and starts a new one (`getAndResetLastEvent`).
    pub fn take_last_event(&self) -> RebalanceEvent {
        std::mem::take(&mut *self.inner.last_event.borrow_mut())
    }

    async fn assigned_streams(&self) -> Exit<Vec<PartitionStreamControl>, ConsumerError> {
        Ok(self.inner.current_state.get().await?.assigned_streams)
    }

    /// `endStreams`: end them and, with rebalance-safe commits, wait for their commits;
    /// nothing at all when there is nothing to end.
    async fn end_streams(&self, streams: &[PartitionStreamControl]) -> Exit<(), ConsumerError> {
        if streams.is_empty() {
            return Ok(());
        }
        for stream in streams {
            stream.end().await?;
        }
        if self.inner.settings.rebalance_safe_commits {
            let waiting = StreamCommitWait {
                rt: self.inner.rt.clone(),
                committer: self.inner.committer.clone(),
                max_rebalance_duration: self.inner.settings.max_rebalance_duration,
                commit_timeout: self.inner.settings.commit_timeout,
                streams: streams.to_vec(),
            };
            self.inner
                .access
                .rebalance_listener_access("await_stream_commits", move |client| {
                    Box::pin(async move { waiting.run(client).await })
                })
                .await?;
        }
        Ok(())
    }

    /// `onAssigned`: in restart mode, the first callback of a poll ends every stream.
    async fn handle_assigned(&self, assigned: BTreeSet<TopicPartition>) -> Exit<(), ConsumerError> {
        let mut ended = Vec::new();
        if self.inner.settings.restart_streams_on_rebalancing
            && !self.inner.last_event.borrow().was_invoked
        {
            ended = self.assigned_streams().await?;
        }
        self.end_streams(&ended).await?;
        self.inner
            .last_event
            .borrow_mut()
            .on_assigned(&assigned, ended);
        Ok(())
    }

    /// `onRevoked`: ends the revoked partitions' streams (every stream, in restart mode, for
    /// the first callback of a poll).
    async fn handle_revoked(&self, revoked: BTreeSet<TopicPartition>) -> Exit<(), ConsumerError> {
        let streams = self.assigned_streams().await?;
        let first_of_poll = !self.inner.last_event.borrow().was_invoked;
        let ended: Vec<PartitionStreamControl> =
            if self.inner.settings.restart_streams_on_rebalancing && first_of_poll {
                streams
            } else {
                streams
                    .into_iter()
                    .filter(|stream| revoked.contains(stream.tp()))
                    .collect()
            };
        self.end_streams(&ended).await?;
        self.inner
            .last_event
            .borrow_mut()
            .on_revoked(&revoked, ended);
        Ok(())
    }

    /// `onLost`: ends the lost partitions' streams, without waiting for commits (they would
    /// fail: the partitions may belong to another member already).
    async fn handle_lost(&self, lost: BTreeSet<TopicPartition>) -> Exit<(), ConsumerError> {
        let streams = self.assigned_streams().await?;
        let ended: Vec<PartitionStreamControl> = streams
            .into_iter()
            .filter(|stream| lost.contains(stream.tp()))
            .collect();
        for stream in &ended {
            stream.end().await?;
        }
        self.inner.last_event.borrow_mut().on_lost(&lost, ended);
        Ok(())
    }

    /// The coordinator's handling, then the user's listener's (`++`).
    async fn then_user(
        &self,
        own: Exit<(), ConsumerError>,
        client: &dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
        pick: fn(&super::listener::UserRebalanceListener) -> &super::listener::ListenerCallback,
    ) -> Result<(), KafkaError> {
        own.map_err(to_kafka)?;
        match &self.inner.settings.rebalance_listener {
            Some(user) => pick(user)(partitions, client).await.map_err(to_kafka),
            None => Ok(()),
        }
    }
}

/// `doAwaitStreamCommits`, with what it needs to run on a fiber of its own.
struct StreamCommitWait {
    rt: Rt,
    committer: Committer,
    max_rebalance_duration: Duration,
    commit_timeout: Duration,
    streams: Vec<PartitionStreamControl>,
}

impl StreamCommitWait {
    /// Every 100 ms until the deadline: send the queued commits (even none), then stop once
    /// every ended stream is complete; then `commit_sync` of nothing, whatever the outcome.
    async fn run(self, client: &dyn KafkaClient) -> Exit<(), ConsumerError> {
        let budget = self
            .max_rebalance_duration
            .saturating_sub(self.commit_timeout);
        let deadline = self.rt.now() + budget;
        // A bound on the loop: one turn per interval until the deadline, and a spare one.
        let turns = budget.as_millis() / COMMIT_QUEUE_POLL_INTERVAL.as_millis() + 2;
        for _ in 0..turns {
            self.rt.sleep(COMMIT_QUEUE_POLL_INTERVAL).await?;
            self.committer.process_queued_commits(client, true).await?;
            // `.takeWhile(_ => nanoTime <= deadline)`: past the deadline, the wait gives up.
            if self.rt.now() > deadline {
                break;
            }
            if self.ended_streams_completed_and_commits_exist().await? {
                break;
            }
        }
        client
            .commit_sync(Offsets::new(), self.commit_timeout)
            .await
            .map_err(kafka_failure)
    }

    /// `endingStreamsCompletedAndCommitsExist`: a stream is complete when it never pulled a
    /// record, or when it has finished and the offset of its last record is committed or a
    /// commit of it is pending (answered or not).
    async fn ended_streams_completed_and_commits_exist(&self) -> Exit<bool, ConsumerError> {
        let pending = self.committer.pending_offsets();
        for stream in &self.streams {
            let last_pulled = stream.queue_info().await?.last_pulled_offset;
            if last_pulled.is_none() {
                continue;
            }
            let commit_status_known = match stream.completed_offset() {
                Some(Some(end)) => {
                    self.committer.has_committed(stream.tp(), end)
                        || pending.get(stream.tp()) == Some(&end)
                }
                // Not finished, or finished without an end offset.
                _ => false,
            };
            if !commit_status_known {
                return Ok(false);
            }
        }
        Ok(true)
    }
}

impl RebalanceListener for RebalanceCoordinator {
    fn on_revoked<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move {
            let own = self.handle_revoked(partitions.clone()).await;
            self.then_user(own, client, partitions, |user| &user.on_revoked)
                .await
        })
    }

    fn on_assigned<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move {
            let own = self.handle_assigned(partitions.clone()).await;
            self.then_user(own, client, partitions, |user| &user.on_assigned)
                .await
        })
    }

    fn on_lost<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move {
            let own = self.handle_lost(partitions.clone()).await;
            self.then_user(own, client, partitions, |user| &user.on_lost)
                .await
        })
    }
}
