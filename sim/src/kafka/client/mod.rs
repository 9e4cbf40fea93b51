//! The fake client: [`FakeConsumer`] implements the `KafkaClient` port against a
//! [`FakeCluster`], with the Java client's semantics where the consumer core can observe them.
//! Several clients of one cluster in one group are full members of it: each joins, is
//! assigned its share, consumes and commits.
//!
//! What it models:
//! - `poll`: pending async-commit callbacks (of commits made before this poll, whose answer
//!   came) run first; then the group duties (join, eager revoke-and-rejoin, apply an
//!   assignment, `on_lost` after an expulsion) with the listener's callbacks in Kafka's order
//!   (revoked or lost, assignment change, assigned), several per poll if the group moves on
//!   meanwhile; then READ denials; then records of the assigned, unpaused partitions, at most
//!   `max_poll_records`, waiting in virtual time up to the timeout and returning as soon as
//!   records arrive;
//! - positions: from the group's committed offset, else `auto.offset.reset`; kept across
//!   cooperative rebalances for partitions that stay, forgotten for those that go;
//! - commits, checked by the coordinator and stored per group (a client applying a new
//!   generation commits in it, so `on_revoked` may commit); `commit_async` first runs the
//!   callbacks of earlier answered commits (Java's `commitOffsetsAsync`), and its own callback
//!   runs in a later `poll`, `commit_async`, `commit_sync` or `close`, after any commit latency;
//!   `commit_sync` and `close` wait for the answers of earlier async commits;
//! - `unsubscribe` and `close` revoke (or report lost) and leave the group; after `close` every
//!   call but `close` and `wakeup` fails with `IllegalState`;
//! - `wakeup`: the current or next blocking call fails with `Wakeup`;
//! - the client's process dying ([`FakeCluster::process_died`]): no call of it runs again, its
//!   heartbeats stop, and the coordinator removes its member after `session.timeout.ms`; its
//!   partitions then go to the others (no callback runs in a dead process). Its async commits
//!   already sent were applied when sent (the model's broker receives a commit at once) and are
//!   never answered; a `commit_sync` still waiting out a commit latency is applied only when
//!   answered, so it is lost;
//! - the faults of the cluster's [`FaultPlan`](super::FaultPlan) that concern this client (by
//!   its name, or all clients): READ denials, call faults (also on the listener's callbacks, so
//!   that the calling `poll`, `unsubscribe` or `close` rethrows), latencies, outages;
//! - the application's offset store for a manual offset retrieval
//!   ([`FakeConsumer::retrieve_offsets`]);
//! - MockConsumer parity ([`AssignmentSource::Scripted`]): scheduled poll tasks, a poll
//!   exception thrown once, `rebalance(partitions)`, records added to a partition, end offsets.
//!
//! Map: this file holds what every client shares (state, the calls, positions, fetching,
//! commits, callbacks); `group` the group-managed client's membership (join, rejoin, apply an
//! assignment, report lost partitions, the poll timer); `scripted` the scripted client of
//! Kafka's `MockConsumer` (poll tasks, poll exception, scripted rebalances, end offsets).
//!
//! Calls are not interruptible (like a blocking Java call on its thread): the client waits in
//! uninterruptible regions, so an interruption of the calling fiber takes effect when the call
//! returns; `wakeup` cuts a wait short.
//!
//! Left out: concurrent-access detection (`ConcurrentModificationException`: a simulated run
//! is one thread, so the Java client's thread check has no counterpart; the consumer core's
//! access lock is what prevents it), fetch sessions and prefetching, a commit's check at the
//! broker's arrival time (the coordinator checks and applies it when it is sent; only the
//! answer is late), and the group refusing a manual-assignment client's commits while it has
//! members.

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use consumer::internal::OffsetRetrieval;
use consumer::kafka::{
    CommitCallback, ConsumerGroupMetadata, KafkaClient, KafkaError, KafkaFuture,
    NoopRebalanceListener, Offset, Offsets, RebalanceListener, Record, Subscription,
    TopicPartition,
};
use consumer::rt::{Cause, Interrupted};
use consumer::ConsumerError;
use futures::future::{select, Either};

use super::cluster::{check_topic_names, Doorbell, FakeCluster};
use super::coordinator::{ClientId, RebalanceProtocol};
use super::faults::ClientCall;
use consumer::pattern::TopicPattern;
use scripted::ScriptState;

mod group;
mod scripted;

/// Rounds of "look at the cluster, wait for the next change" one poll makes at most. Each round
/// either returns or waits until a change or the timeout, so the bound matters only when the
/// cluster changes very often; the poll then returns empty early, as a real poll may.
const MAX_POLL_ROUNDS: usize = 1_024;

/// Where a client's assignment comes from: Kafka's group coordinator, or a test script
/// (MockConsumer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AssignmentSource {
    /// Subscriptions join the group and the coordinator assigns partitions.
    GroupCoordinator,
    /// Subscriptions join nothing: the assignment changes only through
    /// [`FakeConsumer::rebalance`], as with Kafka's `MockConsumer`.
    Scripted,
}

/// Where a partition without a committed offset starts (`auto.offset.reset`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AutoOffsetReset {
    Earliest,
    Latest,
}

