//! Every key of a scenario file: its meaning, its default and its bounds. Validation and
//! `hangsim describe` read this one table, so the two cannot disagree.

use std::ops::RangeInclusive;

use super::spec::EventKind;

/// One key of the format.
pub struct Key {
    /// Its path with list indices left out (`consumer.consume.handler_delay_ms`).
    pub path: &'static str,
    pub meaning: &'static str,
    /// The value when absent, in words.
    pub default: &'static str,
    /// Inclusive bounds of a number (every value a range can draw must lie within them).
    pub bounds: Option<RangeInclusive<u64>>,
}

const fn key(
    path: &'static str,
    meaning: &'static str,
    default: &'static str,
    bounds: Option<RangeInclusive<u64>>,
) -> Key {
    Key {
        path,
        meaning,
        default,
        bounds,
    }
}

/// Virtual times within a run: ten minutes at most.
const TIME_MS: RangeInclusive<u64> = 0..=600_000;

/// The most topics, consumers, consumptions per consumer and events of one file.
pub const MAX_TOPICS: usize = 8;
pub const MAX_CONSUMERS: usize = 4;
pub const MAX_CONSUMPTIONS: usize = 4;
pub const MAX_EVENTS: usize = 64;
/// The longest name (of a scenario, topic, consumer, consumption or peer), in bytes.
pub const MAX_NAME_BYTES: usize = 64;
/// The most values of a `one_of` list.
pub const MAX_CHOICES: usize = 64;

