//! The fake cluster: topics, partition logs, producers, ACLs, consumer groups, and the timeline
//! of scheduled changes.
//!
//! What it models: topics with a fixed number of partitions, each an append-only log whose
//! offsets start at 0; records appended now or at chosen virtual times, one by one or by a
//! steady producer; READ access per topic, for every client or for one; consumer groups (see
//! [`coordinator`](super::coordinator)) with clients and simulated peers as members; and the
//! faults of a [`FaultPlan`], each for every client or for one (by name).
//!
//! How time works: the cluster keeps a timeline of scheduled changes (appends, producer ticks,
//! peers joining and leaving, ACL changes, session timeouts) and applies them lazily, in time
//! order and at their own timestamps, whenever anybody looks at the cluster
//! ([`FakeCluster::advance`]). `max.poll.interval` expiries are implicit events of the same
//! timeline. So nothing runs in the background, no fiber polls in a loop, and a client waiting
//! in `poll` sleeps exactly until the next change that concerns it, or its timeout, or a ring of
//! its doorbell (a change made by another fiber: records produced now, a wakeup, a member
//! joining).
//!
//! Left out: replication, leaders and broker failures (a client sees those as call faults),
//! retention and compaction (logs start at offset 0 and keep everything), transactions, quotas,
//! topic deletion, partition-count changes of existing topics, and metadata refresh delays (a
//! topic created now is visible at once to pattern subscriptions).

use std::cell::RefCell;
use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use consumer::kafka::{Bytes, KafkaError, Offset, Offsets, Record, Subscription, TopicPartition};
use consumer::rt::{Promise, Rt};

use super::client::{ClientConfig, FakeConsumer};
use super::coordinator::{ClientDuty, ClientId, Group, MemberKind, RebalanceProtocol};
use super::faults::{
    AuthenticationOutage, CallFault, CallLatency, ClientCall, FaultPlan, FaultTimes, PeerAction,
    PollLatency, ReadAccess,
};
use consumer::pattern::TopicPattern;

/// The most timeline events one [`FakeCluster::advance`] applies: a bound against a producer
/// scheduled so densely that catching up would never end. Events beyond it stay pending and
/// are applied by the next advance.
const MAX_EVENTS_PER_ADVANCE: usize = 100_000;

/// The longest valid topic name (Kafka's limit).
const MAX_TOPIC_NAME_CHARS: usize = 249;

/// A steady producer: `count` records to `topic`, one every `interval` from `start`, spread
/// over the partitions round robin, with keys and values `"{key_prefix}{n}"`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ProducerSpec {
    pub topic: String,
    pub start: Duration,
    pub interval: Duration,
    pub count: u64,
    pub key_prefix: String,
}

/// A member of a group as tests see it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MemberView {
    pub member_id: Rc<str>,
    pub kind: MemberKind,
    pub owned: BTreeSet<TopicPartition>,
    pub generation: i32,
}

/// The fake Kafka cluster of one run. A cheap handle: clones share the cluster.
#[derive(Clone)]
pub struct FakeCluster {
    inner: Rc<ClusterInner>,
}

struct ClusterInner {
    rt: Rt,
    state: RefCell<ClusterState>,
}

/// An ACL change applied: when it was scheduled, the topic, the access, the client (every
/// client when `None`).
type AppliedAclChange = (Duration, Rc<str>, ReadAccess, Option<Rc<str>>);

#[derive(Default)]
struct ClusterState {
    /// ACL changes applied since the cluster last reported them in a recorded trace: when
    /// they were scheduled, the topic, the access, the client (all clients when `None`).
    applied_acl_changes: Vec<AppliedAclChange>,
    topics: BTreeMap<Rc<str>, Vec<Vec<StoredRecord>>>,
    /// Partitions per topic, kept up to date by `create_topic` (the only place topics change):
    /// the coordinator needs it at every poll.
    partition_counts: Rc<BTreeMap<Rc<str>, i32>>,
    timeline: BTreeMap<(Duration, u64), TimelineEvent>,
    next_event_seq: u64,
    producers: Vec<ProducerSpec>,
    /// READ denials by topic and client (`None`: every client).
    denied: BTreeMap<(Rc<str>, Option<Rc<str>>), Denial>,
    groups: BTreeMap<Rc<str>, Group>,
    doorbells: Vec<Rc<Doorbell>>,
    /// Every client made on the cluster, for the release at the end of a run.
    clients: Vec<std::rc::Weak<FakeConsumer>>,
    faults: ActiveFaults,
}