/// A client's configuration.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ClientConfig {
    /// `group.id`; without one, commits and `committed` fail.
    pub group_id: Option<String>,
    /// `partition.assignment.strategy` (the group's protocol is its first member's).
    pub protocol: RebalanceProtocol,
    pub auto_offset_reset: AutoOffsetReset,
    /// `max.poll.records`.
    pub max_poll_records: usize,
    /// `max.poll.interval.ms`: a client that does not poll for this long is expelled.
    pub max_poll_interval: Duration,
    /// `session.timeout.ms`: how long after a client's process died (its heartbeats stopped,
    /// [`FakeCluster::process_died`]) the coordinator removes its member. A live client's
    /// heartbeats never stop in the model, so only a dead one's session expires this way (a
    /// `session-timeout` fault expires every session at once).
    pub session_timeout: Duration,
    pub assignment_source: AssignmentSource,
    /// The name faults target the client by (`client = "app-2"`); `client{id}` without one.
    pub name: Option<String>,
}

impl ClientConfig {
    /// A group-managed client of `group` (eager range protocol, earliest reset, Kafka's
    /// defaults otherwise).
    pub fn group(group: &str) -> ClientConfig {
        ClientConfig {
            group_id: Some(group.to_string()),
            protocol: RebalanceProtocol::EagerRange,
            auto_offset_reset: AutoOffsetReset::Earliest,
            max_poll_records: 500,
            max_poll_interval: Duration::from_secs(300),
            session_timeout: Duration::from_secs(45),
            assignment_source: AssignmentSource::GroupCoordinator,
            name: None,
        }
    }

    /// A client like `new MockConsumer(reset)`: scripted assignment, no group.
    pub fn mock_consumer(reset: AutoOffsetReset) -> ClientConfig {
        ClientConfig {
            group_id: None,
            auto_offset_reset: reset,
            assignment_source: AssignmentSource::Scripted,
            ..ClientConfig::group("mock")
        }
    }

    /// The same configuration with another protocol.
    pub fn with_protocol(mut self, protocol: RebalanceProtocol) -> ClientConfig {
        self.protocol = protocol;
        self
    }

    /// The same configuration with another reset policy.
    pub fn with_auto_offset_reset(mut self, reset: AutoOffsetReset) -> ClientConfig {
        self.auto_offset_reset = reset;
        self
    }

    /// The same configuration with another `max.poll.records`.
    pub fn with_max_poll_records(mut self, max: usize) -> ClientConfig {
        assert!(max > 0, "max.poll.records is positive");
        self.max_poll_records = max;
        self
    }

    /// The same configuration with another `max.poll.interval`.
    pub fn with_max_poll_interval(mut self, interval: Duration) -> ClientConfig {
        self.max_poll_interval = interval;
        self
    }

    /// The same configuration with another `session.timeout.ms`.
    pub fn with_session_timeout(mut self, timeout: Duration) -> ClientConfig {
        self.session_timeout = timeout;
        self
    }

    /// The same configuration with a name, which faults target the client by.
    pub fn with_name(mut self, name: &str) -> ClientConfig {
        self.name = Some(name.to_string());
        self
    }
}

/// An async commit whose outcome is known and whose callback waits for a later poll.
struct CompletedCommit {
    /// The poll count when the commit was made: its callback runs in a poll after that one.
    made_during_poll: u64,
    /// When the broker's answer reaches the client (the call's time plus any commit latency):
    /// the callback runs only in a call made after it.
    answered_at: Duration,
    offsets: Offsets,
    result: Result<(), KafkaError>,
    callback: CommitCallback,
}

/// How many of its latest rebalance-listener calls a client remembers: what happened near the
/// end of a run is what is asked, and memory stays flat however long a run is.
pub const LISTENER_CALLS_KEPT: usize = 64;

#[derive(Default)]
struct ClientState {
    closed: bool,
    subscription: Option<Subscription>,
    listener: Option<Rc<dyn RebalanceListener>>,
    member: Option<Rc<str>>,
    generation: i32,
    assignment: BTreeSet<TopicPartition>,
    /// Known fetch positions; a partition missing here is resolved before its next fetch.
    positions: BTreeMap<TopicPartition, i64>,
    paused: BTreeSet<TopicPartition>,
    wakeup_pending: bool,
    completed_commits: Vec<CompletedCommit>,
    /// Polls started so far.
    polls: u64,
    /// Commits the coordinator refused with `RebalanceInProgress` so far.
    rebalance_in_progress_refusals: u64,
    /// The highest offset this client stored in its group per partition, for the invariant
    /// that no member commits beyond what it processed.
    highest_own_commits: BTreeMap<TopicPartition, i64>,
    /// The latest [`LISTENER_CALLS_KEPT`] calls of the rebalance listener: when each began and,
    /// once it returned, when it ended.
    listener_calls: Vec<(Duration, Option<Duration>)>,
    /// Which assigned partition the next fetch starts with, for fairness.
    fetch_rotation: usize,
    /// MockConsumer parity.
    script: ScriptState,
}

/// A fake Kafka consumer on a [`FakeCluster`]. Hold it as `Rc<FakeConsumer>` for the test
/// helpers, or as `Rc<dyn KafkaClient>` where the consumer core expects the port.
pub struct FakeConsumer {
    cluster: FakeCluster,
    id: ClientId,
    /// The configured name, or `client{id}`.
    name: Rc<str>,
    config: ClientConfig,
    doorbell: Rc<Doorbell>,
    state: RefCell<ClientState>,
}

fn illegal(text: &str) -> KafkaError {
    KafkaError::IllegalState(text.to_string())
}

fn invalid_group_id() -> KafkaError {
    KafkaError::Other(
        "InvalidGroupIdException: to use the group management or offset commit APIs, you must \
         provide a valid group.id in the consumer configuration"
            .into(),
    )
}

