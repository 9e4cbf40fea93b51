//! Fault plans: what goes wrong in the fake cluster, and when.
//!
//! A [`FaultPlan`] is plain, serializable data (TOML through serde, so that a fixture can carry
//! it), applied to a cluster with [`FakeCluster::apply_faults`](super::FakeCluster::apply_faults).
//! It models the faults seen in the field around zio-kafka's hang:
//! - per-topic ACL changes at virtual times, with the three ways a denied READ shows up
//!   ([`ReadAccess`]), and authentication outages on poll;
//! - any client call failing once, N times or always with a chosen error ([`CallFault`]),
//!   including the listener's callbacks (so that `poll`, `unsubscribe` or `close` rethrows a
//!   callback's failure), a `commit_async` that throws, and the application's manual offset
//!   retrieval;
//! - latency of calls that wait for the broker, commits above all ([`CallLatency`]);
//! - poll latency, peers joining and leaving, session timeouts (partitions lost);
//! - a storm end: a fault that would start at or after it never starts, so that a run can check
//!   that the consumer still terminates once the weather is calm. Faults already started go on
//!   (an ACL denial stays until a later change allows the topic again).
//!
//! [`FaultPlan::swarm`] draws a plan from a seed, swarm style (Groce et al., ISSTA 2012): each
//! seed first chooses which kinds of fault are on and how stormy the run is, then draws the
//! faults, so that some runs are calm and some are storms of one or two kinds.
//!
//! [`FaultPlan::swarm_group`] draws the faults of a group of full consumers on top of that, from
//! a stream of its own, so that `swarm`'s draws (and the plans old fixtures embed) stay as they
//! were.
//!
//! A fault that concerns clients targets one client by name (`client = "app-2"`, see
//! `ClientConfig::with_name`) or, without `client`, every client of the cluster.
//!
//! Times are integer milliseconds of virtual time (`*_ms` fields), which keeps the TOML readable.
//! Left out: broker crashes and network partitions between client and broker (the client's view
//! of them is modelled by call faults, latencies and session timeouts).

use std::time::Duration;

use consumer::kafka::KafkaError;
use rand_chacha::ChaCha8Rng;
use rand_core::{RngCore, SeedableRng};
use serde::{Deserialize, Serialize};

/// Everything that goes wrong in one run. The default plan is calm: no fault at all.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultPlan {
    /// No fault starts at or after this virtual time; `None`: faults may start at any time.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub storm_end_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub acl_changes: Vec<AclChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub authentication_outages: Vec<AuthenticationOutage>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_faults: Vec<CallFault>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub poll_latency: Vec<PollLatency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub call_latency: Vec<CallLatency>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub peer_changes: Vec<PeerChange>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub session_timeouts: Vec<SessionTimeout>,
}

/// READ access to a topic changes at `at_ms`, for one client or (without `client`) for all.
/// A client is denied by its own denial if it has one, else by the one for all; allowing the
/// topic for all lifts every denial of it, for one client only that client's.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AclChange {
    pub at_ms: u64,
    pub topic: String,
    pub access: ReadAccess,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Whether a topic may be read, and if not, how the denial shows up in the client. In every
/// denied mode no records of the topic are returned, and `committed` and commits of its
/// partitions fail with `TopicAuthorization` (the broker refuses OffsetFetch and OffsetCommit
/// without READ).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReadAccess {
    Allowed,
    /// Every poll throws `TopicAuthorization` (zio-kafka #1705).
    DeniedEveryPollThrows,
    /// Poll silently returns nothing for the topic while `committed` throws (zio-kafka #1713).
    DeniedSilentPollCommittedThrows,
    /// The first poll after the denial throws, later polls are silent (librdkafka, seen in
    /// confluent-kafka-python #1461).
    DeniedThrownOnceThenSilent,
    /// What librdkafka does, measured in real mode: a poll throws once for each assigned
    /// partition of the topic (one partition per poll), later polls are silent while the denial
    /// lasts (librdkafka reports a Fetch's TOPIC_AUTHORIZATION_FAILED once per partition until
    /// a fetch of it succeeds: `rdkafka_fetcher.c`, `rktp_last_error`).
    DeniedThrownOncePerPartitionThenSilent,
}