struct StoredRecord {
    key: Option<Bytes>,
    value: Option<Bytes>,
    timestamp: Duration,
}

/// A denied READ on a topic, and which clients have already been told (for
/// [`ReadAccess::DeniedThrownOnceThenSilent`]), and of which partitions (for
/// [`ReadAccess::DeniedThrownOncePerPartitionThenSilent`]).
struct Denial {
    mode: ReadAccess,
    reported_to: BTreeSet<ClientId>,
    reported_partitions: BTreeSet<(ClientId, i32)>,
}

#[derive(Default)]
struct ActiveFaults {
    /// Call faults with the firings left (`None`: always).
    call_faults: Vec<(CallFault, Option<u32>)>,
    authentication_outages: Vec<AuthenticationOutage>,
    poll_latency: Vec<PollLatency>,
    call_latency: Vec<CallLatency>,
}

#[derive(Clone, Debug)]
enum TimelineEvent {
    Append {
        partition: TopicPartition,
        key: Option<Bytes>,
        value: Option<Bytes>,
    },
    ProducerTick {
        producer: usize,
        sequence: u64,
    },
    Peer {
        group: Rc<str>,
        peer: Rc<str>,
        action: PeerAction,
    },
    Acl {
        topic: Rc<str>,
        access: ReadAccess,
        client: Option<Rc<str>>,
    },
    SessionTimeout {
        group: Rc<str>,
    },
}

impl TimelineEvent {
    /// The topic whose records this event appends, if it appends.
    fn appends_to<'a>(&'a self, producers: &'a [ProducerSpec]) -> Option<&'a str> {
        match self {
            TimelineEvent::Append { partition, .. } => Some(&partition.topic),
            TimelineEvent::ProducerTick { producer, .. } => Some(&producers[*producer].topic),
            _ => None,
        }
    }
}

/// Wakes a client waiting in `poll` when another fiber changes something it may care about.
pub(crate) struct Doorbell {
    rt: Rt,
    label: Rc<str>,
    current: RefCell<Option<Promise<(), ()>>>,
}

impl Doorbell {
    /// Wakes the waiter, if one waits now.
    pub(crate) fn ring(&self) {
        if let Some(promise) = self.current.borrow_mut().take() {
            promise.complete_now(Ok(()));
        }
    }

    /// A fresh promise to wait on until the next ring.
    pub(crate) fn arm(&self) -> Promise<(), ()> {
        let promise = Promise::new(&self.rt, self.label.clone());
        *self.current.borrow_mut() = Some(promise.clone());
        promise
    }

    /// Forgets the promise armed last (the wait ended another way).
    pub(crate) fn disarm(&self) {
        self.current.borrow_mut().take();
    }
}