impl FakeConsumer {
    pub(crate) fn new(cluster: FakeCluster, config: ClientConfig) -> Rc<FakeConsumer> {
        let (id, doorbell) = cluster.register_client();
        let name: Rc<str> = match &config.name {
            Some(name) => Rc::from(name.as_str()),
            None => format!("client{}", id.0).into(),
        };
        let client = Rc::new(FakeConsumer {
            cluster: cluster.clone(),
            id,
            name,
            config,
            doorbell,
            state: RefCell::new(ClientState {
                generation: -1,
                ..ClientState::default()
            }),
        });
        cluster.adopt(&client);
        client
    }

    /// Drops what the client holds of its user when the run is over: the rebalance listener
    /// and the commit callbacks capture the consumer that holds this client, a cycle that a
    /// client never closed (a run that hung) would otherwise keep alive.
    pub(crate) fn release(&self) {
        let mut state = self.state.borrow_mut();
        state.listener = None;
        state.completed_commits.clear();
    }

    /// The client's id within its cluster.
    pub fn id(&self) -> ClientId {
        self.id
    }

    /// The client's configuration.
    pub fn config(&self) -> &ClientConfig {
        &self.config
    }

    /// The name faults target the client by.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Whether the client is closed.
    pub fn is_closed(&self) -> bool {
        self.state.borrow().closed
    }

    /// Polls started so far.
    pub fn poll_count(&self) -> u64 {
        self.state.borrow().polls
    }

    /// Commits (async or sync) the coordinator refused with `RebalanceInProgress` so far.
    pub fn rebalance_in_progress_refusals(&self) -> u64 {
        self.state.borrow().rebalance_in_progress_refusals
    }

    /// The application's own offset store, read by a manual offset retrieval (zio-kafka's
    /// `OffsetRetrieval.Manual(getOffsets)`): the group's committed offset of each partition
    /// (0 for one without). Not a Kafka call: it takes any latency of `OffsetRetrieval` (not
    /// cut short by `wakeup`) and fails with the error of an `OffsetRetrieval` call fault.
    pub async fn retrieve_offsets(
        &self,
        partitions: BTreeSet<TopicPartition>,
    ) -> Result<Offsets, KafkaError> {
        self.scheduling_point().await;
        self.cluster.advance();
        if let Some(error) = self
            .cluster
            .take_call_fault(&self.name, ClientCall::OffsetRetrieval)
        {
            return Err(error);
        }
        let latency = self
            .cluster
            .call_latency(&self.name, ClientCall::OffsetRetrieval);
        if !latency.is_zero() {
            let rt = self.cluster.rt();
            let _ = rt.uninterruptible(rt.sleep(latency)).await;
        }
        let group = self.group_id().unwrap_or("");
        Ok(partitions
            .into_iter()
            .map(|partition| {
                let offset = self
                    .cluster
                    .committed_offset(group, &partition)
                    .unwrap_or(Offset(0));
                (partition, offset)
            })
            .collect())
    }

    /// A manual offset retrieval for the consumer core that reads [`FakeConsumer::retrieve_offsets`].
    pub fn manual_offset_retrieval(self: &Rc<Self>) -> OffsetRetrieval {
        let client = self.clone();
        OffsetRetrieval::Manual(Rc::new(move |partitions| {
            let client = client.clone();
            Box::pin(async move {
                client
                    .retrieve_offsets(partitions)
                    .await
                    .map_err(|error| Cause::Fail(ConsumerError::Kafka(error)))
            })
        }))
    }

    // ----- internals -----

    fn ensure_open(&self) -> Result<(), KafkaError> {
        if self.state.borrow().closed {
            Err(illegal("This consumer has already been closed."))
        } else {
            Ok(())
        }
    }

    /// The checks every call starts with: open, then an injected fault.
    fn enter(&self, call: ClientCall) -> Result<(), KafkaError> {
        self.ensure_open()?;
        self.cluster.advance();
        match self.cluster.take_call_fault(&self.name, call) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }

    /// Waits for the broker's answer to a call of kind `call` made now, if a latency applies:
    /// `Timeout` when the answer would come after `timeout`; a wakeup cuts the wait short.
    async fn await_answer(
        &self,
        call: ClientCall,
        timeout: Option<Duration>,
    ) -> Result<(), KafkaError> {
        let latency = self.cluster.call_latency(&self.name, call);
        if latency.is_zero() {
            return Ok(());
        }
        let now = self.cluster.rt().now();
        match timeout {
            Some(timeout) if timeout < latency => {
                self.wait_out(now + timeout).await?;
                Err(KafkaError::Timeout)
            }
            _ => self.wait_out(now + latency).await,
        }
    }

    /// Waits until virtual time `until`; doorbell rings do not end the wait, a wakeup or the
    /// client's close does.
    async fn wait_out(&self, until: Duration) -> Result<(), KafkaError> {
        for _ in 0..MAX_POLL_ROUNDS {
            if self.cluster.rt().now() >= until {
                return Ok(());
            }
            self.wait_until(until).await;
            self.ensure_open()?;
            self.take_wakeup()?;
        }
        Ok(())
    }

    /// When the last answer of the async commits sent so far comes, if it is still to come.
    fn last_commit_answer(&self) -> Option<Duration> {
        let now = self.cluster.rt().now();
        self.state
            .borrow()
            .completed_commits
            .iter()
            .map(|commit| commit.answered_at)
            .filter(|at| *at > now)
            .max()
    }

    fn take_wakeup(&self) -> Result<(), KafkaError> {
        if std::mem::take(&mut self.state.borrow_mut().wakeup_pending) {
            Err(KafkaError::Wakeup)
        } else {
            Ok(())
        }
    }

    /// A scheduling point that is never interrupted: the call goes on, and an interruption of
    /// the caller takes effect after it.
    async fn scheduling_point(&self) {
        let rt = self.cluster.rt();
        let _ = rt.uninterruptible(rt.checkpoint()).await;
    }

