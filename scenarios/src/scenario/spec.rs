//! The scenario file format (DESIGN.md section 3.7): plain serde types, read from TOML with
//! unknown keys refused. Every number may be drawn per seed ([`Draw`]); [`mod@super::resolve`]
//! fixes every draw for one seed.

use serde::{Deserialize, Serialize};
use sim::kafka::{ClientCall, FaultPlan};

use super::draw::Draw;
use crate::drawable_by_name;

/// The only format this build reads.
pub const FORMAT: u32 = 1;

/// A whole scenario: topics, the group, consumers and their consumptions, events.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioFile {
    pub format: u32,
    pub name: String,
    #[serde(default)]
    pub description: String,
    #[serde(default, skip_serializing_if = "RunSection::is_default")]
    pub run: RunSection,
    #[serde(default, rename = "topic")]
    pub topics: Vec<TopicSpec>,
    #[serde(default)]
    pub group: GroupSpec,
    #[serde(default, rename = "consumer")]
    pub consumers: Vec<ConsumerSpec>,
    #[serde(default, rename = "event", skip_serializing_if = "Vec::is_empty")]
    pub events: Vec<EventSpec>,
    /// Faults drawn swarm style per seed (resolved into `faults`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub swarm: Option<SwarmSpec>,
    /// A fault plan written out in full (the fake cluster's own format); a resolved swarm lands
    /// here.
    #[serde(default, skip_serializing_if = "FaultPlan::is_calm")]
    pub faults: FaultPlan,
}

impl RunSection {
    /// Whether nothing is set (serde leaves such a section out).
    pub fn is_default(&self) -> bool {
        *self == RunSection::default()
    }
}

/// How long a run may take.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunSection {
    /// The virtual deadline; by default derived from the scenario.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub deadline_s: Option<u64>,
    /// The quiet window of the hang rule; by default derived from the settings.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quiet_window_s: Option<u64>,
    /// When the driver finally stops consumption of every consumer (default 30 s).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub final_stop_ms: Option<Draw<u64>>,
    /// How long the group must have been undisturbed before the final stop for the
    /// `settled-at-least-once` invariant to apply (`None`: it does not).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub settle_ms: Option<u64>,
}

/// One topic and what is produced to it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TopicSpec {
    pub name: String,
    #[serde(default = "one")]
    pub partitions: Draw<u64>,
    #[serde(default)]
    pub records_per_partition: Draw<u64>,
    /// Virtual time between two records of one partition (0: all at the start).
    #[serde(default)]
    pub produce_every_ms: Draw<u64>,
}

fn one() -> Draw<u64> {
    Draw::Fixed(1)
}

/// The consumer group every consumer joins.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GroupSpec {
    #[serde(default = "eager")]
    pub rebalance_protocol: Draw<RebalanceProtocolName>,
}

impl Default for GroupSpec {
    fn default() -> Self {
        GroupSpec {
            rebalance_protocol: eager(),
        }
    }
}

fn eager() -> Draw<RebalanceProtocolName> {
    Draw::Fixed(RebalanceProtocolName::EagerRange)
}

/// The group's assignor.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum RebalanceProtocolName {
    EagerRange,
    CooperativeSticky,
}

/// A consumer: the first is the one under test (its protocol comes from `--protocol`), every
/// further one a full peer in the same group. Settings are zio-kafka's, by snake_case name;
/// absent ones keep zio-kafka's defaults.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumerSpec {
    pub name: String,
    /// A peer's shutdown protocol (default: the run's); not allowed on the first consumer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<Draw<ProtocolName>>,
    /// Whether a peer takes part in a run (default true; a coin per seed makes it optional).
    /// Not allowed on the first consumer: the consumer under test is always there.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Draw<bool>>,
    /// When the consumer is created and starts its consumptions (default 0).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_at_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub poll_timeout_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_timeout_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub close_timeout_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_poll_interval_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_stream_pull_interval_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_rebalance_duration_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rebalance_safe_commits: Option<Draw<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub restart_streams_on_rebalancing: Option<Draw<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub partition_prefetch_buffer_limit: Option<Draw<u64>>,
    /// `authErrorRetrySchedule = recurs(auth_error_retries) && spaced(500 ms)`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_error_retries: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub shutdown_timeout_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub empty_poll_count_to_meta_refresh: Option<Draw<u64>>,
    #[serde(default, rename = "consume")]
    pub consumptions: Vec<ConsumeSpec>,
}

impl ConsumerSpec {
    /// Whether the consumer takes part in the run (its `enabled` coin, once resolved).
    pub fn is_enabled(&self) -> bool {
        self.enabled.as_ref().is_none_or(|enabled| enabled.value())
    }
}

/// The consumer APIs a consumption can use.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ApiName {
    ConsumeWith,
    RunWithGracefulShutdown,
    PlainStream,
    PartitionedStream,
}