/// Whether `name` is a valid topic name (Kafka's `Topic.validate`).
pub fn is_valid_topic_name(name: &str) -> bool {
    !name.is_empty()
        && name != "."
        && name != ".."
        && name.len() <= MAX_TOPIC_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

impl FakeCluster {
    /// An empty cluster on the run's runtime.
    pub fn new(rt: &Rt) -> FakeCluster {
        let cluster = FakeCluster {
            inner: Rc::new(ClusterInner {
                rt: rt.clone(),
                state: RefCell::new(ClusterState::default()),
            }),
        };
        // A run that never finished leaves clients unclosed, holding their users' callbacks,
        // and doorbells holding waiters' promises: dropped when the run is released.
        let releasing = Rc::downgrade(&cluster.inner);
        rt.at_release(move || {
            let Some(inner) = releasing.upgrade() else {
                return;
            };
            let clients = std::mem::take(&mut inner.state.borrow_mut().clients);
            for client in clients.iter().filter_map(std::rc::Weak::upgrade) {
                client.release();
            }
            let mut state = inner.state.borrow_mut();
            for doorbell in &state.doorbells {
                doorbell.current.borrow_mut().take();
            }
            state.timeline.clear();
            state.groups.clear();
        });
        cluster
    }

    /// Keeps a weak reference to a new client, for the release at the end of a run.
    pub(crate) fn adopt(&self, client: &Rc<FakeConsumer>) {
        self.inner
            .state
            .borrow_mut()
            .clients
            .push(Rc::downgrade(client));
    }

    /// The run's runtime.
    pub fn rt(&self) -> &Rt {
        &self.inner.rt
    }

    /// A new client of this cluster.
    pub fn client(&self, config: ClientConfig) -> Rc<FakeConsumer> {
        FakeConsumer::new(self.clone(), config)
    }

    /// Creates `name` with `partitions` partitions, or grows it to that many. Panics on an
    /// invalid name: a test or scenario bug.
    pub fn create_topic(&self, name: &str, partitions: i32) {
        assert!(is_valid_topic_name(name), "invalid topic name {name:?}");
        assert!(
            (1..=10_000).contains(&partitions),
            "a topic has between 1 and 10,000 partitions"
        );
        self.advance();
        {
            let mut state = self.inner.state.borrow_mut();
            let logs = state.topics.entry(Rc::from(name)).or_default();
            let grew = logs.len() < partitions as usize;
            while logs.len() < partitions as usize {
                logs.push(Vec::new());
            }
            let count = logs.len() as i32;
            Rc::make_mut(&mut state.partition_counts).insert(Rc::from(name), count);
            if grew {
                // Members reading the topic see new partitions: Kafka's metadata change rejoin.
                let now = self.inner.rt.now();
                let counts = state.partition_counts();
                for group in state.groups.values_mut() {
                    group.topic_changed(name, now, &counts);
                }
            }
        }
        self.ring_all();
    }

    /// Creates a consumer group with a protocol before any member joins (a group created by its
    /// first client takes the client's protocol; one created by a peer is eager).
    pub fn create_group(&self, group: &str, protocol: RebalanceProtocol) {
        self.inner
            .state
            .borrow_mut()
            .groups
            .entry(Rc::from(group))
            .or_insert_with(|| Group::new(Rc::from(group), protocol));
    }

    /// Appends a record now; returns its offset. The topic must exist.
    pub fn produce(&self, partition: &TopicPartition, key: &str, value: &str) -> Offset {
        self.advance();
        let offset = {
            let mut state = self.inner.state.borrow_mut();
            let now = self.inner.rt.now();
            state.append(
                partition,
                Some(Rc::from(key.as_bytes())),
                Some(Rc::from(value.as_bytes())),
                now,
            )
        };
        self.ring_all();
        offset
    }

    /// Appends a record at virtual time `at` (now if `at` has passed).
    pub fn produce_at(&self, at: Duration, partition: &TopicPartition, key: &str, value: &str) {
        self.schedule(
            at,
            TimelineEvent::Append {
                partition: partition.clone(),
                key: Some(Rc::from(key.as_bytes())),
                value: Some(Rc::from(value.as_bytes())),
            },
        );
    }

    /// Starts a steady producer.
    pub fn add_producer(&self, spec: ProducerSpec) {
        if spec.count == 0 {
            return;
        }
        let start = spec.start;
        let producer = {
            let mut state = self.inner.state.borrow_mut();
            state.producers.push(spec);
            state.producers.len() - 1
        };
        self.schedule(
            start,
            TimelineEvent::ProducerTick {
                producer,
                sequence: 0,
            },
        );
    }

    /// A simulated peer joins `group` now.
    pub fn peer_join(&self, group: &str, peer: &str) {
        self.advance();
        let now = self.inner.rt.now();
        self.inner
            .state
            .borrow_mut()
            .peer_change(group.into(), peer.into(), PeerAction::Join, now);
        self.ring_all();
    }

    /// A simulated peer leaves `group` now.
    pub fn peer_leave(&self, group: &str, peer: &str) {
        self.advance();
        let now = self.inner.rt.now();
        self.inner.state.borrow_mut().peer_change(
            group.into(),
            peer.into(),
            PeerAction::Leave,
            now,
        );
        self.ring_all();
    }

    /// The sessions of every client member of `group` time out now.
    pub fn expire_sessions(&self, group: &str) {
        self.advance();
        let now = self.inner.rt.now();
        self.inner.state.borrow_mut().expire_clients(group, now);
        self.ring_all();
    }

    /// Changes READ access to `topic` now, for every client.
    pub fn set_read_access(&self, topic: &str, access: ReadAccess) {
        self.advance();
        self.inner
            .state
            .borrow_mut()
            .set_access(Rc::from(topic), access, None);
        self.ring_all();
    }

    /// Changes READ access to `topic` now, for the client named `client` only.
    pub fn set_client_read_access(&self, topic: &str, access: ReadAccess, client: &str) {
        self.advance();
        self.inner
            .state
            .borrow_mut()
            .set_access(Rc::from(topic), access, Some(Rc::from(client)));
        self.ring_all();
    }

    /// Applies a fault plan: its timed changes join the timeline, its call faults, outages and
    /// latencies become active from their start times. Faults starting at or after the plan's
    /// storm end are dropped.
    pub fn apply_faults(&self, plan: &FaultPlan) {
        let ms = Duration::from_millis;
        for change in plan
            .acl_changes
            .iter()
            .filter(|c| plan.starts_before_storm_end(c.at_ms))
        {
            self.schedule(
                ms(change.at_ms),
                TimelineEvent::Acl {
                    topic: change.topic.as_str().into(),
                    access: change.access,
                    client: change.client.as_deref().map(Rc::from),
                },
            );
        }
        for change in plan
            .peer_changes
            .iter()
            .filter(|c| plan.starts_before_storm_end(c.at_ms))
        {
            self.schedule(
                ms(change.at_ms),
                TimelineEvent::Peer {
                    group: change.group.as_str().into(),
                    peer: change.peer.as_str().into(),
                    action: change.action,
                },
            );
        }
        for timeout in plan
            .session_timeouts
            .iter()
            .filter(|t| plan.starts_before_storm_end(t.at_ms))
        {
            self.schedule(
                ms(timeout.at_ms),
                TimelineEvent::SessionTimeout {
                    group: timeout.group.as_str().into(),
                },
            );
        }
        let mut state = self.inner.state.borrow_mut();
        let faults = &mut state.faults;
        for fault in plan
            .call_faults
            .iter()
            .filter(|f| plan.starts_before_storm_end(f.from_ms))
        {
            let remaining = match fault.times {
                FaultTimes::Once => Some(1),
                FaultTimes::Times(n) => Some(n),
                FaultTimes::Always => None,
            };
            faults.call_faults.push((fault.clone(), remaining));
        }
        faults.authentication_outages.extend(
            plan.authentication_outages
                .iter()
                .filter(|o| plan.starts_before_storm_end(o.from_ms))
                .cloned(),
        );
        faults.poll_latency.extend(
            plan.poll_latency
                .iter()
                .filter(|l| plan.starts_before_storm_end(l.from_ms))
                .cloned(),
        );
        faults.call_latency.extend(
            plan.call_latency
                .iter()
                .filter(|l| plan.starts_before_storm_end(l.from_ms))
                .cloned(),
        );
    }

    /// Applies every timeline change due by now. Every client call and cluster operation does
    /// this first, so nobody sees a stale cluster.
    pub fn advance(&self) {
        let now = self.inner.rt.now();
        let mut state = self.inner.state.borrow_mut();
        state.advance_to(now);
        if state.applied_acl_changes.is_empty() {
            return;
        }
        let applied = std::mem::take(&mut state.applied_acl_changes);
        drop(state);
        for (at, topic, access, client) in applied {
            self.inner.rt.note(|| {
                format!(
                    "kafka: ACL change scheduled at {}: READ on {topic} for {}: {access:?}",
                    crate::trace::format_virtual_time(at),
                    client.as_deref().unwrap_or("every client")
                )
            });
        }
    }

    /// The offset the next record appended to `partition` gets (0 for an unknown partition).
    pub fn end_offset(&self, partition: &TopicPartition) -> Offset {
        self.advance();
        Offset(self.inner.state.borrow().log_len(partition))
    }

    /// The committed offset of `partition` in `group`.
    pub fn committed_offset(&self, group: &str, partition: &TopicPartition) -> Option<Offset> {
        self.advance();
        let state = self.inner.state.borrow();
        state.groups.get(group)?.committed(partition)
    }

    /// The latest rebalances of `group` (see [`crate::kafka::coordinator::Group::rebalance_history`]):
    /// when each started and, if it did, completed. Read as the group stands, without applying
    /// the timeline's changes due by now, so that reading it changes nothing in a run.
    pub fn rebalance_history(&self, group: &str) -> Vec<(Duration, Option<Duration>)> {
        let state = self.inner.state.borrow();
        state
            .groups
            .get(group)
            .map(|group| group.rebalance_history.clone())
            .unwrap_or_default()
    }

    /// The members of `group`, by member id.
    pub fn members(&self, group: &str) -> Vec<MemberView> {
        self.advance();
        let state = self.inner.state.borrow();
        let Some(group) = state.groups.get(group) else {
            return Vec::new();
        };
        group
            .members
            .iter()
            .map(|(id, member)| MemberView {
                member_id: id.clone(),
                kind: member.kind.clone(),
                owned: member.owned.clone(),
                generation: member.generation,
            })
            .collect()
    }

    /// The last completed generation of `group` (0 before the first, or for no group).
    pub fn generation(&self, group: &str) -> i32 {
        self.advance();
        self.inner
            .state
            .borrow()
            .groups
            .get(group)
            .map_or(0, |group| group.generation)
    }

    /// Whether a rebalance of `group` is in progress.
    pub fn is_rebalancing(&self, group: &str) -> bool {
        self.advance();
        self.inner
            .state
            .borrow()
            .groups
            .get(group)
            .is_some_and(|group| group.rebalance_started.is_some())
    }

    /// The time of the next scheduled change, if any.
    pub fn next_change_at(&self) -> Option<Duration> {
        self.inner.state.borrow().next_wake(None)
    }

    fn schedule(&self, at: Duration, event: TimelineEvent) {
        {
            let mut state = self.inner.state.borrow_mut();
            let at = at.max(self.inner.rt.now());
            state.push_event(at, event);
        }
        self.advance();
        // A waiting poll computed its wake-up before this event existed.
        self.ring_all();
    }

    // ----- for the fake client -----

    pub(crate) fn register_client(&self) -> (ClientId, Rc<Doorbell>) {
        let mut state = self.inner.state.borrow_mut();
        let id = ClientId(state.doorbells.len() as u32);
        let doorbell = Rc::new(Doorbell {
            rt: self.inner.rt.clone(),
            label: format!("kafka:poll-doorbell:client{}", id.0).into(),
            current: RefCell::new(None),
        });
        state.doorbells.push(doorbell.clone());
        (id, doorbell)
    }

    pub(crate) fn ring_all(&self) {
        let doorbells = self.inner.state.borrow().doorbells.clone();
        for doorbell in doorbells {
            doorbell.ring();
        }
    }

    /// The topics a subscription reads now (a pattern: the existing topics it matches).
    pub(crate) fn resolve_topics(&self, subscription: &Subscription) -> BTreeSet<Rc<str>> {
        let state = self.inner.state.borrow();
        match subscription {
            Subscription::Topics(topics) => topics.clone(),
            Subscription::Pattern(pattern) => match TopicPattern::parse(pattern) {
                Ok(pattern) => state
                    .topics
                    .keys()
                    .filter(|topic| pattern.matches(topic))
                    .cloned()
                    .collect(),
                Err(_) => BTreeSet::new(),
            },
            Subscription::Manual(partitions) => {
                partitions.iter().map(|tp| tp.topic.clone()).collect()
            }
        }
    }

    pub(crate) fn with_group<T>(
        &self,
        group: &str,
        protocol: RebalanceProtocol,
        f: impl FnOnce(&mut Group, Duration, &BTreeMap<Rc<str>, i32>) -> T,
    ) -> T {
        let now = self.inner.rt.now();
        let mut state = self.inner.state.borrow_mut();
        let partitions = state.partition_counts();
        if !state.groups.contains_key(group) {
            state
                .groups
                .insert(Rc::from(group), Group::new(Rc::from(group), protocol));
        }
        let group = state.groups.get_mut(group).expect("the group exists now");
        f(group, now, &partitions)
    }

    pub(crate) fn group_duty(&self, group: &str, member: Option<&str>) -> ClientDuty {
        match self.inner.state.borrow().groups.get(group) {
            Some(group) => group.duty(member),
            None => ClientDuty::Join,
        }
    }

    pub(crate) fn check_commit(&self, group: &str, member: Option<&str>) -> Result<(), KafkaError> {
        match self.inner.state.borrow().groups.get(group) {
            Some(group) => group.check_commit(member),
            None => Err(KafkaError::CommitFailed),
        }
    }

    pub(crate) fn store_offsets(&self, group: &str, offsets: &Offsets) {
        self.with_group(group, RebalanceProtocol::EagerRange, |group, _, _| {
            group.store(offsets)
        });
    }

    pub(crate) fn log_len(&self, partition: &TopicPartition) -> i64 {
        self.inner.state.borrow().log_len(partition)
    }

    /// Makes sure `partition` exists (MockConsumer parity: it has no cluster to create topics).
    pub(crate) fn ensure_partition(&self, partition: &TopicPartition) {
        if self.log_len_checked(partition).is_none() {
            self.create_topic(&partition.topic, partition.partition + 1);
        }
    }

    fn log_len_checked(&self, partition: &TopicPartition) -> Option<i64> {
        let state = self.inner.state.borrow();
        let logs = state.topics.get(&partition.topic)?;
        logs.get(usize::try_from(partition.partition).ok()?)
            .map(|log| log.len() as i64)
    }

    /// Up to `max` records of `partition` from offset `from`.
    pub(crate) fn read(&self, partition: &TopicPartition, from: i64, max: usize) -> Vec<Record> {
        let state = self.inner.state.borrow();
        let Some(log) = state
            .topics
            .get(&partition.topic)
            .and_then(|logs| logs.get(usize::try_from(partition.partition).ok()?))
        else {
            return Vec::new();
        };
        let start = from.max(0) as usize;
        log.iter()
            .enumerate()
            .skip(start)
            .take(max)
            .map(|(offset, stored)| Record {
                topic: partition.topic.clone(),
                partition: partition.partition,
                offset: Offset(offset as i64),
                key: stored.key.clone(),
                value: stored.value.clone(),
                timestamp: stored.timestamp,
            })
            .collect()
    }

    /// How READ on `topic` is denied to the client named `client`, if it is: its own denial,
    /// else the one for every client.
    pub(crate) fn read_denial(&self, client: &str, topic: &str) -> Option<ReadAccess> {
        let state = self.inner.state.borrow();
        state
            .denial_key(client, topic)
            .and_then(|key| state.denied.get(&key))
            .map(|denial| denial.mode)
    }

    /// The error a poll by `client` (id and name) reading `topics`, with `assignment`, throws
    /// because of a READ denial, if any; marks thrown-once denials as reported to this client
    /// (or, per partition, the one partition this poll reports).
    pub(crate) fn poll_denial_error(
        &self,
        client: ClientId,
        name: &str,
        topics: &BTreeSet<Rc<str>>,
        assignment: &BTreeSet<TopicPartition>,
    ) -> Option<KafkaError> {
        let mut state = self.inner.state.borrow_mut();
        for topic in topics {
            let Some(key) = state.denial_key(name, topic) else {
                continue;
            };
            let denial = state.denied.get_mut(&key).expect("the key was just found");
            match denial.mode {
                ReadAccess::DeniedEveryPollThrows => {
                    return Some(KafkaError::TopicAuthorization(topic.to_string()))
                }
                ReadAccess::DeniedThrownOnceThenSilent if denial.reported_to.insert(client) => {
                    return Some(KafkaError::TopicAuthorization(topic.to_string()))
                }
                ReadAccess::DeniedThrownOncePerPartitionThenSilent => {
                    let unreported = assignment
                        .iter()
                        .filter(|tp| tp.topic == *topic)
                        .find(|tp| !denial.reported_partitions.contains(&(client, tp.partition)));
                    if let Some(tp) = unreported {
                        denial.reported_partitions.insert((client, tp.partition));
                        return Some(KafkaError::TopicAuthorization(topic.to_string()));
                    }
                }
                _ => {}
            }
        }
        None
    }

    /// The injected failure of this call by the client named `client` now, if a call fault
    /// that targets it fires (it is counted).
    pub(crate) fn take_call_fault(&self, client: &str, call: ClientCall) -> Option<KafkaError> {
        let now_ms = self.inner.rt.now().as_millis() as u64;
        let mut state = self.inner.state.borrow_mut();
        let (fault, remaining) =
            state
                .faults
                .call_faults
                .iter_mut()
                .find(|(fault, remaining)| {
                    fault.call == call
                        && fault.from_ms <= now_ms
                        && *remaining != Some(0)
                        && targets(&fault.client, client)
                })?;
        if let Some(left) = remaining {
            *left -= 1;
        }
        Some(fault.error.to_kafka_error())
    }

    /// Whether an authentication outage of the client named `client` is on now.
    pub(crate) fn authentication_outage(&self, client: &str) -> bool {
        let now_ms = self.inner.rt.now().as_millis() as u64;
        self.inner
            .state
            .borrow()
            .faults
            .authentication_outages
            .iter()
            .filter(|o| targets(&o.client, client))
            .any(|o| o.from_ms <= now_ms && o.until_ms.is_none_or(|until| now_ms < until))
    }

    /// The extra latency of a poll of the client named `client` starting now.
    pub(crate) fn poll_latency(&self, client: &str) -> Duration {
        let now_ms = self.inner.rt.now().as_millis() as u64;
        let total_ms: u64 = self
            .inner
            .state
            .borrow()
            .faults
            .poll_latency
            .iter()
            .filter(|l| targets(&l.client, client))
            .filter(|l| l.from_ms <= now_ms && l.until_ms.is_none_or(|until| now_ms < until))
            .map(|l| l.latency_ms)
            .sum();
        Duration::from_millis(total_ms)
    }

    /// How long the broker takes to answer a call of kind `call` that the client named
    /// `client` makes now.
    pub(crate) fn call_latency(&self, client: &str, call: ClientCall) -> Duration {
        let now_ms = self.inner.rt.now().as_millis() as u64;
        let total_ms: u64 = self
            .inner
            .state
            .borrow()
            .faults
            .call_latency
            .iter()
            .filter(|l| l.call == call && targets(&l.client, client))
            .filter(|l| l.from_ms <= now_ms && l.until_ms.is_none_or(|until| now_ms < until))
            .map(|l| l.latency_ms)
            .sum();
        Duration::from_millis(total_ms)
    }

    /// When a client reading `topics` should next look at the cluster: the next change that may
    /// concern it (appends to other topics do not).
    pub(crate) fn next_wake(&self, topics: &BTreeSet<Rc<str>>) -> Option<Duration> {
        self.inner.state.borrow().next_wake(Some(topics))
    }
}

impl ClusterState {
    fn partition_counts(&self) -> Rc<BTreeMap<Rc<str>, i32>> {
        self.partition_counts.clone()
    }

    fn log_len(&self, partition: &TopicPartition) -> i64 {
        self.topics
            .get(&partition.topic)
            .and_then(|logs| logs.get(usize::try_from(partition.partition).ok()?))
            .map_or(0, |log| log.len() as i64)
    }

    fn push_event(&mut self, at: Duration, event: TimelineEvent) {
        self.next_event_seq += 1;
        self.timeline.insert((at, self.next_event_seq), event);
    }

    fn append(
        &mut self,
        partition: &TopicPartition,
        key: Option<Bytes>,
        value: Option<Bytes>,
        at: Duration,
    ) -> Offset {
        let log = self
            .topics
            .get_mut(&partition.topic)
            .and_then(|logs| logs.get_mut(usize::try_from(partition.partition).ok()?))
            .unwrap_or_else(|| panic!("produce to {partition}, which does not exist"));
        log.push(StoredRecord {
            key,
            value,
            timestamp: at,
        });
        Offset(log.len() as i64 - 1)
    }

    /// Allowing a topic for every client lifts all its denials; for one client, that
    /// client's own.
    fn set_access(&mut self, topic: Rc<str>, access: ReadAccess, client: Option<Rc<str>>) {
        match (access, client) {
            (ReadAccess::Allowed, None) => self.denied.retain(|(denied, _), _| *denied != topic),
            (ReadAccess::Allowed, Some(client)) => {
                self.denied.remove(&(topic, Some(client)));
            }
            (mode, client) => {
                self.denied.insert(
                    (topic, client),
                    Denial {
                        mode,
                        reported_to: BTreeSet::new(),
                        reported_partitions: BTreeSet::new(),
                    },
                );
            }
        }
    }

    /// The key of the denial that applies to the client named `client` reading `topic`: its
    /// own, else the one for every client.
    fn denial_key(&self, client: &str, topic: &str) -> Option<(Rc<str>, Option<Rc<str>>)> {
        // Most runs deny nothing: no key to build then.
        if self.denied.is_empty() {
            return None;
        }
        let own = (Rc::from(topic), Some(Rc::from(client)));
        if self.denied.contains_key(&own) {
            return Some(own);
        }
        let all = (Rc::from(topic), None);
        self.denied.contains_key(&all).then_some(all)
    }

    fn peer_change(&mut self, group: Rc<str>, peer: Rc<str>, action: PeerAction, at: Duration) {
        let partitions = self.partition_counts();
        let group = self
            .groups
            .entry(group.clone())
            .or_insert_with(|| Group::new(group, RebalanceProtocol::EagerRange));
        match (action, group.peer_member(&peer)) {
            (PeerAction::Join, None) => {
                group.add_member(
                    MemberKind::Peer(peer),
                    BTreeSet::new(),
                    None,
                    at,
                    &partitions,
                );
            }
            (PeerAction::Leave, Some(member)) => group.remove_member(&member, at, &partitions),
            // Joining twice or leaving without having joined changes nothing.
            _ => {}
        }
    }

    fn expire_clients(&mut self, group: &str, at: Duration) {
        let partitions = self.partition_counts();
        let Some(group) = self.groups.get_mut(group) else {
            return;
        };
        let clients: Vec<Rc<str>> = group
            .members
            .iter()
            .filter(|(_, member)| matches!(member.kind, MemberKind::Client(_)))
            .map(|(id, _)| id.clone())
            .collect();
        for member in clients {
            group.remove_member(&member, at, &partitions);
        }
    }

    /// The next timeline change (or poll expiry) that concerns a client reading `topics`, or any
    /// change when `topics` is `None`.
    fn next_wake(&self, topics: Option<&BTreeSet<Rc<str>>>) -> Option<Duration> {
        let scheduled = self
            .timeline
            .iter()
            .find(
                |(_, event)| match (topics, event.appends_to(&self.producers)) {
                    (Some(topics), Some(topic)) => topics.contains(topic),
                    _ => true,
                },
            )
            .map(|((at, _), _)| *at);
        let expiry = self
            .groups
            .values()
            .filter_map(|group| group.next_poll_expiry().map(|(at, _)| at))
            .min();
        match (scheduled, expiry) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }

    fn advance_to(&mut self, now: Duration) {
        for _ in 0..MAX_EVENTS_PER_ADVANCE {
            let scheduled = self
                .timeline
                .first_key_value()
                .map(|(key, _)| *key)
                .filter(|(at, _)| *at <= now);
            let expiry = self
                .groups
                .iter()
                .filter_map(|(id, group)| {
                    group
                        .next_poll_expiry()
                        .map(|(at, member)| (at, id.clone(), member))
                })
                .min()
                .filter(|(at, _, _)| *at <= now);
            match (scheduled, expiry) {
                (None, None) => return,
                // A poll expiry strictly before the next scheduled change comes first.
                (scheduled, Some((at, group, member)))
                    if scheduled.is_none_or(|(next, _)| at < next) =>
                {
                    let partitions = self.partition_counts();
                    if let Some(group) = self.groups.get_mut(&group) {
                        group.remove_member(&member, at, &partitions);
                    }
                }
                (Some(key), _) => {
                    let event = self.timeline.remove(&key).expect("key just read");
                    self.apply(key.0, event);
                }
                (None, Some(_)) => unreachable!("handled by the expiry arm"),
            }
        }
    }

    fn apply(&mut self, at: Duration, event: TimelineEvent) {
        match event {
            TimelineEvent::Append {
                partition,
                key,
                value,
            } => {
                self.append(&partition, key, value, at);
            }
            TimelineEvent::ProducerTick { producer, sequence } => {
                let spec = self.producers[producer].clone();
                let partitions = self.topics.get(spec.topic.as_str()).map_or(0, Vec::len);
                assert!(
                    partitions > 0,
                    "producer to {}, which does not exist",
                    spec.topic
                );
                let partition =
                    TopicPartition::new(spec.topic.as_str(), (sequence % partitions as u64) as i32);
                let text: Bytes = Rc::from(format!("{}{sequence}", spec.key_prefix).as_bytes());
                self.append(&partition, Some(text.clone()), Some(text), at);
                if sequence + 1 < spec.count {
                    self.push_event(
                        at + spec.interval,
                        TimelineEvent::ProducerTick {
                            producer,
                            sequence: sequence + 1,
                        },
                    );
                }
            }
            TimelineEvent::Peer {
                group,
                peer,
                action,
            } => self.peer_change(group, peer, action, at),
            TimelineEvent::Acl {
                topic,
                access,
                client,
            } => {
                self.applied_acl_changes
                    .push((at, topic.clone(), access, client.clone()));
                self.set_access(topic, access, client)
            }
            TimelineEvent::SessionTimeout { group } => self.expire_clients(&group, at),
        }
    }
}

/// Makes a `KafkaError` for a topic that does not pass validation.
pub(crate) fn check_topic_names<'a>(
    topics: impl IntoIterator<Item = &'a Rc<str>>,
) -> Result<(), KafkaError> {
    for topic in topics {
        if !is_valid_topic_name(topic) {
            return Err(KafkaError::InvalidTopic);
        }
    }
    Ok(())
}

/// Whether a fault that targets `target` (`None`: every client) concerns the client named
/// `client`.
fn targets(target: &Option<String>, client: &str) -> bool {
    target.as_deref().is_none_or(|target| target == client)
}