    /// Waits until virtual time `until` or a ring of the doorbell, uninterruptibly.
    async fn wait_until(&self, until: std::time::Duration) {
        let rt = self.cluster.rt().clone();
        let now = rt.now();
        if until <= now {
            return;
        }
        let bell = self.doorbell.arm();
        let _ = rt
            .uninterruptible(async {
                let rung = std::pin::pin!(bell.await_exit());
                let slept = std::pin::pin!(rt.sleep(until - now));
                // Biased to the bell: a wakeup that coincides with the timeout wins.
                match select(rung, slept).await {
                    Either::Left((result, _)) => result.map(|_| ()),
                    Either::Right((result, _)) => result,
                }
            })
            .await
            .map_err(|_: Interrupted| ());
        self.doorbell.disarm();
    }

    fn group_id(&self) -> Option<&str> {
        self.config.group_id.as_deref()
    }

    fn is_scripted(&self) -> bool {
        self.config.assignment_source == AssignmentSource::Scripted
    }

    fn listener(&self) -> Rc<dyn RebalanceListener> {
        self.state
            .borrow()
            .listener
            .clone()
            .unwrap_or_else(|| Rc::new(NoopRebalanceListener))
    }

    /// Whether the coordinator manages this client's assignment now.
    fn is_group_managed(&self) -> bool {
        !self.is_scripted()
            && self
                .state
                .borrow()
                .subscription
                .as_ref()
                .is_some_and(Subscription::is_group_managed)
    }

    /// The topics this client reads: its subscription's and its assignment's.
    fn read_topics(&self) -> BTreeSet<Rc<str>> {
        let (subscription, mut topics) = {
            let state = self.state.borrow();
            let topics: BTreeSet<Rc<str>> =
                state.assignment.iter().map(|tp| tp.topic.clone()).collect();
            (state.subscription.clone(), topics)
        };
        if let Some(subscription) = subscription {
            topics.extend(self.cluster.resolve_topics(&subscription));
        }
        topics
    }

    /// Replaces the local assignment, keeping positions and pause states of partitions that
    /// stay.
    fn set_assignment(&self, assignment: BTreeSet<TopicPartition>) {
        self.cluster.rt().note(|| {
            format!(
                "kafka: {} is assigned [{}]",
                self.name,
                join_partitions(&assignment)
            )
        });
        let mut state = self.state.borrow_mut();
        state.positions.retain(|tp, _| assignment.contains(tp));
        state.paused.retain(|tp| assignment.contains(tp));
        state.assignment = assignment;
    }

    fn assignment_now(&self) -> BTreeSet<TopicPartition> {
        self.state.borrow().assignment.clone()
    }

    /// Runs a listener callback's future, keeping the first error for the caller; a call
    /// fault on the callback (`kind`: `OnRevoked`, `OnAssigned` or `OnLost`) makes a callback
    /// that succeeded fail after it ran, as a user listener that throws.
    async fn callback(
        &self,
        kind: ClientCall,
        outcome: KafkaFuture<'_, ()>,
        first_error: &mut Option<KafkaError>,
    ) {
        let call = {
            let mut state = self.state.borrow_mut();
            if state.listener_calls.len() == LISTENER_CALLS_KEPT {
                state.listener_calls.remove(0);
            }
            state.listener_calls.push((self.cluster.rt().now(), None));
            state.listener_calls.len() - 1
        };
        let outcome = outcome.await;
        if let Some((_, ended)) = self.state.borrow_mut().listener_calls.get_mut(call) {
            *ended = Some(self.cluster.rt().now());
        }
        let injected = self.cluster.take_call_fault(&self.name, kind);
        self.cluster.rt().note(|| {
            let result = match (&outcome, &injected) {
                (Err(error), _) => format!("failed: {error}"),
                (Ok(()), Some(error)) => format!("failed (injected fault): {error}"),
                (Ok(()), None) => "ok".to_string(),
            };
            format!(
                "kafka: {}'s rebalance listener {kind:?}: {result}",
                self.name
            )
        });
        if let Some(error) = outcome.err().or(injected) {
            first_error.get_or_insert(error);
        }
    }

    /// Runs the callbacks of the async commits answered by now and made before poll number
    /// `before_poll` (all of them with `None`).
    fn deliver_commit_callbacks(&self, before_poll: Option<u64>) {
        let now = self.cluster.rt().now();
        let due: Vec<CompletedCommit> = {
            let mut state = self.state.borrow_mut();
            let (due, later) = std::mem::take(&mut state.completed_commits)
                .into_iter()
                .partition(|commit| {
                    commit.answered_at <= now
                        && before_poll.is_none_or(|poll| commit.made_during_poll < poll)
                });
            state.completed_commits = later;
            due
        };
        // Outside the borrow: a callback may call the client.
        for commit in due {
            self.cluster.rt().note(|| {
                format!(
                    "kafka: commit_async of {} by {}: {}",
                    join_offsets(&commit.offsets),
                    self.name,
                    describe_result(&commit.result)
                )
            });
            (commit.callback)(&commit.offsets, commit.result);
        }
    }

    /// The fetch position of an assigned partition: known, or the group's committed offset,
    /// or the reset policy's.
    fn resolve_position(&self, partition: &TopicPartition) -> i64 {
        if let Some(position) = self.state.borrow().positions.get(partition) {
            return *position;
        }
        let committed = self
            .group_id()
            .filter(|_| !self.is_scripted())
            .and_then(|group| self.cluster.committed_offset(group, partition));
        let position = match (committed, self.config.auto_offset_reset) {
            (Some(offset), _) => offset.0,
            (None, AutoOffsetReset::Earliest) => 0,
            (None, AutoOffsetReset::Latest) => self.end_offset_of(partition).0,
        };
        self.state
            .borrow_mut()
            .positions
            .insert(partition.clone(), position);
        position
    }

