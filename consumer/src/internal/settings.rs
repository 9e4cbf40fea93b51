//! `ConsumerSettings`, with zio-kafka's defaults (`ConsumerSettings.scala`, `RunloopConfig`).

use std::collections::BTreeSet;
use std::fmt;
use std::rc::Rc;
use std::time::Duration;

use super::error::ConsumerError;
use super::listener::UserRebalanceListener;
use super::protocol::ShutdownProtocol;
use crate::kafka::{Offsets, TopicPartition};
use crate::rt::{Exit, LocalBoxFuture, Schedule};

/// The application's lookup of where to start reading newly assigned partitions
/// (`OffsetRetrieval.Manual`'s `getOffsets`): for example its own offset store.
pub type GetOffsets =
    Rc<dyn Fn(BTreeSet<TopicPartition>) -> LocalBoxFuture<Exit<Offsets, ConsumerError>>>;

/// Where a newly assigned partition starts (zio-kafka's `OffsetRetrieval`).
#[derive(Clone, Default)]
pub enum OffsetRetrieval {
    /// The group's committed offset, else the client's `auto.offset.reset` (`Auto`).
    #[default]
    Auto,
    /// The offsets `getOffsets` returns, sought to before the partition's records are
    /// offered (`Manual`); its failure fails the runloop.
    Manual(GetOffsets),
}

impl fmt::Debug for OffsetRetrieval {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            OffsetRetrieval::Auto => f.write_str("Auto"),
            OffsetRetrieval::Manual(_) => f.write_str("Manual(..)"),
        }
    }
}

/// The consumer's settings. `Default` gives zio-kafka's defaults and the `Master` protocol.
#[derive(Clone, Debug)]
pub struct ConsumerSettings {
    /// The consumer group (`group.id`).
    pub group_id: String,
    /// How long one `poll` waits for records (`pollTimeout`, 50 ms).
    pub poll_timeout: Duration,
    /// How long a commit may take before it fails with `CommitTimeout` (`commitTimeout`, 15 s).
    pub commit_timeout: Duration,
    /// How long `close` may take (`closeTimeout`, 30 s).
    pub close_timeout: Duration,
    /// Kafka's `max.poll.interval.ms` (5 minutes).
    pub max_poll_interval: Duration,
    /// A stream whose data is not pulled for this long is halted and the consumer shut down
    /// (`maxStreamPullInterval`, defaults to `max_poll_interval`).
    pub max_stream_pull_interval: Duration,
    /// With `rebalance_safe_commits`, how long a revoke may wait for commits
    /// (`maxRebalanceDuration`, 3/5 of `max_poll_interval`).
    pub max_rebalance_duration: Duration,
    /// Hold the revoke callback until the revoked streams' commits are done
    /// (`rebalanceSafeCommits`, false).
    pub rebalance_safe_commits: bool,
    /// End every stream on any rebalance (`restartStreamOnRebalancing`, false).
    pub restart_streams_on_rebalancing: bool,
    /// Pause a partition whose stream queue holds at least this many records
    /// (`QueueSizeBasedFetchStrategy(partitionPreFetchBufferLimit = 1024)`).
    pub partition_prefetch_buffer_limit: usize,
    /// Retries of a poll that failed with an authorization or authentication error
    /// (`authErrorRetrySchedule`, `recurs(5) && spaced(500 ms)`).
    pub auth_error_retry_schedule: Schedule,
    /// `consume_with`'s retries of a retriable commit failure (`commitRetryPolicy`,
    /// `exponential(1 s) && recurs(3)`).
    pub commit_retry_policy: Schedule,
    /// How long `run_with_graceful_shutdown`, interrupted, waits for its streams to finish after
    /// ending them (zio-kafka's `runWithGracefulShutdown` `shutdownTimeout`, 15 s).
    pub shutdown_timeout: Duration,
    /// The most commands the runloop reads in one chunk.
    pub command_chunk_limit: usize,
    /// The shutdown protocol of the request/response path (see [`ShutdownProtocol`]).
    pub protocol: ShutdownProtocol,
    /// The user's rebalance listener, run after the consumer's own handling of each callback
    /// (`rebalanceListener`, none).
    pub rebalance_listener: Option<UserRebalanceListener>,
    /// After this many consecutive polls without a record of a topic, probe the topic with
    /// `committed()`, which throws on a READ denial that polls only hide (#1713,
    /// `emptyPollCountToMetaRefresh`, off).
    pub empty_poll_count_to_meta_refresh: Option<u32>,
    /// Where newly assigned partitions start (`offsetRetrieval`, `Auto`).
    pub offset_retrieval: OffsetRetrieval,
}

