//! The runloop (zio-kafka's `Runloop.scala`): one fiber that owns the Kafka client and serves
//! the command queue.
//!
//! Each turn reads a chunk of commands (`take_chunk`, as `ZStream.fromQueue` delivers chunks)
//! and handles its prefix up to `StopRunloop` (`takeWhile`: the rest of the chunk is dropped):
//! first the queued commits, then every stream command in order, then one poll if
//! [`should_poll`](Runloop::should_poll), then the self-clocking `Poll` if it should still poll.
//! A failure anywhere ends the loop: the protocol's crash hook runs (halting the streams and
//! publishing the failure on the partitions hub, since #1707), and the runloop fiber itself
//! then ends successfully, as zio-kafka's does after its `catchAllCause`. `StopRunloop`, or a
//! command queue shut down under a waiting runloop (`ZStream.fromQueue` then ends), ends it
//! normally and runs the protocol's exit hook. An interruption of the runloop fiber runs
//! neither hook (see [`Runloop::run`]).

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::rc::Rc;

use super::command::RunloopCommand;
use super::committer::Committer;
use super::consumer_access::ConsumerAccess;
use super::diagnostics::{DiagnosticEvent, Diagnostics};
use super::error::{queue_failure, ConsumerError};
use super::partition_stream::{CommittableRecord, PartitionStreamControl};
use super::protocol::{EndStep, RequestChannel};
use super::rebalance::RebalanceCoordinator;
use super::settings::{ConsumerSettings, OffsetRetrieval};
use super::subscription::{subscription_matches, union_of};
use crate::kafka::{ConsumerGroupMetadata, KafkaError, Record, Subscription, TopicPartition};
use crate::rt::{Cause, Exit, ExitKind, Hub, Interrupted, Promise, Queue, QueueError, Ref, Rt};

/// What the partitions hub carries (zio-kafka's `Take[Throwable, PartitionAssignment]`).
#[derive(Clone)]
pub enum PartitionsTake {
    /// New partition streams.
    Streams(Vec<PartitionStreamControl>),
    /// Consumption stopped: no more streams.
    End,
    /// The runloop failed.
    Fail(Cause<ConsumerError>),
}

/// Whether and to what the runloop is subscribed (`SubscriptionState`).
#[derive(Clone, Debug, Default)]
pub enum SubscriptionState {
    #[default]
    NotSubscribed,
    /// The subscriptions, and their union as given to the client.
    Subscribed {
        subscriptions: Vec<Subscription>,
        union: Subscription,
    },
}

impl SubscriptionState {
    pub fn is_subscribed(&self) -> bool {
        matches!(self, SubscriptionState::Subscribed { .. })
    }
}

/// The runloop's state (`Runloop.State`).
#[derive(Clone, Default)]
pub struct State {
    /// Partitions whose streams asked for data.
    pub pending_requests: Vec<TopicPartition>,
    /// The streams of the assigned partitions.
    pub assigned_streams: Vec<PartitionStreamControl>,
    pub subscription_state: SubscriptionState,
}

/// The runloop. Cloning shares it.
#[derive(Clone)]
pub struct Runloop {
    inner: Rc<Inner>,
}

struct Inner {
    rt: Rt,
    settings: ConsumerSettings,
    /// The client, behind the access lock (`ConsumerAccess`).
    access: ConsumerAccess,
    channel: RequestChannel,
    hub: Hub<PartitionsTake>,
    diagnostics: Diagnostics,
    current_state: Ref<State>,
    coordinator: RebalanceCoordinator,
    committer: Committer,
    group_metadata: RefCell<Option<ConsumerGroupMetadata>>,
    /// Commands dequeued and not yet handled (the `ClosedQueue` hooks fail their promises).
    in_flight: RefCell<VecDeque<RunloopCommand>>,
    commands_made: Cell<u64>,
    /// Polls that failed with an authorization or authentication error and were retried
    /// (zio-kafka's metric `ziokafka_consumer_poll_auth_errors`).
    poll_auth_errors: Cell<u64>,
    /// Consecutive polls that returned no record per topic of the assigned streams, for the
    /// `committed()` probe (#1713's `State.emptyPollCounts`; kept only when the probe is on).
    empty_poll_counts: RefCell<BTreeMap<Rc<str>, u32>>,
}