    fn end_offset_of(&self, partition: &TopicPartition) -> Offset {
        let scripted = self
            .state
            .borrow()
            .script
            .end_offsets
            .get(partition)
            .copied();
        scripted.unwrap_or_else(|| Offset(self.cluster.log_len(partition)))
    }

    /// Takes the available records of the assigned, unpaused, readable partitions.
    fn fetch(&self) -> Vec<Record> {
        let partitions: Vec<TopicPartition> = {
            let state = self.state.borrow();
            state
                .assignment
                .iter()
                .filter(|tp| !state.paused.contains(*tp))
                .cloned()
                .collect()
        };
        if partitions.is_empty() {
            return Vec::new();
        }
        let start = {
            let mut state = self.state.borrow_mut();
            state.fetch_rotation = state.fetch_rotation.wrapping_add(1);
            state.fetch_rotation % partitions.len()
        };
        let mut records = Vec::new();
        for index in 0..partitions.len() {
            let left = self.config.max_poll_records - records.len();
            if left == 0 {
                break;
            }
            let partition = &partitions[(start + index) % partitions.len()];
            if self
                .cluster
                .read_denial(&self.name, &partition.topic)
                .is_some()
            {
                continue;
            }
            let position = self.resolve_position(partition);
            let fetched = self.cluster.read(partition, position, left);
            if let Some(last) = fetched.last() {
                self.state
                    .borrow_mut()
                    .positions
                    .insert(partition.clone(), last.offset.0 + 1);
            }
            records.extend(fetched);
        }
        records
    }

    /// Whether a commit of `offsets` is accepted now, and why not.
    fn check_commit(&self, offsets: &Offsets) -> Result<(), KafkaError> {
        let checked = self.check_commit_now(offsets);
        if checked == Err(KafkaError::RebalanceInProgress) {
            self.state.borrow_mut().rebalance_in_progress_refusals += 1;
        }
        checked
    }

    fn check_commit_now(&self, offsets: &Offsets) -> Result<(), KafkaError> {
        let Some(group) = self.group_id() else {
            if self.is_scripted() {
                return Ok(());
            }
            return Err(invalid_group_id());
        };
        for partition in offsets.keys() {
            if self
                .cluster
                .read_denial(&self.name, &partition.topic)
                .is_some()
            {
                return Err(KafkaError::TopicAuthorization(partition.topic.to_string()));
            }
        }
        if !self.is_group_managed() {
            return Ok(());
        }
        let member = self.state.borrow().member.clone();
        self.cluster.check_commit(group, member.as_deref())
    }

    fn store_commit(&self, offsets: &Offsets) {
        let group = self.group_id().unwrap_or("");
        self.cluster.store_offsets(group, offsets);
        let mut state = self.state.borrow_mut();
        for (partition, offset) in offsets {
            let highest = state
                .highest_own_commits
                .entry(partition.clone())
                .or_insert(offset.0);
            *highest = (*highest).max(offset.0);
        }
    }

    /// The latest calls of the client's rebalance listener (at most [`LISTENER_CALLS_KEPT`]):
    /// when each began and, if it returned, when. A call in progress is a rebalance the client
    /// has not finished, however long its listener waits (for commits, say).
    pub fn listener_calls(&self) -> Vec<(Duration, Option<Duration>)> {
        self.state.borrow().listener_calls.clone()
    }

    /// The highest offset this client committed per partition (accepted by the group's
    /// coordinator; what others committed is not here).
    pub fn highest_own_commits(&self) -> BTreeMap<TopicPartition, i64> {
        self.state.borrow().highest_own_commits.clone()
    }

    /// Revokes (or reports lost) the owned partitions and leaves the group: what `unsubscribe`
    /// and `close` share.
    async fn revoke_and_leave(&self, first_error: &mut Option<KafkaError>) {
        let owned = self.assignment_now();
        let listener = self.listener();
        if self.is_group_managed() {
            let group = self
                .group_id()
                .expect("group-managed clients have a group")
                .to_string();
            let member = self.state.borrow().member.clone();
            let still_member = member.as_ref().is_some_and(|member| {
                self.cluster
                    .members(&group)
                    .iter()
                    .any(|view| &view.member_id == member)
            });
            if !owned.is_empty() {
                let (kind, outcome) = if still_member {
                    (ClientCall::OnRevoked, listener.on_revoked(self, owned))
                } else {
                    (ClientCall::OnLost, listener.on_lost(self, owned))
                };
                self.callback(kind, outcome, first_error).await;
            }
            if let Some(member) = member {
                self.cluster
                    .with_group(&group, self.config.protocol, |group, now, parts| {
                        group.remove_member(&member, now, parts)
                    });
                self.cluster.ring_all();
            }
        } else if self.is_scripted() && !owned.is_empty() {
            self.callback(
                ClientCall::OnRevoked,
                listener.on_revoked(self, owned),
                first_error,
            )
            .await;
        }
        let mut state = self.state.borrow_mut();
        state.member = None;
        state.generation = -1;
        state.subscription = None;
        state.assignment.clear();
        state.positions.clear();
        state.paused.clear();
    }