/// Every poll in `[from_ms, until_ms)` of one client (or all) fails with `Authentication`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuthenticationOutage {
    pub from_ms: u64,
    /// `None`: the outage never ends.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A call of one client (or of any) that fails with `error`, from `from_ms` on, `times` times
/// (counted over the clients it targets).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallFault {
    pub call: ClientCall,
    pub error: InjectedError,
    #[serde(default)]
    pub from_ms: u64,
    pub times: FaultTimes,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// How often a [`CallFault`] fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultTimes {
    Once,
    /// The next `n` calls.
    Times(u32),
    Always,
}

/// The calls of `KafkaClient` a [`CallFault`] can target.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClientCall {
    Subscribe,
    Unsubscribe,
    Assign,
    Poll,
    Pause,
    Resume,
    Paused,
    Assignment,
    Position,
    Seek,
    /// The commit is accepted and its callback later receives the error.
    CommitAsync,
    CommitSync,
    Committed,
    EndOffsets,
    GroupMetadata,
    /// The client is closed all the same, then the call fails, as Java's `close` throws after
    /// releasing its resources.
    Close,
    /// `commit_async` itself throws (the commit is not sent, no callback runs), as the Java
    /// call throws a `KafkaException` it cannot hand to the callback.
    CommitAsyncThrows,
    /// The listener's `on_revoked` fails after it ran, as a user listener that throws: the
    /// client completes the rebalance and then the `poll`, `unsubscribe` or `close` that ran
    /// the callback throws the error (KAFKA-4600).
    OnRevoked,
    /// The listener's `on_assigned` fails after it ran (see `OnRevoked`).
    OnAssigned,
    /// The listener's `on_lost` fails after it ran (see `OnRevoked`).
    OnLost,
    /// The application's lookup of start offsets for a manual offset retrieval
    /// (`FakeConsumer::retrieve_offsets`, zio-kafka's `OffsetRetrieval.Manual.getOffsets`).
    OffsetRetrieval,
}

/// A serializable mirror of [`KafkaError`] (the port crate does not depend on serde).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum InjectedError {
    TopicAuthorization(String),
    GroupAuthorization,
    Authentication,
    RebalanceInProgress,
    CommitFailed,
    IllegalState(String),
    Wakeup,
    InvalidTopic,
    Timeout,
    Other(String),
}

impl InjectedError {
    /// The client error this stands for.
    pub fn to_kafka_error(&self) -> KafkaError {
        match self {
            InjectedError::TopicAuthorization(topic) => {
                KafkaError::TopicAuthorization(topic.clone())
            }
            InjectedError::GroupAuthorization => KafkaError::GroupAuthorization,
            InjectedError::Authentication => KafkaError::Authentication,
            InjectedError::RebalanceInProgress => KafkaError::RebalanceInProgress,
            InjectedError::CommitFailed => KafkaError::CommitFailed,
            InjectedError::IllegalState(text) => KafkaError::IllegalState(text.clone()),
            InjectedError::Wakeup => KafkaError::Wakeup,
            InjectedError::InvalidTopic => KafkaError::InvalidTopic,
            InjectedError::Timeout => KafkaError::Timeout,
            InjectedError::Other(text) => KafkaError::Other(text.clone()),
        }
    }
}

/// Each poll in `[from_ms, until_ms)` of one client (or all) takes `latency_ms` longer before
/// it looks for records; a latency above the poll's timeout makes the poll overrun it, as a slow
/// broker does.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PollLatency {
    pub from_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Each call of kind `call` made in `[from_ms, until_ms)` by one client (or any) waits
/// `latency_ms` for the broker's answer. For `commit_async` the commit is sent at once and its
/// answer (the callback, in a poll or `commit_sync` after it) comes `latency_ms` later; a
/// blocking call (`commit_sync`, `committed`, `position`, `end_offsets`) waits, cut short by
/// `wakeup` or by its own timeout (`Timeout`). `commit_sync` and `close` also wait for the
/// answers of the async commits sent before them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CallLatency {
    pub call: ClientCall,
    pub from_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub until_ms: Option<u64>,
    pub latency_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// A simulated peer joins or leaves a consumer group at `at_ms`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PeerChange {
    pub at_ms: u64,
    pub group: String,
    pub peer: String,
    pub action: PeerAction,
}