/// Every key, in the order `describe` prints them.
pub const KEYS: &[Key] = &[
    key("format", "the format version of the file", "required: 1", None),
    key("name", "the scenario's name (letters, digits and '-')", "required", None),
    key("description", "one line for hangsim list", "empty", None),
    key("run.deadline_s", "virtual deadline of a run; a run that still progresses after it is a Timeout", "derived from the scenario", Some(1..=3_600)),
    key("run.quiet_window_s", "a run with obligations open and no progress for this long is a Hang", "derived from the settings", Some(1..=3_600)),
    key("run.final_stop_ms", "when the driver finally stops consumption of every consumer and closes them", "30000", Some(TIME_MS)),
    key("run.settle_ms", "a group undisturbed (no fault in effect, no rebalance, no user action) this long before the final stop must have processed every record produced before then (invariant settled-at-least-once)", "none: not checked", Some(1..=600_000)),
    key("topic.name", "the topic's name", "required", None),
    key("topic.partitions", "partitions of the topic", "1", Some(1..=8)),
    key("topic.records_per_partition", "records produced on every partition", "0", Some(0..=500)),
    key("topic.produce_every_ms", "virtual time between two records of a partition (0: all at the start)", "0", Some(0..=60_000)),
    key("group.rebalance_protocol", "the group's assignor: eager-range or cooperative-sticky", "eager-range", None),
    key("consumer.name", "the consumer's name (its client's name in faults and reports)", "required", None),
    key("consumer.protocol", "a peer's shutdown protocol (not the first consumer's: that is --protocol)", "the run's --protocol", None),
    key("consumer.enabled", "whether a peer takes part in a run (a coin per seed: { one_of = [true, false] }); not on the first consumer", "true", None),
    key("consumer.start_at_ms", "when the consumer is made and starts its consumptions", "0", Some(TIME_MS)),
    key("consumer.poll_timeout_ms", "zio-kafka pollTimeout", "50", Some(1..=10_000)),
    key("consumer.commit_timeout_ms", "zio-kafka commitTimeout", "15000", Some(1..=600_000)),
    key("consumer.close_timeout_ms", "zio-kafka closeTimeout", "30000", Some(1..=600_000)),
    key("consumer.max_poll_interval_ms", "Kafka max.poll.interval.ms", "300000", Some(100..=3_600_000)),
    key("consumer.max_stream_pull_interval_ms", "zio-kafka maxStreamPullInterval", "max_poll_interval_ms", Some(100..=3_600_000)),
    key("consumer.max_rebalance_duration_ms", "zio-kafka maxRebalanceDuration (with rebalance_safe_commits)", "3/5 of max_poll_interval_ms", Some(1..=3_600_000)),
    key("consumer.rebalance_safe_commits", "zio-kafka rebalanceSafeCommits: revokes wait for the revoked streams' commits", "false", None),
    key("consumer.restart_streams_on_rebalancing", "zio-kafka restartStreamOnRebalancing: every rebalance ends every stream", "false", None),
    key("consumer.partition_prefetch_buffer_limit", "records buffered per partition before it is paused", "1024", Some(1..=4_096)),
    key("consumer.auth_error_retries", "authErrorRetrySchedule = recurs(N) && spaced(500 ms)", "5", Some(0..=20)),
    key("consumer.shutdown_timeout_ms", "run_with_graceful_shutdown's shutdownTimeout", "15000", Some(1..=600_000)),
    key("consumer.empty_poll_count_to_meta_refresh", "probe a topic with committed() after this many empty polls (#1713)", "off", Some(1..=1_000)),
    key("consumer.consume.name", "how events name this consumption", "<api>:<topics joined by +>", None),
    key("consumer.consume.api", "consume_with, run_with_graceful_shutdown, plain_stream or partitioned_stream", "required", None),
    key("consumer.consume.topics", "the subscription's topics", "required", None),
    key("consumer.consume.handler_delay_ms", "the handler's processing time per record", "0", Some(0..=60_000)),
    key("consumer.consume.commit_each_record", "the handler commits each record itself (record.commit())", "false", None),
    key("consumer.consume.start", "at-start, or on-event: started by an add-subscription event", "at-start", None),
    key("event.do", "what the event does (see the event kinds below)", "required", None),
    key("event.at_ms", "when, from the start of the run (or give after)", "0 if after is absent", Some(TIME_MS)),
    key("event.after", "a trigger (see the triggers below); the event happens once, the first time it fires", "none", None),
    key("event.delay_ms", "shifts at_ms or after later", "0", Some(TIME_MS)),
    key("event.enabled", "whether the event happens in a run (a coin per seed: { one_of = [true, false] })", "true", None),
    key("event.consumer", "the consumer it targets; faults without it target every client", "faults: all; actions: the first consumer", None),
    key("event.consume", "the consumption it targets, by name", "required where used", None),
    key("event.topic", "the topic of a READ change", "required where used", None),
    key("event.mode", "how a READ denial shows: throw (every poll), silent (polls empty, committed() throws), throw-once, throw-once-per-partition (librdkafka)", "throw", None),
    key("event.ms", "the latency a poll or commit takes", "required where used", Some(0..=60_000)),
    key("event.for_ms", "how long a fault lasts", "to the end of the run", Some(1..=600_000)),
    key("event.call", "the client call (subscribe, unsubscribe, poll, commit_async, commit_sync, committed, close, commit_async_throws, on_revoked, on_assigned, on_lost, offset_retrieval, ...)", "commit-latency: commit_async; call-fault: required", None),
    key("event.error", "the injected error: topic-authorization, group-authorization, authentication, rebalance-in-progress, commit-failed, illegal-state, wakeup, invalid-topic, timeout, other", "required where used", None),
    key("event.times", "how many calls a call fault fails (0: every call)", "1", Some(0..=1_000)),
    key("event.peer", "a passive peer's name", "required where used", None),
    key("event.every_ms", "commit-processed repeats this often until the final stop", "once", Some(1..=60_000)),
    key("swarm.horizon_ms", "swarm faults start before this virtual time (the storm end)", "required", Some(1..=600_000)),
    key("swarm.topics", "topics swarm READ denials may target", "every topic", None),
];

/// The key of `path` (list indices left out).
pub fn key_of(path: &str) -> Option<&'static Key> {
    KEYS.iter().find(|key| key.path == path)
}

/// The keys every event may have, whatever it does.
pub const EVENT_COMMON_KEYS: &[&str] = &["do", "at_ms", "after", "delay_ms", "enabled"];