    fn check_assigned<'a>(
        &self,
        partitions: impl IntoIterator<Item = &'a TopicPartition>,
    ) -> Result<(), KafkaError> {
        let state = self.state.borrow();
        for partition in partitions {
            if !state.assignment.contains(partition) {
                return Err(KafkaError::IllegalState(format!(
                    "No current assignment for partition {partition}"
                )));
            }
        }
        Ok(())
    }

    // ----- the calls -----

    async fn subscribe_now(
        &self,
        subscription: Subscription,
        listener: Rc<dyn RebalanceListener>,
    ) -> Result<(), KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::Subscribe)?;
        let current = self.state.borrow().subscription.clone();
        match (&subscription, &current) {
            (Subscription::Manual(_), _) => {
                return Err(illegal("use assign for a manual subscription"))
            }
            (Subscription::Topics(topics), _) if topics.is_empty() => {
                let mut first_error = None;
                self.revoke_and_leave(&mut first_error).await;
                return first_error.map_or(Ok(()), Err);
            }
            (Subscription::Topics(_), Some(Subscription::Topics(_)))
            | (Subscription::Pattern(_), Some(Subscription::Pattern(_)))
            | (_, None) => {}
            _ => {
                return Err(illegal(
                    "Subscription to topics, partitions and pattern are mutually exclusive",
                ))
            }
        }
        match &subscription {
            Subscription::Topics(topics) => check_topic_names(topics)?,
            Subscription::Pattern(pattern) => {
                TopicPattern::parse(pattern).map_err(|error| {
                    KafkaError::Other(format!("PatternSyntaxException: {error}"))
                })?;
            }
            Subscription::Manual(_) => unreachable!("rejected above"),
        }
        let mut state = self.state.borrow_mut();
        state.subscription = Some(subscription);
        state.listener = Some(listener);
        // The group learns of a changed subscription on the next poll, as Kafka rejoins then.
        Ok(())
    }

    async fn unsubscribe_now(&self) -> Result<(), KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::Unsubscribe)?;
        let mut first_error = None;
        self.revoke_and_leave(&mut first_error).await;
        first_error.map_or(Ok(()), Err)
    }

    async fn poll_now(&self, timeout: Duration) -> Result<Vec<Record>, KafkaError> {
        self.scheduling_point().await;
        self.ensure_open()?;
        self.cluster.advance();
        let rt = self.cluster.rt().clone();
        let deadline = rt.now() + timeout;
        let poll_number = {
            let mut state = self.state.borrow_mut();
            state.polls += 1;
            state.polls
        };
        // MockConsumer's order: one scheduled task (its rebalances run with it), the wakeup,
        // the poll exception.
        self.run_next_poll_task();
        let mut first_error = None;
        self.scripted_rebalances(&mut first_error).await;
        self.take_wakeup()?;
        if let Some(error) = self.take_poll_exception() {
            return Err(error);
        }
        if let Some(error) = first_error {
            return Err(error);
        }
        if let Some(error) = self.cluster.take_call_fault(&self.name, ClientCall::Poll) {
            return Err(error);
        }
        {
            let state = self.state.borrow();
            if state.subscription.is_none() && state.assignment.is_empty() {
                return Err(illegal(
                    "Consumer is not subscribed to any topics or assigned any partitions",
                ));
            }
        }
        self.deliver_commit_callbacks(Some(poll_number));
        let latency = self.cluster.poll_latency(&self.name);
        if !latency.is_zero() {
            // A slow broker: changes in the cluster do not shorten the round trip, a wakeup does.
            self.wait_out(rt.now() + latency).await?;
        }
        if self.cluster.authentication_outage(&self.name) {
            return Err(KafkaError::Authentication);
        }
        self.mark_polling(true);
        let outcome = self.poll_rounds(deadline).await;
        self.mark_polling(false);
        outcome
    }

    async fn poll_rounds(&self, deadline: Duration) -> Result<Vec<Record>, KafkaError> {
        let rt = self.cluster.rt().clone();
        for _ in 0..MAX_POLL_ROUNDS {
            self.cluster.advance();
            let mut first_error = None;
            if self.is_group_managed() {
                self.group_duties(&mut first_error).await?;
            } else {
                self.scripted_rebalances(&mut first_error).await;
            }
            if let Some(error) = first_error {
                return Err(error);
            }
            self.ensure_open()?;
            let topics = self.read_topics();
            let assignment = self.state.borrow().assignment.clone();
            if let Some(error) =
                self.cluster
                    .poll_denial_error(self.id, &self.name, &topics, &assignment)
            {
                return Err(error);
            }
            self.take_wakeup()?;
            let records = self.fetch();
            if !records.is_empty() || rt.now() >= deadline {
                return Ok(records);
            }
            let wake = self
                .cluster
                .next_wake(&topics)
                .map_or(deadline, |at| at.min(deadline));
            self.wait_until(wake).await;
            self.ensure_open()?;
            self.take_wakeup()?;
        }
        Ok(Vec::new())
    }

    async fn position_now(&self, partition: TopicPartition) -> Result<Offset, KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::Position)?;
        self.take_wakeup()?;
        self.check_assigned([&partition])?;
        let known = self.state.borrow().positions.contains_key(&partition);
        if !known && self.group_id().is_some() && !self.is_scripted() {
            // Resolving needs the committed offset, which a READ denial refuses.
            self.await_answer(ClientCall::Position, None).await?;
            if self
                .cluster
                .read_denial(&self.name, &partition.topic)
                .is_some()
            {
                return Err(KafkaError::TopicAuthorization(partition.topic.to_string()));
            }
        }
        Ok(Offset(self.resolve_position(&partition)))
    }

    /// `commitSync`: first waits for the answers of the async commits sent before it (Java's
    /// client does since 3.6, which zio-kafka's `commitSync(emptyMap)` relies on) and runs
    /// their callbacks, then commits `offsets` and waits for the answer; all within `timeout`.
    async fn commit_sync_now(&self, offsets: Offsets, timeout: Duration) -> Result<(), KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::CommitSync)?;
        self.take_wakeup()?;
        let started = self.cluster.rt().now();
        if let Some(answered) = self.last_commit_answer() {
            if answered - started > timeout {
                self.wait_out(started + timeout).await?;
                self.deliver_commit_callbacks(None);
                return Err(KafkaError::Timeout);
            }
            self.wait_out(answered).await?;
        }
        self.deliver_commit_callbacks(None);
        if offsets.is_empty() {
            return Ok(());
        }
        let left = timeout.saturating_sub(self.cluster.rt().now() - started);
        self.await_answer(ClientCall::CommitSync, Some(left))
            .await?;
        self.check_commit(&offsets)?;
        self.store_commit(&offsets);
        Ok(())
    }

    async fn committed_now(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> Result<BTreeMap<TopicPartition, Option<Offset>>, KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::Committed)?;
        self.take_wakeup()?;
        self.await_answer(ClientCall::Committed, Some(timeout))
            .await?;
        let group = match (self.group_id(), self.is_scripted()) {
            (Some(group), _) => group.to_string(),
            (None, true) => String::new(),
            (None, false) => return Err(invalid_group_id()),
        };
        for partition in &partitions {
            if self
                .cluster
                .read_denial(&self.name, &partition.topic)
                .is_some()
            {
                return Err(KafkaError::TopicAuthorization(partition.topic.to_string()));
            }
        }
        Ok(partitions
            .into_iter()
            .map(|partition| {
                let offset = self.cluster.committed_offset(&group, &partition);
                (partition, offset)
            })
            .collect())
    }

    async fn end_offsets_now(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> Result<Offsets, KafkaError> {
        self.scheduling_point().await;
        self.enter(ClientCall::EndOffsets)?;
        self.take_wakeup()?;
        self.await_answer(ClientCall::EndOffsets, Some(timeout))
            .await?;
        Ok(partitions
            .into_iter()
            .map(|partition| {
                let end = self.end_offset_of(&partition);
                (partition, end)
            })
            .collect())
    }

    /// `close`: waits (at most `timeout`) for the answers of the async commits in flight and
    /// runs their callbacks, revokes and leaves the group, and closes.
    async fn close_now(&self, timeout: Duration) -> Result<(), KafkaError> {
        self.scheduling_point().await;
        if self.state.borrow().closed {
            return Ok(());
        }
        self.cluster.advance();
        let injected = self.cluster.take_call_fault(&self.name, ClientCall::Close);
        if let Some(answered) = self.last_commit_answer() {
            let until = answered.min(self.cluster.rt().now() + timeout);
            // A wakeup does not cut `close` short: Java's close ignores it.
            for _ in 0..MAX_POLL_ROUNDS {
                if self.cluster.rt().now() >= until {
                    break;
                }
                self.wait_until(until).await;
            }
        }
        self.deliver_commit_callbacks(None);
        let mut first_error = None;
        self.revoke_and_leave(&mut first_error).await;
        {
            let mut state = self.state.borrow_mut();
            state.closed = true;
            state.listener = None;
            state.script.clear_pending();
        }
        // A poll of another fiber waiting on this client ends (with IllegalState).
        self.doorbell.ring();
        match injected.or(first_error) {
            Some(error) => Err(error),
            None => Ok(()),
        }
    }
}