/// What a peer does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PeerAction {
    Join,
    Leave,
}

/// At `at_ms` the coordinator of `group` stops hearing from every client member (their session
/// times out): they are expelled, their partitions go to the others, and each client learns it
/// on its next poll (`on_lost`) and rejoins.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionTimeout {
    pub at_ms: u64,
    pub group: String,
}

/// What a swarm-drawn plan may refer to.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SwarmSpace {
    /// Topics the ACL changes may target.
    pub topics: Vec<String>,
    /// The consumer group peers join and whose session times out.
    pub group: String,
    /// Faults start before this virtual time, which is also the storm end.
    pub horizon: Duration,
}

/// How stormy a swarm-drawn run is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Weather {
    /// No fault at all.
    Calm,
    /// A few faults of the kinds that are on.
    Breezy,
    /// Many faults of the kinds that are on.
    Stormy,
}

impl Weather {
    /// The most faults of one kind.
    fn max_per_kind(self) -> u64 {
        match self {
            Weather::Calm => 0,
            Weather::Breezy => 2,
            Weather::Stormy => 6,
        }
    }
}

impl FaultPlan {
    /// A plan with no fault.
    pub fn calm() -> FaultPlan {
        FaultPlan::default()
    }

    /// Whether the plan has no fault and no storm end (serde skips such a plan).
    pub fn is_calm(&self) -> bool {
        *self == FaultPlan::default()
    }

    /// Parses a plan from TOML.
    pub fn from_toml(text: &str) -> Result<FaultPlan, String> {
        toml::from_str(text).map_err(|error| format!("invalid fault plan: {error}"))
    }

    /// The plan as TOML.
    pub fn to_toml(&self) -> String {
        toml::to_string(self).expect("a fault plan always serializes")
    }

    /// The storm end as a duration.
    pub fn storm_end(&self) -> Option<Duration> {
        self.storm_end_ms.map(Duration::from_millis)
    }

    /// Whether a fault starting at `at_ms` may start under this plan's storm end.
    pub fn starts_before_storm_end(&self, at_ms: u64) -> bool {
        self.storm_end_ms.is_none_or(|end| at_ms < end)
    }

    /// Adds every fault of `other` to this plan (its storm end is left as it is).
    pub fn extend(&mut self, other: &FaultPlan) {
        self.acl_changes.extend(other.acl_changes.iter().cloned());
        self.authentication_outages
            .extend(other.authentication_outages.iter().cloned());
        self.call_faults.extend(other.call_faults.iter().cloned());
        self.poll_latency.extend(other.poll_latency.iter().cloned());
        self.call_latency.extend(other.call_latency.iter().cloned());
        self.peer_changes.extend(other.peer_changes.iter().cloned());
        self.session_timeouts
            .extend(other.session_timeouts.iter().cloned());
    }

