//! The rebalance coordinator (zio-kafka's `RebalanceCoordinator`): the listener the runloop
//! gives the client.
//!
//! Its callbacks run inside `poll`, on the runloop's fiber. They end the streams of revoked and
//! lost partitions (all streams in restart mode) and accumulate what happened into one
//! [`RebalanceEvent`] per poll, which the runloop takes after the poll and applies: new streams
//! for assigned partitions, requests of revoked and lost partitions dropped. With
//! `rebalance_safe_commits`, a revoke waits (in steps of 100 ms, until
//! `max_rebalance_duration - commit_timeout`) for the revoked streams to finish and their last
//! offsets to be committed, then flushes async commits with `commit_sync`.
//!
//! Left out: a user rebalance listener composed with this one (zio-kafka's `++ userListener`).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use super::committer::Committer;
use super::error::ConsumerError;
use super::partition_stream::PartitionStreamControl;
use super::runloop::State;
use super::settings::ConsumerSettings;
use crate::kafka::{
    KafkaClient, KafkaError, KafkaFuture, Offsets, RebalanceListener, TopicPartition,
};
use crate::rt::{Cause, Exit, Ref, Rt};

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
        current_state: Ref<State>,
    ) -> Self {
        RebalanceCoordinator {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                settings,
                committer,
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

    async fn end_streams(&self, streams: &[PartitionStreamControl]) -> Exit<(), ConsumerError> {
        for stream in streams {
            stream.end().await?;
        }
        Ok(())
    }

    async fn handle_assigned(&self, assigned: BTreeSet<TopicPartition>) -> Exit<(), ConsumerError> {
        let mut ended = Vec::new();
        if self.inner.settings.restart_streams_on_rebalancing
            && !self.inner.last_event.borrow().was_invoked
        {
            ended = self.assigned_streams().await?;
            self.end_streams(&ended).await?;
        }
        self.inner
            .last_event
            .borrow_mut()
            .on_assigned(&assigned, ended);
        Ok(())
    }

    async fn handle_revoked(
        &self,
        client: &dyn KafkaClient,
        revoked: BTreeSet<TopicPartition>,
    ) -> Exit<(), ConsumerError> {
        let streams = self.assigned_streams().await?;
        let ended: Vec<PartitionStreamControl> =
            if self.inner.settings.restart_streams_on_rebalancing {
                streams
            } else {
                streams
                    .into_iter()
                    .filter(|stream| revoked.contains(stream.tp()))
                    .collect()
            };
        self.end_streams(&ended).await?;
        if self.inner.settings.rebalance_safe_commits {
            self.await_stream_commits(client, &ended).await?;
        }
        self.inner
            .last_event
            .borrow_mut()
            .on_revoked(&revoked, ended);
        Ok(())
    }

    async fn handle_lost(&self, lost: BTreeSet<TopicPartition>) -> Exit<(), ConsumerError> {
        let streams = self.assigned_streams().await?;
        let ended: Vec<PartitionStreamControl> = streams
            .into_iter()
            .filter(|stream| lost.contains(stream.tp()))
            .collect();
        self.end_streams(&ended).await?;
        self.inner.last_event.borrow_mut().on_lost(&lost, ended);
        Ok(())
    }

    /// `doAwaitStreamCommits`: until every ended stream has completed and its last pulled
    /// offset is committed or pending, process queued commits every 100 ms, up to the deadline;
    /// then flush async commits with `commit_sync` of nothing.
    async fn await_stream_commits(
        &self,
        client: &dyn KafkaClient,
        ended: &[PartitionStreamControl],
    ) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let budget = inner
            .settings
            .max_rebalance_duration
            .saturating_sub(inner.settings.commit_timeout);
        let deadline = inner.rt.now() + budget;
        let step = Duration::from_millis(100);
        let steps = (budget.as_millis() / step.as_millis()).max(1) as u64;
        for _ in 0..=steps {
            inner.committer.process_queued_commits(client, true).await?;
            let all_done = ended.iter().all(|stream| match stream.completed_offset() {
                None => false,
                Some(None) => true,
                Some(Some(last)) => {
                    inner
                        .committer
                        .committed_offset(stream.tp())
                        .is_some_and(|c| c.0 > last.0)
                        || inner.committer.has_pending_commit(stream.tp(), last)
                }
            });
            if all_done || inner.rt.now() >= deadline {
                break;
            }
            inner.rt.sleep(step).await?;
        }
        client
            .commit_sync(Offsets::new(), inner.settings.commit_timeout)
            .await
            .map_err(|error| Cause::Fail(ConsumerError::Kafka(error)))
    }
}

impl RebalanceListener for RebalanceCoordinator {
    fn on_revoked<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move {
            self.handle_revoked(client, partitions)
                .await
                .map_err(to_kafka)
        })
    }

    fn on_assigned<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move { self.handle_assigned(partitions).await.map_err(to_kafka) })
    }

    fn on_lost<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async move { self.handle_lost(partitions).await.map_err(to_kafka) })
    }
}