impl KafkaClient for FakeConsumer {
    fn subscribe(
        &self,
        subscription: Subscription,
        listener: Rc<dyn RebalanceListener>,
    ) -> KafkaFuture<'_, ()> {
        Box::pin(self.subscribe_now(subscription, listener))
    }

    fn unsubscribe(&self) -> KafkaFuture<'_, ()> {
        Box::pin(self.unsubscribe_now())
    }

    fn assign(&self, partitions: BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        self.enter(ClientCall::Assign)?;
        if self
            .state
            .borrow()
            .subscription
            .as_ref()
            .is_some_and(Subscription::is_group_managed)
        {
            return Err(illegal(
                "Subscription to topics, partitions and pattern are mutually exclusive",
            ));
        }
        check_topic_names(partitions.iter().map(|tp| &tp.topic))?;
        if partitions.is_empty() {
            self.state.borrow_mut().subscription = None;
            self.set_assignment(BTreeSet::new());
            return Ok(());
        }
        self.state.borrow_mut().subscription = Some(Subscription::Manual(partitions.clone()));
        self.set_assignment(partitions);
        Ok(())
    }

    fn poll(&self, timeout: Duration) -> KafkaFuture<'_, Vec<Record>> {
        Box::pin(async move {
            let polled = self.poll_now(timeout).await;
            self.cluster.rt().note(|| match &polled {
                Ok(records) if records.is_empty() => {
                    format!("kafka: poll by {}: no records", self.name)
                }
                Ok(records) => format!(
                    "kafka: poll by {}: {} records ({})",
                    self.name,
                    records.len(),
                    describe_records(records)
                ),
                Err(error) => format!("kafka: poll by {} failed: {error}", self.name),
            });
            polled
        })
    }

    fn pause(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        self.enter(ClientCall::Pause)?;
        self.check_assigned(partitions)?;
        self.state
            .borrow_mut()
            .paused
            .extend(partitions.iter().cloned());
        Ok(())
    }

    fn resume(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        self.enter(ClientCall::Resume)?;
        self.check_assigned(partitions)?;
        let mut state = self.state.borrow_mut();
        for partition in partitions {
            state.paused.remove(partition);
        }
        drop(state);
        // A poll of another fiber may now have records to return.
        self.doorbell.ring();
        Ok(())
    }

    fn paused(&self) -> Result<BTreeSet<TopicPartition>, KafkaError> {
        self.enter(ClientCall::Paused)?;
        Ok(self.state.borrow().paused.clone())
    }

    fn assignment(&self) -> Result<BTreeSet<TopicPartition>, KafkaError> {
        self.enter(ClientCall::Assignment)?;
        Ok(self.assignment_now())
    }

    fn subscription(&self) -> Result<Option<Subscription>, KafkaError> {
        self.ensure_open()?;
        Ok(self.state.borrow().subscription.clone())
    }

    fn position(&self, partition: TopicPartition) -> KafkaFuture<'_, Offset> {
        Box::pin(self.position_now(partition))
    }

    fn seek(&self, partition: TopicPartition, offset: Offset) -> Result<(), KafkaError> {
        self.enter(ClientCall::Seek)?;
        self.check_assigned([&partition])?;
        if offset.0 < 0 {
            return Err(KafkaError::Other(format!(
                "IllegalArgumentException: seek offset must not be negative, got {offset}"
            )));
        }
        self.state
            .borrow_mut()
            .positions
            .insert(partition, offset.0);
        Ok(())
    }

    /// `commitAsync`: like Java's `commitOffsetsAsync`, first runs the callbacks of earlier
    /// commits whose answer has come, then sends this one. The broker checks and applies the
    /// commit at once; its answer (the callback) comes after any commit latency.
    fn commit_async(&self, offsets: Offsets, callback: CommitCallback) -> Result<(), KafkaError> {
        self.ensure_open()?;
        self.cluster.advance();
        if let Some(error) = self
            .cluster
            .take_call_fault(&self.name, ClientCall::CommitAsyncThrows)
        {
            return Err(error);
        }
        self.deliver_commit_callbacks(None);
        let result = match self
            .cluster
            .take_call_fault(&self.name, ClientCall::CommitAsync)
        {
            Some(error) => Err(error),
            None => self.check_commit(&offsets),
        };
        if result.is_ok() {
            self.store_commit(&offsets);
        }
        let answered_at = self.cluster.rt().now()
            + self
                .cluster
                .call_latency(&self.name, ClientCall::CommitAsync);
        let mut state = self.state.borrow_mut();
        let made_during_poll = state.polls;
        state.completed_commits.push(CompletedCommit {
            made_during_poll,
            answered_at,
            offsets,
            result,
            callback,
        });
        Ok(())
    }

    fn commit_sync(&self, offsets: Offsets, timeout: Duration) -> KafkaFuture<'_, ()> {
        Box::pin(async move {
            let what = self
                .cluster
                .rt()
                .records_notes()
                .then(|| join_offsets(&offsets));
            let committed = self.commit_sync_now(offsets, timeout).await;
            if let Some(what) = what {
                self.cluster.rt().note(|| {
                    format!(
                        "kafka: commit_sync of {what} by {}: {}",
                        self.name,
                        describe_result(&committed)
                    )
                });
            }
            committed
        })
    }

    fn committed(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, BTreeMap<TopicPartition, Option<Offset>>> {
        Box::pin(self.committed_now(partitions, timeout))
    }

    fn end_offsets(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, Offsets> {
        Box::pin(self.end_offsets_now(partitions, timeout))
    }

    fn group_metadata(&self) -> Result<ConsumerGroupMetadata, KafkaError> {
        self.enter(ClientCall::GroupMetadata)?;
        let group = self.group_id().ok_or_else(invalid_group_id)?;
        let state = self.state.borrow();
        Ok(ConsumerGroupMetadata {
            group_id: group.into(),
            generation_id: state.generation,
            member_id: state.member.clone().unwrap_or_else(|| Rc::from("")),
            group_instance_id: None,
        })
    }

    fn close(&self, timeout: Duration) -> KafkaFuture<'_, ()> {
        Box::pin(self.close_now(timeout))
    }

    fn wakeup(&self) {
        let mut state = self.state.borrow_mut();
        if state.closed {
            return;
        }
        state.wakeup_pending = true;
        drop(state);
        self.doorbell.ring();
    }
}