    /// From when on no fault of the plan is in effect any more: every denial lifted, every
    /// outage and latency over, every peer change and session timeout past; `None` when some
    /// fault never ends (a denial never lifted, an outage or a latency without an end, a call
    /// that fails `Always`). A call fault that fails the next `n` calls is counted at its
    /// start: when its calls come is the consumer's doing, and what a failed call does (a
    /// failed consumption, a retried commit) shows in what the consumer observed.
    pub fn calm_from(&self) -> Option<Duration> {
        let mut calm_ms: u64 = 0;
        // Denials in force, as the cluster applies them: a client's own denial, else the one
        // for all; allowing a topic for all lifts every denial of it.
        let mut changes: Vec<&AclChange> = self.acl_changes.iter().collect();
        changes.sort_by_key(|change| change.at_ms);
        let mut denied: Vec<(&str, Option<&str>)> = Vec::new();
        for change in changes {
            let key = (change.topic.as_str(), change.client.as_deref());
            calm_ms = calm_ms.max(change.at_ms);
            if change.access == ReadAccess::Allowed {
                denied.retain(|&(topic, client)| {
                    topic != key.0 || (key.1.is_some() && client != key.1)
                });
            } else if !denied.contains(&key) {
                denied.push(key);
            }
        }
        if !denied.is_empty() {
            return None;
        }
        for outage in &self.authentication_outages {
            calm_ms = calm_ms.max(outage.until_ms?);
        }
        for fault in &self.call_faults {
            if fault.times == FaultTimes::Always {
                return None;
            }
            calm_ms = calm_ms.max(fault.from_ms);
        }
        for latency in &self.poll_latency {
            calm_ms = calm_ms.max(latency.until_ms?);
        }
        for latency in &self.call_latency {
            calm_ms = calm_ms.max(latency.until_ms?);
        }
        for change in &self.peer_changes {
            calm_ms = calm_ms.max(change.at_ms);
        }
        for timeout in &self.session_timeouts {
            calm_ms = calm_ms.max(timeout.at_ms);
        }
        Some(Duration::from_millis(calm_ms))
    }

    /// The number of faults in the plan.
    pub fn fault_count(&self) -> usize {
        self.acl_changes.len()
            + self.authentication_outages.len()
            + self.call_faults.len()
            + self.poll_latency.len()
            + self.call_latency.len()
            + self.peer_changes.len()
            + self.session_timeouts.len()
    }

    /// Draws a plan from `seed`, swarm style: the seed picks the weather and which fault kinds
    /// are on, then the faults of each kind that is on. Same seed and space, same plan.
    pub fn swarm(seed: u64, space: &SwarmSpace) -> FaultPlan {
        let mut draw = Draw(ChaCha8Rng::seed_from_u64(seed ^ 0x6b61_666b_615f_666c));
        let weather = match draw.below(4) {
            0 => Weather::Calm,
            1 | 2 => Weather::Breezy,
            _ => Weather::Stormy,
        };
        let horizon_ms = (space.horizon.as_millis() as u64).max(1);
        let mut plan = FaultPlan {
            storm_end_ms: Some(horizon_ms),
            ..FaultPlan::default()
        };
        if weather == Weather::Calm {
            return plan;
        }
        // One coin per kind, drawn in a fixed order so that adding a kind later only appends
        // draws; a run with every kind off is calm whatever its weather.
        let kinds_on: [bool; 6] = std::array::from_fn(|_| draw.below(2) == 0);
        let max = weather.max_per_kind();
        if kinds_on[0] && !space.topics.is_empty() {
            for _ in 0..draw.between(1, max) {
                let topic = space.topics[draw.below(space.topics.len() as u64) as usize].clone();
                let at_ms = draw.below(horizon_ms);
                let access = match draw.below(3) {
                    0 => ReadAccess::DeniedEveryPollThrows,
                    1 => ReadAccess::DeniedSilentPollCommittedThrows,
                    _ => ReadAccess::DeniedThrownOnceThenSilent,
                };
                plan.acl_changes.push(AclChange {
                    at_ms,
                    topic: topic.clone(),
                    access,
                    client: None,
                });
                // Half the denials are lifted again before the storm ends.
                if draw.below(2) == 0 && at_ms + 1 < horizon_ms {
                    plan.acl_changes.push(AclChange {
                        at_ms: draw.between(at_ms + 1, horizon_ms - 1),
                        topic,
                        access: ReadAccess::Allowed,
                        client: None,
                    });
                }
            }
        }
        if kinds_on[1] {
            for _ in 0..draw.between(1, max) {
                let from_ms = draw.below(horizon_ms);
                let until_ms = Some(from_ms + draw.between(1, 3_000));
                plan.authentication_outages.push(AuthenticationOutage {
                    from_ms,
                    until_ms,
                    client: None,
                });
            }
        }
        if kinds_on[2] {
            for _ in 0..draw.between(1, max) {
                plan.call_faults.push(draw.call_fault(horizon_ms));
            }
        }
        if kinds_on[3] {
            for _ in 0..draw.between(1, max) {
                let from_ms = draw.below(horizon_ms);
                plan.poll_latency.push(PollLatency {
                    from_ms,
                    until_ms: Some(from_ms + draw.between(1, 5_000)),
                    latency_ms: draw.between(1, 500),
                    client: None,
                });
            }
        }
        if kinds_on[4] {
            for index in 0..draw.between(1, max) {
                let peer = format!("peer{index}");
                let at_ms = draw.below(horizon_ms);
                plan.peer_changes.push(PeerChange {
                    at_ms,
                    group: space.group.clone(),
                    peer: peer.clone(),
                    action: PeerAction::Join,
                });
                if draw.below(2) == 0 && at_ms + 1 < horizon_ms {
                    plan.peer_changes.push(PeerChange {
                        at_ms: draw.between(at_ms + 1, horizon_ms - 1),
                        group: space.group.clone(),
                        peer,
                        action: PeerAction::Leave,
                    });
                }
            }
        }
        if kinds_on[5] {
            for _ in 0..draw.between(1, max) {
                plan.session_timeouts.push(SessionTimeout {
                    at_ms: draw.below(horizon_ms),
                    group: space.group.clone(),
                });
            }
        }
        plan
    }
}