impl ApiName {
    /// The name in files and fiber names.
    pub fn name(self) -> &'static str {
        match self {
            ApiName::ConsumeWith => "consume_with",
            ApiName::RunWithGracefulShutdown => "run_with_graceful_shutdown",
            ApiName::PlainStream => "plain_stream",
            ApiName::PartitionedStream => "partitioned_stream",
        }
    }
}

/// A shutdown protocol by its command-line name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct ProtocolName(pub consumer::ShutdownProtocol);

impl TryFrom<String> for ProtocolName {
    type Error = String;
    fn try_from(text: String) -> Result<Self, String> {
        text.parse().map(ProtocolName)
    }
}

impl From<ProtocolName> for String {
    fn from(name: ProtocolName) -> String {
        name.0.name().to_string()
    }
}

/// One consumption of a consumer: one call of a consumer API on a subscription.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConsumeSpec {
    /// How events name it (default `<api>:<topics joined by +>`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    pub api: Draw<ApiName>,
    pub topics: Vec<String>,
    /// The handler's processing time per record.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub handler_delay_ms: Option<Draw<u64>>,
    /// Whether the handler commits each record itself (`record.commit()`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit_each_record: Option<Draw<bool>>,
    /// `at-start` (default) or `on-event`: started by an `add-subscription` event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start: Option<StartMode>,
}

/// When a consumption starts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StartMode {
    AtStart,
    OnEvent,
}

impl ConsumeSpec {
    /// The name events use for this consumption.
    pub fn display_name(&self) -> String {
        if let Some(name) = &self.name {
            return name.clone();
        }
        let api = match &self.api {
            Draw::Fixed(api) => api.name(),
            _ => "consume",
        };
        format!("{api}:{}", self.topics.join("+"))
    }
}

/// What an event does.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EventKind {
    DenyRead,
    AllowRead,
    AuthenticationOutage,
    CallFault,
    PollLatency,
    CommitLatency,
    PeerJoin,
    PeerLeave,
    SessionTimeout,
    StopConsumption,
    CloseConsumer,
    AddSubscription,
    InterruptConsume,
    CommitProcessed,
}

/// How a READ denial shows up in the client.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum DenyMode {
    /// Every poll throws (zio-kafka #1705).
    Throw,
    /// Polls return nothing, `committed` throws (#1713).
    Silent,
    /// The first poll throws, later ones are silent (confluent-kafka-python #1461).
    ThrowOnce,
    /// The first fetch of each partition throws, later ones are silent (librdkafka, as real
    /// mode measured it).
    ThrowOncePerPartition,
}

/// The errors a call fault can inject.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ErrorName {
    TopicAuthorization,
    GroupAuthorization,
    Authentication,
    RebalanceInProgress,
    CommitFailed,
    IllegalState,
    Wakeup,
    InvalidTopic,
    Timeout,
    Other,
}

/// A client call by name, for call faults and latencies (the fake cluster's names).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct CallName(pub ClientCall);

drawable_by_name!(
    RebalanceProtocolName,
    ApiName,
    ProtocolName,
    DenyMode,
    ErrorName,
    CallName
);

/// A fault or a user action, at a virtual time or after a named event of the run. The keys an
/// event may have depend on what it does (`hangsim describe` lists them); a key its kind does not
/// use is an error.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EventSpec {
    #[serde(rename = "do")]
    pub kind: EventKind,
    /// When, from the start of the run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub at_ms: Option<Draw<u64>>,
    /// A trigger: the event happens when this happens (see `hangsim describe`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
    /// Shifts `at_ms` or `after` later.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delay_ms: Option<Draw<u64>>,
    /// Whether the event happens at all in a run (a coin per seed with `{ one_of = [true, false] }`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enabled: Option<Draw<bool>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consumer: Option<String>,
    /// A consumption by its name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub consume: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topic: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<Draw<DenyMode>>,
    /// A latency.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ms: Option<Draw<u64>>,
    /// How long a fault lasts (default: to the end of the run).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub for_ms: Option<Draw<u64>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub call: Option<Draw<CallName>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<Draw<ErrorName>>,
    /// How many calls a call fault fails (0: every call).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub times: Option<Draw<u64>>,
    /// A passive peer's name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<String>,
    /// Repeats the action this often (commit-processed) until the final stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub every_ms: Option<Draw<u64>>,
}

/// Faults drawn swarm style per seed: the seed picks the weather and the kinds of fault, then the
/// faults (the fake cluster's `FaultPlan::swarm_group`).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SwarmSpec {
    /// Faults start before this virtual time, which is also the storm end.
    pub horizon_ms: u64,
    /// The topics ACL faults may target (default: every topic).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub topics: Option<Vec<String>>,
}