/// Partitions in words, for trace notes: `topic0-0, topic0-1`.
fn join_partitions(partitions: &BTreeSet<TopicPartition>) -> String {
    partitions
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join(", ")
}

/// Offsets in words, for trace notes: `topic0-0@5, topic0-1@3`.
fn join_offsets(offsets: &Offsets) -> String {
    offsets
        .iter()
        .map(|(tp, offset)| format!("{tp}@{}", offset.0))
        .collect::<Vec<_>>()
        .join(", ")
}

/// Each partition of a poll's records with its first and last offset: `topic0-0@3..5`.
fn describe_records(records: &[Record]) -> String {
    let mut ranges: BTreeMap<String, (i64, i64)> = BTreeMap::new();
    for record in records {
        let offset = record.offset.0;
        ranges
            .entry(record.topic_partition().to_string())
            .and_modify(|range| {
                range.0 = range.0.min(offset);
                range.1 = range.1.max(offset);
            })
            .or_insert((offset, offset));
    }
    ranges
        .iter()
        .map(|(tp, (first, last))| format!("{tp}@{first}..{last}"))
        .collect::<Vec<_>>()
        .join(", ")
}

fn describe_result(result: &Result<(), KafkaError>) -> String {
    match result {
        Ok(()) => "ok".to_string(),
        Err(error) => format!("failed: {error}"),
    }
}