/// What a group-wide swarm draw may refer to, beyond [`SwarmSpace`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct GroupSwarmSpace {
    /// The names of the group's clients, which faults may target one at a time.
    pub clients: Vec<String>,
}

impl FaultPlan {
    /// [`FaultPlan::swarm`]'s plan, unchanged, plus the faults of a group of full consumers
    /// drawn from a stream of their own, swarm style again (their own weather and kinds):
    /// per-client READ denials, the call faults that make a handled command or a rebalance
    /// fail (a listener callback failing, so that `unsubscribe` or `poll` rethrows it;
    /// `commit_sync` failing inside `on_revoked`; `commit_async` throwing; a manual offset
    /// retrieval failing; `unsubscribe` and `subscribe` throwing), each for one client or all,
    /// and commit latency.
    pub fn swarm_group(seed: u64, space: &SwarmSpace, group: &GroupSwarmSpace) -> FaultPlan {
        let mut plan = FaultPlan::swarm(seed, space);
        let mut draw = Draw(ChaCha8Rng::seed_from_u64(seed ^ 0x6772_6f75_705f_666c));
        let weather = match draw.below(4) {
            0 => Weather::Calm,
            1 | 2 => Weather::Breezy,
            _ => Weather::Stormy,
        };
        if weather == Weather::Calm {
            return plan;
        }
        let horizon_ms = (space.horizon.as_millis() as u64).max(1);
        let max = weather.max_per_kind();
        let kinds_on: [bool; 3] = std::array::from_fn(|_| draw.below(2) == 0);
        if kinds_on[0] && !space.topics.is_empty() && !group.clients.is_empty() {
            for _ in 0..draw.between(1, max) {
                let topic = space.topics[draw.below(space.topics.len() as u64) as usize].clone();
                let client = group.clients[draw.below(group.clients.len() as u64) as usize].clone();
                let at_ms = draw.below(horizon_ms);
                let access = match draw.below(3) {
                    0 => ReadAccess::DeniedEveryPollThrows,
                    1 => ReadAccess::DeniedSilentPollCommittedThrows,
                    _ => ReadAccess::DeniedThrownOnceThenSilent,
                };
                plan.acl_changes.push(AclChange {
                    at_ms,
                    topic: topic.clone(),
                    access,
                    client: Some(client.clone()),
                });
                if draw.below(2) == 0 && at_ms + 1 < horizon_ms {
                    plan.acl_changes.push(AclChange {
                        at_ms: draw.between(at_ms + 1, horizon_ms - 1),
                        topic,
                        access: ReadAccess::Allowed,
                        client: Some(client),
                    });
                }
            }
        }
        if kinds_on[1] {
            for _ in 0..draw.between(1, max) {
                let fault = draw.group_call_fault(horizon_ms, &group.clients);
                plan.call_faults.push(fault);
            }
        }
        if kinds_on[2] {
            for _ in 0..draw.between(1, max) {
                let from_ms = draw.below(horizon_ms);
                let call = match draw.below(3) {
                    0 => ClientCall::CommitSync,
                    _ => ClientCall::CommitAsync,
                };
                plan.call_latency.push(CallLatency {
                    call,
                    from_ms,
                    until_ms: Some(from_ms + draw.between(1, 5_000)),
                    latency_ms: draw.between(1, 20_000),
                    client: draw.target(&group.clients),
                });
            }
        }
        plan
    }
}