/// The most chunks one runloop reads: a bound far beyond any simulated lifetime.
const MAX_CHUNKS: u64 = 100_000_000;

fn kafka(error: KafkaError) -> Cause<ConsumerError> {
    Cause::Fail(ConsumerError::Kafka(error))
}

impl Runloop {
    /// A runloop around the client of `access`; [`Runloop::run`] is its loop.
    pub fn new(
        rt: &Rt,
        settings: ConsumerSettings,
        access: ConsumerAccess,
        hub: Hub<PartitionsTake>,
        diagnostics: Diagnostics,
    ) -> Runloop {
        let channel = RequestChannel {
            rt: rt.clone(),
            protocol: settings.protocol,
            command_queue: Queue::new(rt, super::labels::COMMAND_QUEUE),
            runloop_done: Promise::new(rt, super::labels::RUNLOOP_DONE),
            diagnostics: diagnostics.clone(),
        };
        let committer = Committer::new(
            rt,
            channel.clone(),
            diagnostics.clone(),
            settings.commit_timeout,
        );
        let current_state = Ref::new(rt, "runloop_state", State::default());
        let coordinator = RebalanceCoordinator::new(
            rt,
            settings.clone(),
            committer.clone(),
            access.clone(),
            current_state.clone(),
        );
        Runloop {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                settings,
                access,
                channel,
                hub,
                diagnostics,
                current_state,
                coordinator,
                committer,
                group_metadata: RefCell::new(None),
                in_flight: RefCell::new(VecDeque::new()),
                commands_made: Cell::new(0),
                poll_auth_errors: Cell::new(0),
                empty_poll_counts: RefCell::new(BTreeMap::new()),
            }),
        }
    }

    /// The request channel (command queue and `runloop_done`).
    pub fn channel(&self) -> &RequestChannel {
        &self.inner.channel
    }

    /// Polls retried after an authorization or authentication error
    /// (`ziokafka_consumer_poll_auth_errors`).
    pub fn poll_auth_errors(&self) -> u64 {
        self.inner.poll_auth_errors.get()
    }

    /// The committer.
    pub fn committer(&self) -> &Committer {
        &self.inner.committer
    }

    fn command_name(&self, kind: &str) -> String {
        let number = self.inner.commands_made.get() + 1;
        self.inner.commands_made.set(number);
        format!("{kind}#{number}")
    }

    /// `addSubscription`: offer and await `AddSubscription`.
    pub async fn add_subscription(&self, subscription: Subscription) -> Exit<(), ConsumerError> {
        let name = self.command_name("AddSubscription");
        self.inner
            .channel
            .offer_and_await(&name, move |reply| RunloopCommand::AddSubscription {
                subscription,
                reply,
            })
            .await
    }

    /// `removeSubscription`: offer and await `RemoveSubscription`.
    pub async fn remove_subscription(&self, subscription: Subscription) -> Exit<(), ConsumerError> {
        let name = self.command_name("RemoveSubscription");
        self.inner
            .channel
            .offer_and_await(&name, move |reply| RunloopCommand::RemoveSubscription {
                subscription,
                reply,
            })
            .await
    }

    /// `endStreamsBySubscription`: offer and await `EndStreamsBySubscription`.
    pub async fn end_streams_by_subscription(
        &self,
        subscription: Subscription,
    ) -> Exit<(), ConsumerError> {
        let name = self.command_name("EndStreamsBySubscription");
        self.inner
            .channel
            .offer_and_await(&name, move |reply| {
                RunloopCommand::EndStreamsBySubscription {
                    subscription,
                    reply,
                }
            })
            .await
    }

    /// `stopConsumption`: offer `StopAllStreams` (fire and forget).
    pub async fn stop_consumption(&self) -> Exit<(), ConsumerError> {
        self.inner
            .channel
            .offer(RunloopCommand::StopAllStreams)
            .await
    }

    /// `shutdown`: offer `RemoveAllSubscriptions` and `StopAllStreams` in one step.
    pub async fn shutdown(&self) -> Exit<(), ConsumerError> {
        let diagnostics = &self.inner.channel.diagnostics;
        diagnostics.command_offered(RunloopCommand::RemoveAllSubscriptions.name());
        diagnostics.command_offered(RunloopCommand::StopAllStreams.name());
        self.inner
            .channel
            .command_queue
            .offer_all([
                RunloopCommand::RemoveAllSubscriptions,
                RunloopCommand::StopAllStreams,
            ])
            .await
            .map_err(|error| match error {
                QueueError::Interrupted(interrupted) => interrupted.into(),
                QueueError::Closed(cause) => cause,
            })
    }

    /// Offers `StopRunloop`.
    pub async fn stop_runloop(&self) -> Exit<(), ConsumerError> {
        self.inner.channel.offer(RunloopCommand::StopRunloop).await
    }

    /// The runloop fiber's effect: the loop, then the protocol's crash or exit hook. Like
    /// zio-kafka's after #1707, it ends successfully even when the loop failed.
    ///
    /// An interrupted runloop fiber runs neither hook: ZIO runs no error handler
    /// (`catchAllCause`) and no continuation (`zipLeft`) of an interrupted fiber, only its
    /// finalizers, so only the protocols whose end is a finalizer (`onExit`) run theirs
    /// ([`ShutdownProtocol::interruption_steps`](super::protocol::ShutdownProtocol)), and the
    /// fiber ends interrupted. A failure whose cause is an interruption that the fiber did not
    /// receive itself (an offer to a shut-down queue, ZIO's `ZIO.interrupt` value) is caught
    /// like any failure.
    pub async fn run(self) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let protocol = inner.settings.protocol;
        match self.run_loop().await {
            Ok(()) => {
                inner.diagnostics.emit(DiagnosticEvent::RunloopExited {
                    exit: ExitKind::Success,
                    cause: None,
                });
                let cause = Cause::Fail(ConsumerError::RunloopStopped);
                self.run_end_steps(protocol.exit_steps(), &cause).await;
                Ok(())
            }
            // Interruption is sticky: a fiber that received one fails its next scheduling point.
            Err(cause) if cause.is_interrupt() && inner.rt.checkpoint().await.is_err() => {
                inner.diagnostics.emit(DiagnosticEvent::RunloopExited {
                    exit: cause.kind(),
                    cause: Some(cause.to_string()),
                });
                // Finalizers run uninterruptibly.
                let steps = protocol.interruption_steps();
                let _ = inner
                    .rt
                    .uninterruptible(async {
                        self.run_end_steps(steps, &cause).await;
                        Ok::<(), Interrupted>(())
                    })
                    .await;
                Err(cause)
            }
            Err(cause) => {
                inner.diagnostics.emit(DiagnosticEvent::RunloopExited {
                    exit: cause.kind(),
                    cause: Some(cause.to_string()),
                });
                self.run_end_steps(protocol.crash_steps(), &cause).await;
                Ok(())
            }
        }
    }

    async fn run_loop(&self) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let mut state = State::default();
        for _chunk in 0..MAX_CHUNKS {
            let commands = match inner
                .channel
                .command_queue
                .take_chunk(inner.settings.command_chunk_limit)
                .await
            {
                Ok(commands) => commands,
                // `ZStream.fromQueue`: a take refused by a shut-down queue ends the stream
                // normally (`queue.isShutdown` and an interruption: `Pull.end`).
                Err(QueueError::Interrupted(interrupted)) => {
                    if inner.channel.command_queue.is_shutdown().await? {
                        return Ok(());
                    }
                    return Err(interrupted.into());
                }
                Err(error) => return Err(queue_failure(error)),
            };
            let stop_at = commands
                .iter()
                .position(|command| matches!(command, RunloopCommand::StopRunloop));
            // The whole chunk is dequeued; the commands after `StopRunloop` are dropped unhandled.
            *inner.in_flight.borrow_mut() = commands.iter().cloned().collect();
            let handled = &commands[..stop_at.unwrap_or(commands.len())];
            // `consumer.runloopAccess(committer.processQueuedCommits(_))`.
            inner
                .access
                .runloop_access(
                    inner
                        .committer
                        .process_queued_commits(&**inner.access.client(), false),
                )
                .await?;
            for command in handled {
                inner.in_flight.borrow_mut().pop_front();
                if !command.is_control() {
                    state = self.handle_command(state, command.clone()).await?;
                }
            }
            if self.should_poll(&state).await? {
                state = self.handle_poll(state).await?;
            }
            if self.should_poll(&state).await? {
                inner.channel.offer(RunloopCommand::Poll).await?;
            }
            inner.current_state.set(state.clone()).await?;
            if stop_at.is_some() {
                return Ok(());
            }
            inner.in_flight.borrow_mut().clear();
        }
        Err(Cause::Die("the runloop read its chunk limit".into()))
    }

    /// `shouldPoll`: subscribed, with demand (a pending request, a pending commit, or no
    /// streams yet); from `CheckOfferDrain` on, also not once `runloop_done` is done.
    pub async fn should_poll(&self, state: &State) -> Exit<bool, ConsumerError> {
        let inner = &self.inner;
        if inner.settings.protocol.should_poll_checks_runloop_done()
            && inner.channel.runloop_done.is_done().await?
        {
            return Ok(false);
        }
        let demand = !state.pending_requests.is_empty()
            || inner.committer.pending_commit_count() > 0
            || state.assigned_streams.is_empty();
        Ok(state.subscription_state.is_subscribed() && demand)
    }

    async fn handle_command(
        &self,
        mut state: State,
        command: RunloopCommand,
    ) -> Exit<State, ConsumerError> {
        match command {
            RunloopCommand::Request(tp) => {
                let mut live = false;
                for stream in state
                    .assigned_streams
                    .iter()
                    .filter(|stream| *stream.tp() == tp)
                {
                    live |= !stream.has_ended().await?;
                }
                if live {
                    state.pending_requests.push(tp);
                }
                Ok(state)
            }
            RunloopCommand::AddSubscription {
                subscription,
                reply,
            } => match &state.subscription_state {
                SubscriptionState::NotSubscribed => {
                    reply.succeed(()).await?;
                    let new = SubscriptionState::Subscribed {
                        subscriptions: vec![subscription.clone()],
                        union: subscription,
                    };
                    self.change_subscription(state, new).await
                }
                SubscriptionState::Subscribed { subscriptions, .. } => {
                    let mut all = subscriptions.clone();
                    all.push(subscription);
                    match union_of(&all) {
                        Err(text) => {
                            reply
                                .fail(ConsumerError::InvalidSubscriptionUnion(text))
                                .await?;
                            Ok(state)
                        }
                        Ok(union) => {
                            reply.succeed(()).await?;
                            let new = SubscriptionState::Subscribed {
                                subscriptions: all,
                                union,
                            };
                            self.change_subscription(state, new).await
                        }
                    }
                }
            },
            RunloopCommand::EndStreamsBySubscription {
                subscription,
                reply,
            } => {
                let ended: Vec<PartitionStreamControl> = state
                    .assigned_streams
                    .iter()
                    .filter(|stream| subscription_matches(&subscription, stream.tp()))
                    .cloned()
                    .collect();
                for stream in &ended {
                    stream.end().await?;
                }
                reply.succeed(()).await?;
                state
                    .pending_requests
                    .retain(|tp| !subscription_matches(&subscription, tp));
                Ok(state)
            }
            RunloopCommand::RemoveSubscription {
                subscription,
                reply,
            } => {
                let new = match &state.subscription_state {
                    SubscriptionState::NotSubscribed => SubscriptionState::NotSubscribed,
                    SubscriptionState::Subscribed { subscriptions, .. } => {
                        let remaining: Vec<Subscription> = subscriptions
                            .iter()
                            .filter(|s| **s != subscription)
                            .cloned()
                            .collect();
                        match union_of(&remaining) {
                            Ok(union) if !remaining.is_empty() => SubscriptionState::Subscribed {
                                subscriptions: remaining,
                                union,
                            },
                            _ => SubscriptionState::NotSubscribed,
                        }
                    }
                };
                // `.tapBoth(cont.fail, _ => cont.succeed(()))`: the caller is answered either
                // way, and a failure still fails the runloop.
                match self.change_subscription(state, new).await {
                    Ok(state) => {
                        reply.succeed(()).await?;
                        Ok(state)
                    }
                    Err(cause) => {
                        reply.fail_cause(cause.clone()).await?;
                        Err(cause)
                    }
                }
            }
            RunloopCommand::RemoveAllSubscriptions => {
                self.change_subscription(state, SubscriptionState::NotSubscribed)
                    .await
            }
            RunloopCommand::StopAllStreams => {
                for stream in &state.assigned_streams {
                    stream.end().await?;
                }
                self.inner.hub.publish(PartitionsTake::End).await?;
                state.pending_requests.clear();
                Ok(state)
            }
            RunloopCommand::Poll
            | RunloopCommand::CommitAvailable
            | RunloopCommand::StopRunloop => Ok(state),
        }
    }

    /// `doChangeSubscription`: apply the new subscription to the client; when unsubscribed,
    /// end every stream and forget the requests.
    async fn change_subscription(
        &self,
        mut state: State,
        new: SubscriptionState,
    ) -> Exit<State, ConsumerError> {
        let inner = &self.inner;
        let starting = inner
            .access
            .runloop_access(self.apply_new_subscription_state(&state, &new))
            .await?;
        state.assigned_streams.extend(starting);
        let unsubscribed = !new.is_subscribed();
        state.subscription_state = new;
        if unsubscribed {
            for stream in &state.assigned_streams {
                stream.end().await?;
            }
            state.assigned_streams.clear();
            state.pending_requests.clear();
        }
        Ok(state)
    }

    /// `applyNewSubscriptionState`, under the access lock: unsubscribe, subscribe with the
    /// rebalance listener, or (manual) assign, seek to the retrieved offsets and start and
    /// publish the new partitions' streams, which it returns.
    async fn apply_new_subscription_state(
        &self,
        state: &State,
        new: &SubscriptionState,
    ) -> Exit<Vec<PartitionStreamControl>, ConsumerError> {
        let inner = &self.inner;
        let client = &**inner.access.client();
        match new {
            SubscriptionState::NotSubscribed => {
                client.unsubscribe().await.map_err(kafka)?;
                Ok(Vec::new())
            }
            SubscriptionState::Subscribed {
                union: Subscription::Manual(partitions),
                ..
            } => {
                client.assign(partitions.clone()).map_err(kafka)?;
                self.seek_for_new_partitions(partitions).await?;
                let known: BTreeSet<TopicPartition> = state
                    .assigned_streams
                    .iter()
                    .map(|stream| stream.tp().clone())
                    .collect();
                let starting: Vec<PartitionStreamControl> = partitions
                    .iter()
                    .filter(|tp| !known.contains(*tp))
                    .map(|tp| self.new_stream(tp.clone()))
                    .collect();
                if !starting.is_empty() {
                    inner
                        .hub
                        .publish(PartitionsTake::Streams(starting.clone()))
                        .await?;
                }
                Ok(starting)
            }
            SubscriptionState::Subscribed { union, .. } => {
                let listener: Rc<dyn crate::kafka::RebalanceListener> =
                    Rc::new(inner.coordinator.clone());
                client
                    .subscribe(union.clone(), listener)
                    .await
                    .map_err(kafka)?;
                Ok(Vec::new())
            }
        }
    }

    /// `doSeekForNewPartitions`: with a manual offset retrieval, asks the application for the
    /// offsets of `partitions` and seeks there; returns the partitions sought, whose records of
    /// the current poll are then ignored. A failure of the retrieval fails the caller (the
    /// command that changed the subscription, or the poll), and so the runloop.
    async fn seek_for_new_partitions(
        &self,
        partitions: &BTreeSet<TopicPartition>,
    ) -> Exit<BTreeSet<TopicPartition>, ConsumerError> {
        let OffsetRetrieval::Manual(get_offsets) = &self.inner.settings.offset_retrieval else {
            return Ok(BTreeSet::new());
        };
        if partitions.is_empty() {
            return Ok(BTreeSet::new());
        }
        let offsets = get_offsets(partitions.clone()).await?;
        let client = &**self.inner.access.client();
        for (tp, offset) in &offsets {
            client.seek(tp.clone(), *offset).map_err(kafka)?;
        }
        Ok(offsets.into_keys().collect())
    }

    fn new_stream(&self, tp: TopicPartition) -> PartitionStreamControl {
        let inner = &self.inner;
        PartitionStreamControl::new(
            &inner.rt,
            tp,
            inner.channel.clone(),
            inner.diagnostics.clone(),
            inner.settings.max_stream_pull_interval,
        )
    }

    /// `handlePoll`.
    async fn handle_poll(&self, state: State) -> Exit<State, ConsumerError> {
        let inner = &self.inner;
        // 1-2. The streams still running and, of those, the ones below the prefetch limit.
        let mut running = Vec::new();
        for stream in &state.assigned_streams {
            if !stream.has_ended().await? {
                running.push(stream.clone());
            }
        }
        let mut to_fetch = BTreeSet::new();
        for stream in &running {
            if stream.queue_info().await?.size < inner.settings.partition_prefetch_buffer_limit {
                to_fetch.insert(stream.tp().clone());
            }
        }
        // 3. The snapshot the crash handler halts.
        inner.current_state.set(state.clone()).await?;
        // 4. Under the access lock: pause and resume, poll, apply the rebalance.
        let (mut state, records, ignored) = inner
            .access
            .runloop_access(self.poll_and_rebalance(state, to_fetch))
            .await?;
        // 5. Offer the records to their streams (an empty offer counts an outstanding poll).
        let with_records: BTreeSet<TopicPartition> = records
            .iter()
            .map(Record::topic_partition)
            .filter(|tp| !ignored.contains(tp))
            .collect();
        let mut by_partition: BTreeMap<TopicPartition, Vec<CommittableRecord>> = BTreeMap::new();
        let group_metadata = inner.group_metadata.borrow().clone();
        for record in records {
            if ignored.contains(&record.topic_partition()) {
                continue;
            }
            let committable =
                CommittableRecord::new(record, group_metadata.clone(), inner.committer.clone());
            by_partition
                .entry(committable.topic_partition())
                .or_default()
                .push(committable);
        }
        for stream in &state.assigned_streams {
            if stream.has_ended().await? {
                continue;
            }
            let chunk = by_partition.remove(stream.tp()).unwrap_or_default();
            stream.offer_records(chunk).await?;
        }
        state
            .pending_requests
            .retain(|tp| !with_records.contains(tp));
        // 6-7. Clean up commits, then halt the streams nobody pulls from.
        inner.committer.cleanup_pending_commits();
        let mut halted = false;
        for stream in &state.assigned_streams {
            if stream.pull_interval_exceeded().await? {
                stream.halt_pull_timeout().await?;
                halted = true;
            }
        }
        if halted {
            self.shutdown().await?;
        }
        Ok(state)
    }

    /// The part of `handlePoll` inside `consumer.runloopAccess`: pause and resume by demand,
    /// poll with the authorization retry, the `committed()` probe, then the rebalance the poll's
    /// callbacks accumulated (the slow track). Returns the new state, the records, and the
    /// partitions whose records this poll must ignore (sought to retrieved offsets).
    async fn poll_and_rebalance(
        &self,
        mut state: State,
        to_fetch: BTreeSet<TopicPartition>,
    ) -> Exit<(State, Vec<Record>, BTreeSet<TopicPartition>), ConsumerError> {
        let inner = &self.inner;
        let client = &**inner.access.client();
        let assignment = client.assignment().map_err(kafka)?;
        let resume: BTreeSet<TopicPartition> =
            assignment.intersection(&to_fetch).cloned().collect();
        let pause: BTreeSet<TopicPartition> = assignment.difference(&to_fetch).cloned().collect();
        client.resume(&resume).map_err(kafka)?;
        client.pause(&pause).map_err(kafka)?;
        let records = self.poll_with_auth_retry().await?;
        let with_records: BTreeSet<TopicPartition> =
            records.iter().map(Record::topic_partition).collect();
        inner.diagnostics.emit(DiagnosticEvent::Poll {
            requested: to_fetch,
            with_records: with_records.clone(),
        });
        self.probe_silent_topics(&state, &with_records).await?;
        let event = inner.coordinator.take_last_event();
        let mut ignored = BTreeSet::new();
        if event.was_invoked {
            // The slow track: apply the accumulated rebalance.
            let current_assigned = client.assignment().map_err(kafka)?;
            ignored = self.seek_for_new_partitions(&event.assigned).await?;
            *inner.group_metadata.borrow_mut() = client.group_metadata().ok();
            let ended_tps: BTreeSet<TopicPartition> = event
                .ended_streams
                .iter()
                .map(|stream| stream.tp().clone())
                .collect();
            let starting_tps: BTreeSet<TopicPartition> = event
                .assigned
                .iter()
                .cloned()
                .chain(current_assigned.intersection(&ended_tps).cloned())
                .collect();
            let starting: Vec<PartitionStreamControl> = starting_tps
                .iter()
                .map(|tp| self.new_stream(tp.clone()))
                .collect();
            if !starting.is_empty() {
                inner
                    .hub
                    .publish(PartitionsTake::Streams(starting.clone()))
                    .await?;
            }
            state.assigned_streams.retain(|stream| {
                !event
                    .ended_streams
                    .iter()
                    .any(|ended| ended.same_stream(stream))
            });
            state.assigned_streams.extend(starting);
            state.pending_requests.retain(|tp| {
                !event.revoked.contains(tp) && !event.lost.contains(tp) && !ended_tps.contains(tp)
            });
            // `keepCommitsForPartitions(updatedAssignedStreams.map(_.tp))`.
            let stream_partitions: BTreeSet<TopicPartition> = state
                .assigned_streams
                .iter()
                .map(|stream| stream.tp().clone())
                .collect();
            inner
                .committer
                .keep_commits_for_partitions(&stream_partitions);
            inner.diagnostics.emit(DiagnosticEvent::Rebalance {
                revoked: event.revoked,
                assigned: event.assigned,
                lost: event.lost,
                ended: ended_tps,
            });
        }
        Ok((state, records, ignored))
    }

    /// The `committed()` probe of #1713 (`emptyPollCountToMetaRefresh`, off by default): count
    /// the consecutive polls that returned nothing for each topic of the assigned streams; once
    /// a topic reaches the threshold, ask for the committed offset of one of its assigned
    /// partitions. A topic whose READ was revoked silently makes `committed` throw
    /// `TopicAuthorization`, which fails the poll, and so the runloop. The count of a probed
    /// topic starts again (the probe's exact reset is not in the reference; see
    /// ARCHITECTURE.md).
    async fn probe_silent_topics(
        &self,
        state: &State,
        with_records: &BTreeSet<TopicPartition>,
    ) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let Some(threshold) = inner.settings.empty_poll_count_to_meta_refresh else {
            return Ok(());
        };
        let polled_topics: BTreeSet<&Rc<str>> = with_records.iter().map(|tp| &tp.topic).collect();
        let assigned_topics: BTreeSet<Rc<str>> = state
            .assigned_streams
            .iter()
            .map(|stream| stream.tp().topic.clone())
            .collect();
        let to_probe: BTreeSet<TopicPartition> = {
            let mut counts = inner.empty_poll_counts.borrow_mut();
            counts.retain(|topic, _| assigned_topics.contains(topic));
            for topic in &assigned_topics {
                if polled_topics.contains(topic) {
                    counts.remove(topic);
                } else {
                    *counts.entry(topic.clone()).or_insert(0) += 1;
                }
            }
            let due: BTreeSet<Rc<str>> = counts
                .iter()
                .filter(|(_, count)| **count >= threshold)
                .map(|(topic, _)| topic.clone())
                .collect();
            for topic in &due {
                counts.remove(topic);
            }
            // One assigned partition per topic due (`distinctBy(_.topic)`).
            let mut seen = BTreeSet::new();
            state
                .assigned_streams
                .iter()
                .map(|stream| stream.tp().clone())
                .filter(|tp| due.contains(&tp.topic) && seen.insert(tp.topic.clone()))
                .collect()
        };
        if to_probe.is_empty() {
            return Ok(());
        }
        inner
            .access
            .client()
            .committed(to_probe, inner.settings.commit_timeout)
            .await
            .map(|_| ())
            .map_err(kafka)
    }

    /// `doPoll` with `retry(recurWhile(auth error) && authErrorRetrySchedule)`.
    async fn poll_with_auth_retry(&self) -> Exit<Vec<Record>, ConsumerError> {
        let inner = &self.inner;
        let mut retries = 0u32;
        loop {
            match inner
                .access
                .client()
                .poll(inner.settings.poll_timeout)
                .await
            {
                Ok(records) => return Ok(records),
                Err(error) if error.is_auth_error() => {
                    match inner
                        .settings
                        .auth_error_retry_schedule
                        .delay_before(retries)
                    {
                        Some(delay) => {
                            retries += 1;
                            inner.poll_auth_errors.set(inner.poll_auth_errors.get() + 1);
                            inner.rt.sleep(delay).await?;
                        }
                        None => return Err(kafka(error)),
                    }
                }
                Err(error) => return Err(kafka(error)),
            }
        }
    }

    /// Runs the steps of a crash or exit hook. Each step's failure (for example an interruption)
    /// is ignored, as zio-kafka's `.ignore`s do, and the next step runs.
    async fn run_end_steps(&self, steps: &[EndStep], cause: &Cause<ConsumerError>) {
        let inner = &self.inner;
        for step in steps {
            match step {
                EndStep::HaltStreamsAndPublish => {
                    if let Ok(state) = inner.current_state.get().await {
                        for stream in &state.assigned_streams {
                            let _ = stream.halt(cause.clone()).await;
                        }
                    }
                    let _ = inner.hub.publish(PartitionsTake::Fail(cause.clone())).await;
                }
                EndStep::CompleteRunloopDone => {
                    let _ = inner.channel.runloop_done.fail_cause(cause.clone()).await;
                }
                EndStep::DrainQueue => {
                    if let Ok(commands) = inner.channel.command_queue.take_all().await {
                        fail_replies(&commands, cause).await;
                    }
                }
                EndStep::CloseAndDrainQueue => {
                    // One step: the queue is closed and drained with no scheduling point between;
                    // the commands dequeued but not handled are failed too.
                    if let Ok(drained) = inner
                        .channel
                        .command_queue
                        .close_and_drain(cause.clone())
                        .await
                    {
                        let in_flight: Vec<RunloopCommand> =
                            inner.in_flight.borrow_mut().drain(..).collect();
                        let _ = inner.channel.runloop_done.fail_cause(cause.clone()).await;
                        fail_replies(&in_flight, cause).await;
                        fail_replies(&drained, cause).await;
                    }
                }
            }
        }
    }
}

async fn fail_replies(commands: &[RunloopCommand], cause: &Cause<ConsumerError>) {
    for reply in commands.iter().filter_map(RunloopCommand::reply) {
        let _ = reply.fail_cause(cause.clone()).await;
    }
}