impl Default for ConsumerSettings {
    fn default() -> Self {
        let max_poll_interval = Duration::from_secs(300);
        ConsumerSettings {
            group_id: "hangsim".to_string(),
            poll_timeout: Duration::from_millis(50),
            commit_timeout: Duration::from_secs(15),
            close_timeout: Duration::from_secs(30),
            max_poll_interval,
            max_stream_pull_interval: max_poll_interval,
            max_rebalance_duration: max_poll_interval * 3 / 5,
            rebalance_safe_commits: false,
            restart_streams_on_rebalancing: false,
            partition_prefetch_buffer_limit: 1024,
            auth_error_retry_schedule: Schedule::recurs(5)
                .and(Schedule::spaced(Duration::from_millis(500))),
            commit_retry_policy: Schedule::exponential(Duration::from_secs(1))
                .and(Schedule::recurs(3)),
            shutdown_timeout: Duration::from_secs(15),
            command_chunk_limit: 1024,
            protocol: ShutdownProtocol::Master,
            rebalance_listener: None,
            empty_poll_count_to_meta_refresh: None,
            offset_retrieval: OffsetRetrieval::Auto,
        }
    }
}

impl ConsumerSettings {
    /// The same settings with another protocol.
    pub fn with_protocol(mut self, protocol: ShutdownProtocol) -> Self {
        self.protocol = protocol;
        self
    }

    /// The same settings with another authorization retry schedule (`recurs(0)`: no retry).
    pub fn with_auth_error_retry_schedule(mut self, schedule: Schedule) -> Self {
        self.auth_error_retry_schedule = schedule;
        self
    }

    /// The same settings with another `max.poll.interval.ms`; like zio-kafka, the stream pull
    /// interval and the rebalance duration follow it.
    pub fn with_max_poll_interval(mut self, interval: Duration) -> Self {
        self.max_poll_interval = interval;
        self.max_stream_pull_interval = interval;
        self.max_rebalance_duration = interval * 3 / 5;
        self
    }

    /// The same settings with rebalance-safe commits on or off (`withRebalanceSafeCommits`).
    pub fn with_rebalance_safe_commits(mut self, on: bool) -> Self {
        self.rebalance_safe_commits = on;
        self
    }

    /// The same settings with another `maxRebalanceDuration` (`withMaxRebalanceDuration`).
    pub fn with_max_rebalance_duration(mut self, duration: Duration) -> Self {
        self.max_rebalance_duration = duration;
        self
    }

    /// The same settings with another commit timeout (`withCommitTimeout`).
    pub fn with_commit_timeout(mut self, timeout: Duration) -> Self {
        self.commit_timeout = timeout;
        self
    }

    /// The same settings with a user rebalance listener (`withRebalanceListener`).
    pub fn with_rebalance_listener(mut self, listener: UserRebalanceListener) -> Self {
        self.rebalance_listener = Some(listener);
        self
    }

    /// The same settings with streams restarted on every rebalance
    /// (`withRestartStreamOnRebalancing`).
    pub fn with_restart_streams_on_rebalancing(mut self, on: bool) -> Self {
        self.restart_streams_on_rebalancing = on;
        self
    }

    /// The same settings with the `committed()` probe after `polls` empty polls of a topic
    /// (`withEmptyPollCountToMetaRefresh`).
    pub fn with_empty_poll_count_to_meta_refresh(mut self, polls: u32) -> Self {
        self.empty_poll_count_to_meta_refresh = Some(polls.max(1));
        self
    }

    /// The same settings with another offset retrieval (`withOffsetRetrieval`).
    pub fn with_offset_retrieval(mut self, retrieval: OffsetRetrieval) -> Self {
        self.offset_retrieval = retrieval;
        self
    }
}