/// Integer draws from the plan's own ChaCha stream.
struct Draw(ChaCha8Rng);

impl Draw {
    /// Uniform in `[0, bound)`; `bound` must be positive.
    fn below(&mut self, bound: u64) -> u64 {
        ((self.0.next_u64() as u128 * bound as u128) >> 64) as u64
    }

    /// Uniform in `[low, high]`.
    fn between(&mut self, low: u64, high: u64) -> u64 {
        low + self.below(high.saturating_sub(low) + 1)
    }

    fn call_fault(&mut self, horizon_ms: u64) -> CallFault {
        // The calls and errors seen around zio-kafka's shutdown paths.
        let (call, error) = match self.below(7) {
            0 => (ClientCall::Poll, InjectedError::Timeout),
            1 => (ClientCall::CommitAsync, InjectedError::RebalanceInProgress),
            2 => (ClientCall::CommitAsync, InjectedError::CommitFailed),
            3 => (ClientCall::CommitSync, InjectedError::RebalanceInProgress),
            4 => (ClientCall::Committed, InjectedError::Timeout),
            5 => (ClientCall::Subscribe, InjectedError::InvalidTopic),
            _ => (
                ClientCall::Close,
                InjectedError::Other("KafkaException: failed to close consumer".into()),
            ),
        };
        let times = match self.below(8) {
            0..=3 => FaultTimes::Once,
            4..=6 => FaultTimes::Times(self.between(2, 5) as u32),
            _ => FaultTimes::Always,
        };
        CallFault {
            call,
            error,
            from_ms: self.below(horizon_ms),
            times,
            client: None,
        }
    }

    /// A client of `clients` or, one time in three (and always without clients), all of them.
    fn target(&mut self, clients: &[String]) -> Option<String> {
        if clients.is_empty() || self.below(3) == 0 {
            None
        } else {
            Some(clients[self.below(clients.len() as u64) as usize].clone())
        }
    }

    fn times(&mut self) -> FaultTimes {
        match self.below(8) {
            0..=3 => FaultTimes::Once,
            4..=6 => FaultTimes::Times(self.between(2, 5) as u32),
            _ => FaultTimes::Always,
        }
    }

    /// A call fault of a group of full consumers: the ways a handled command or a rebalance
    /// fails in the field.
    fn group_call_fault(&mut self, horizon_ms: u64, clients: &[String]) -> CallFault {
        let listener_failed = || InjectedError::Other("rebalance listener failed".into());
        let (call, error) = match self.below(8) {
            // `unsubscribe` (and `poll`) rethrowing a rebalance-callback failure.
            0 => (ClientCall::OnRevoked, listener_failed()),
            1 => (ClientCall::OnAssigned, listener_failed()),
            2 => (ClientCall::OnLost, listener_failed()),
            // `commitSync` failing inside `on_revoked` (rebalance-safe commits).
            3 => (ClientCall::CommitSync, InjectedError::CommitFailed),
            4 => (
                ClientCall::CommitAsyncThrows,
                InjectedError::Other("KafkaException: commit failed".into()),
            ),
            // A manual subscription's offset retrieval failing.
            5 => (
                ClientCall::OffsetRetrieval,
                InjectedError::Other("offset store unavailable".into()),
            ),
            6 => (
                ClientCall::Unsubscribe,
                InjectedError::Other("KafkaException: leave group failed".into()),
            ),
            _ => (ClientCall::Subscribe, InjectedError::InvalidTopic),
        };
        CallFault {
            call,
            error,
            from_ms: self.below(horizon_ms),
            times: self.times(),
            client: self.target(clients),
        }
    }
}