/// What each kind of event does, the keys it uses beyond the common ones, and which of them it
/// requires.
pub struct EventUse {
    pub kind: EventKind,
    pub name: &'static str,
    pub meaning: &'static str,
    pub keys: &'static [&'static str],
    pub required: &'static [&'static str],
}

const fn event(
    kind: EventKind,
    name: &'static str,
    meaning: &'static str,
    keys: &'static [&'static str],
    required: &'static [&'static str],
) -> EventUse {
    EventUse {
        kind,
        name,
        meaning,
        keys,
        required,
    }
}

/// Every kind of event.
pub const EVENT_USES: &[EventUse] = &[
    event(
        EventKind::DenyRead,
        "deny-read",
        "READ on a topic is denied (ACL change), for one client or all",
        &["topic", "mode", "consumer"],
        &["topic"],
    ),
    event(
        EventKind::AllowRead,
        "allow-read",
        "READ on a topic is allowed again",
        &["topic", "consumer"],
        &["topic"],
    ),
    event(
        EventKind::AuthenticationOutage,
        "authentication-outage",
        "every poll fails with an authentication error",
        &["for_ms", "consumer"],
        &[],
    ),
    event(
        EventKind::CallFault,
        "call-fault",
        "a client call fails with an injected error",
        &["call", "error", "times", "consumer"],
        &["call", "error"],
    ),
    event(
        EventKind::PollLatency,
        "poll-latency",
        "every poll takes ms longer",
        &["ms", "for_ms", "consumer"],
        &["ms"],
    ),
    event(
        EventKind::CommitLatency,
        "commit-latency",
        "commits wait ms for the broker's answer",
        &["ms", "for_ms", "call", "consumer"],
        &["ms"],
    ),
    event(
        EventKind::PeerJoin,
        "peer-join",
        "a passive member joins the group (a rebalance)",
        &["peer"],
        &["peer"],
    ),
    event(
        EventKind::PeerLeave,
        "peer-leave",
        "a passive member leaves the group (a rebalance)",
        &["peer"],
        &["peer"],
    ),
    event(
        EventKind::SessionTimeout,
        "session-timeout",
        "every client member's session times out: partitions lost",
        &[],
        &[],
    ),
    event(
        EventKind::StopConsumption,
        "stop-consumption",
        "the user calls stop_consumption",
        &["consumer"],
        &[],
    ),
    event(
        EventKind::CloseConsumer,
        "close-consumer",
        "the user interrupts every consumption of a consumer and closes it",
        &["consumer"],
        &[],
    ),
    event(
        EventKind::AddSubscription,
        "add-subscription",
        "starts a consumption declared with start = \"on-event\"",
        &["consumer", "consume"],
        &["consume"],
    ),
    event(
        EventKind::InterruptConsume,
        "interrupt-consume",
        "the user interrupts a consumption's fiber",
        &["consumer", "consume"],
        &["consume"],
    ),
    event(
        EventKind::CommitProcessed,
        "commit-processed",
        "the user commits the last record processed again through the runloop's committer",
        &["consumer", "every_ms"],
        &[],
    ),
];

/// How a kind of event is used.
pub fn event_use(kind: EventKind) -> &'static EventUse {
    EVENT_USES
        .iter()
        .find(|usage| usage.kind == kind)
        .expect("every event kind is in EVENT_USES")
}

/// The triggers `after` may name, with their meaning.
pub const TRIGGERS: &[(&str, &str)] = &[
    (
        "rebalance-started",
        "a rebalance callback ran in a consumer's poll",
    ),
    (
        "partitions-assigned",
        "partitions were assigned to a consumer",
    ),
    (
        "partitions-revoked",
        "partitions were revoked from a consumer",
    ),
    ("partitions-lost", "a consumer lost partitions"),
    (
        "runloop-crashed",
        "a consumer's runloop ended with a failure",
    ),
    (
        "command-offered:<Kind>",
        "a command of this kind was put on a runloop's command queue",
    ),
    (
        "records-processed:<N>",
        "N records in all reached a consumer's handlers",
    ),
];
