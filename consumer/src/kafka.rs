//! `consumer::kafka`: the Kafka client port the consumer core talks to.
//!
//! The port is modelled on the Java `KafkaConsumer` as zio-kafka uses it, because the races
//! hangsim hunts depend on that client's contract, not on an idealised one:
//! - rebalance callbacks run *inside* [`KafkaClient::poll`] (and inside `unsubscribe` and
//!   `close`), on the caller's fiber, and may call back into the client;
//! - within one rebalance the order is revoked-or-lost, then the assignment changes, then
//!   assigned; one poll may run several rebalances (assigned, then revoked);
//! - [`KafkaClient::commit_async`] returns at once and its callback runs during a *later* poll,
//!   `commit_sync` or `close`;
//! - [`KafkaClient::wakeup`] is the only call meant to be made from another fiber: it makes the
//!   current or next blocking call fail with [`KafkaError::Wakeup`];
//! - after `close`, every call fails with [`KafkaError::IllegalState`].
//!
//! Where to start: [`KafkaClient`] (the calls), [`RebalanceListener`] (the callbacks), then the
//! data types [`TopicPartition`], [`Offset`], [`Record`], [`Subscription`] and [`KafkaError`].
//!
//! Every call takes `&self` (implementations use interior mutability) and the trait is object
//! safe, so the consumer core can hold an `Rc<dyn KafkaClient>`: the fake cluster of `sim`
//! implements it today, a real `rdkafka` client can later. Calls that can take time return a
//! boxed future ([`KafkaFuture`]); the others return at once.
//!
//! Left out on purpose: generic key/value deserialisers (records carry bytes), headers, leader
//! epochs and commit metadata, transactions, `partitionsFor`/`listTopics`, static membership.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use std::time::Duration;

/// A boxed, single-threaded future of a client call that may borrow the client.
pub type KafkaFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, KafkaError>> + 'a>>;

/// Record key and value bytes. `Rc` so that a record handed to several streams is not copied.
pub type Bytes = Rc<[u8]>;

/// A partition of a topic (Java `TopicPartition`). Ordered by topic, then partition, which is
/// the order every set and map of the port iterates in.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TopicPartition {
    pub topic: Rc<str>,
    pub partition: i32,
}

impl TopicPartition {
    /// Partition `partition` of `topic`.
    pub fn new(topic: impl Into<Rc<str>>, partition: i32) -> TopicPartition {
        TopicPartition {
            topic: topic.into(),
            partition,
        }
    }
}

impl fmt::Display for TopicPartition {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}-{}", self.topic, self.partition)
    }
}

/// An offset in a partition's log. A *committed* offset is the offset of the next record to
/// consume: the last processed offset plus one (see [`Record::next_offset`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Offset(pub i64);

impl fmt::Display for Offset {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// Offsets to commit, or committed, per partition.
pub type Offsets = BTreeMap<TopicPartition, Offset>;

/// A record returned by [`KafkaClient::poll`] (Java `ConsumerRecord`, without headers).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Record {
    pub topic: Rc<str>,
    pub partition: i32,
    pub offset: Offset,
    pub key: Option<Bytes>,
    pub value: Option<Bytes>,
    /// When the record was appended to the log (virtual time in the simulation).
    pub timestamp: Duration,
}

impl Record {
    /// The partition the record belongs to.
    pub fn topic_partition(&self) -> TopicPartition {
        TopicPartition {
            topic: self.topic.clone(),
            partition: self.partition,
        }
    }

    /// The offset to commit once this record is processed: its offset plus one, as zio-kafka
    /// commits it.
    pub fn next_offset(&self) -> Offset {
        Offset(self.offset.0 + 1)
    }

    /// The key as text, for tests and reports (lossy for non-UTF-8 bytes).
    pub fn key_text(&self) -> Option<String> {
        self.key
            .as_ref()
            .map(|key| String::from_utf8_lossy(key).into_owned())
    }

    /// The value as text, for tests and reports (lossy for non-UTF-8 bytes).
    pub fn value_text(&self) -> Option<String> {
        self.value
            .as_ref()
            .map(|value| String::from_utf8_lossy(value).into_owned())
    }
}

/// What a client reads (zio-kafka's `Subscription`): a set of topics or a pattern, both managed
/// by the group coordinator, or a manual assignment of partitions without a group.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Subscription {
    /// These topics, assigned by the group coordinator.
    Topics(BTreeSet<Rc<str>>),
    /// Every topic whose whole name matches this regular expression, assigned by the group
    /// coordinator.
    Pattern(Rc<str>),
    /// These partitions, assigned by the application ([`KafkaClient::assign`]).
    Manual(BTreeSet<TopicPartition>),
}

impl Subscription {
    /// A subscription to `topics`.
    pub fn topics<T: Into<Rc<str>>>(topics: impl IntoIterator<Item = T>) -> Subscription {
        Subscription::Topics(topics.into_iter().map(Into::into).collect())
    }

    /// A subscription to the topics matching `pattern`.
    pub fn pattern(pattern: impl Into<Rc<str>>) -> Subscription {
        Subscription::Pattern(pattern.into())
    }

    /// A manual assignment of `partitions`.
    pub fn manual(partitions: impl IntoIterator<Item = TopicPartition>) -> Subscription {
        Subscription::Manual(partitions.into_iter().collect())
    }

    /// Whether the group coordinator assigns the partitions (topics or pattern).
    pub fn is_group_managed(&self) -> bool {
        !matches!(self, Subscription::Manual(_))
    }
}

/// Identifies the consumer's group membership, for transactional producers (Java
/// `ConsumerGroupMetadata`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumerGroupMetadata {
    pub group_id: Rc<str>,
    /// The generation the consumer last joined, or -1 outside a generation.
    pub generation_id: i32,
    /// The consumer's member id, or empty outside a generation.
    pub member_id: Rc<str>,
    pub group_instance_id: Option<Rc<str>>,
}

/// Everything a client call can fail with: one variant per exception class of the Java client
/// that the consumer core distinguishes, and a catch-all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum KafkaError {
    /// No READ (or DESCRIBE) permission on this topic (`TopicAuthorizationException`).
    TopicAuthorization(String),
    /// No permission on the consumer group (`GroupAuthorizationException`).
    GroupAuthorization,
    /// The client could not authenticate (`AuthenticationException`, for example SASL).
    Authentication,
    /// The group is rebalancing; the commit may be retried after the next poll
    /// (`RebalanceInProgressException`, retriable).
    RebalanceInProgress,
    /// The commit cannot succeed: the consumer's generation is gone, its partitions may belong to
    /// another member (`CommitFailedException`).
    CommitFailed,
    /// The call is not allowed in the client's state, for example after `close`
    /// (`IllegalStateException`). The text says why.
    IllegalState(String),
    /// A blocking call was cut short by [`KafkaClient::wakeup`] (`WakeupException`).
    Wakeup,
    /// A topic name is not valid (`InvalidTopicException`).
    InvalidTopic,
    /// The call did not finish within its timeout (`TimeoutException`).
    Timeout,
    /// Anything else, with the exception's class and message.
    Other(String),
}

impl KafkaError {
    /// Whether zio-kafka retries a poll that failed with this error (its
    /// `authErrorRetrySchedule`: authorization and authentication exceptions).
    pub fn is_auth_error(&self) -> bool {
        matches!(
            self,
            KafkaError::TopicAuthorization(_)
                | KafkaError::GroupAuthorization
                | KafkaError::Authentication
        )
    }

    /// Whether the Java client marks this error as retriable (`RetriableException`).
    pub fn is_retriable(&self) -> bool {
        matches!(self, KafkaError::RebalanceInProgress | KafkaError::Timeout)
    }
}

impl fmt::Display for KafkaError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KafkaError::TopicAuthorization(topic) => {
                write!(f, "not authorized to access topics: [{topic}]")
            }
            KafkaError::GroupAuthorization => f.write_str("not authorized to access group"),
            KafkaError::Authentication => f.write_str("authentication failed"),
            KafkaError::RebalanceInProgress => f.write_str(
                "offset commit cannot be completed since the consumer is undergoing a rebalance",
            ),
            KafkaError::CommitFailed => f.write_str(
                "commit cannot be completed since the group has already rebalanced and \
                 assigned the partitions to another member",
            ),
            KafkaError::IllegalState(text) => write!(f, "illegal state: {text}"),
            KafkaError::Wakeup => f.write_str("wakeup"),
            KafkaError::InvalidTopic => f.write_str("invalid topic"),
            KafkaError::Timeout => f.write_str("timeout"),
            KafkaError::Other(text) => f.write_str(text),
        }
    }
}

impl std::error::Error for KafkaError {}

/// The callback of [`KafkaClient::commit_async`]: the offsets it was given and how the commit
/// ended. It runs during a later `poll`, `commit_sync` or `close`, on the caller's fiber.
pub type CommitCallback = Box<dyn FnOnce(&Offsets, Result<(), KafkaError>)>;

/// The rebalance callbacks (Java `ConsumerRebalanceListener`).
///
/// They run inside `poll`, `unsubscribe` and `close`, on the caller's fiber, with the client
/// passed in so that they can call back into it (commit, read the assignment) without the
/// listener holding the client, which would make a reference cycle. A callback's error does not
/// stop the rebalance: the client completes it and then fails the call with the first error,
/// as the Java client does (KAFKA-4600).
pub trait RebalanceListener {
    /// Partitions taken from this consumer in an orderly rebalance; called before the
    /// assignment changes, so `client.assignment()` still includes them.
    fn on_revoked<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()>;

    /// Partitions given to this consumer; called after the assignment changed. With the
    /// cooperative protocol it is called even when `partitions` is empty.
    fn on_assigned<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()>;

    /// Partitions this consumer lost without an orderly revoke (its generation is gone: session
    /// timeout, max.poll.interval exceeded); they may already belong to another member, so
    /// committing them fails. By default it delegates to [`RebalanceListener::on_revoked`], as
    /// the Java interface does.
    fn on_lost<'a>(
        &'a self,
        client: &'a dyn KafkaClient,
        partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        self.on_revoked(client, partitions)
    }
}

/// A listener that does nothing (the Java client's `NoOpConsumerRebalanceListener`).
#[derive(Clone, Copy, Debug, Default)]
pub struct NoopRebalanceListener;

impl RebalanceListener for NoopRebalanceListener {
    fn on_revoked<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        _partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }

    fn on_assigned<'a>(
        &'a self,
        _client: &'a dyn KafkaClient,
        _partitions: BTreeSet<TopicPartition>,
    ) -> KafkaFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
}

/// The Kafka consumer client, modelled on Java's `KafkaConsumer` as zio-kafka uses it.
///
/// Contract, for implementors and callers:
/// - every call after [`KafkaClient::close`] fails with [`KafkaError::IllegalState`], except
///   `close` itself (a no-op) and `wakeup` (ignored);
/// - blocking calls (`poll`, `commit_sync`, `committed`, `position`, `end_offsets`) fail with
///   [`KafkaError::Wakeup`] if `wakeup` was called during them or since the last blocking call;
/// - rebalance callbacks run only inside `poll`, `unsubscribe` and `close`;
/// - a call is not interruptible, like a blocking Java call on its thread: an interruption of
///   the calling fiber takes effect when the call returns. `wakeup` is how another fiber cuts a
///   blocking call short (zio-kafka calls it when the polling fiber is interrupted).
pub trait KafkaClient {
    /// Subscribes to topics or a pattern, replacing an earlier subscription of the same kind;
    /// the group is joined on the next poll. An empty topic set unsubscribes. Fails with
    /// `IllegalState` if the client has a manual assignment or a subscription of the other kind,
    /// `InvalidTopic` for an invalid name. Use [`KafkaClient::assign`] for [`Subscription::Manual`].
    fn subscribe(
        &self,
        subscription: Subscription,
        listener: Rc<dyn RebalanceListener>,
    ) -> KafkaFuture<'_, ()>;

    /// Revokes the owned partitions (`on_revoked`, or `on_lost` if the generation was lost),
    /// leaves the group and forgets the subscription or manual assignment.
    fn unsubscribe(&self) -> KafkaFuture<'_, ()>;

    /// Assigns partitions manually, without a group (an empty set unassigns). Fails with
    /// `IllegalState` if the client is subscribed to topics or a pattern.
    fn assign(&self, partitions: BTreeSet<TopicPartition>) -> Result<(), KafkaError>;

    /// Runs pending async-commit callbacks and rebalances (invoking the listener), then returns
    /// the available records of the assigned, unpaused partitions, waiting up to `timeout` for
    /// some to arrive. Fails with `IllegalState` without a subscription or assignment.
    fn poll(&self, timeout: Duration) -> KafkaFuture<'_, Vec<Record>>;

    /// Stops fetching from these assigned partitions. `IllegalState` for one not assigned.
    fn pause(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError>;

    /// Resumes fetching from these assigned partitions. `IllegalState` for one not assigned.
    fn resume(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError>;

    /// The paused partitions.
    fn paused(&self) -> Result<BTreeSet<TopicPartition>, KafkaError>;

    /// The partitions assigned to this client now.
    fn assignment(&self) -> Result<BTreeSet<TopicPartition>, KafkaError>;

    /// The current subscription, if any.
    fn subscription(&self) -> Result<Option<Subscription>, KafkaError>;

    /// The offset of the next record `poll` returns for an assigned partition, resolving it from
    /// the committed offset or the reset policy if needed.
    fn position(&self, partition: TopicPartition) -> KafkaFuture<'_, Offset>;

    /// Makes the next poll fetch an assigned partition from `offset`.
    fn seek(&self, partition: TopicPartition, offset: Offset) -> Result<(), KafkaError>;

    /// Commits `offsets` (each the next offset to consume) without waiting; `callback` runs
    /// with the outcome during a later `poll`, `commit_sync` or `close`.
    fn commit_async(&self, offsets: Offsets, callback: CommitCallback) -> Result<(), KafkaError>;

    /// Commits `offsets` and waits for the outcome, after running the callbacks of earlier async
    /// commits. An empty map only waits for those earlier commits.
    fn commit_sync(&self, offsets: Offsets, timeout: Duration) -> KafkaFuture<'_, ()>;

    /// The group's committed offsets for `partitions` (`None`: nothing committed).
    fn committed(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, BTreeMap<TopicPartition, Option<Offset>>>;

    /// The log end offsets (the offset the next appended record will get) of `partitions`.
    fn end_offsets(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, Offsets>;

    /// The client's group membership.
    fn group_metadata(&self) -> Result<ConsumerGroupMetadata, KafkaError>;

    /// Runs pending async-commit callbacks, revokes the owned partitions, leaves the group and
    /// closes the client. Closing a closed client does nothing.
    fn close(&self, timeout: Duration) -> KafkaFuture<'_, ()>;

    /// Makes the current blocking call, or the next one, fail with [`KafkaError::Wakeup`].
    /// Safe to call from any fiber at any time.
    fn wakeup(&self);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Topic partitions order by topic, then partition: the iteration order of every set.
    #[test]
    fn topic_partitions_order_by_topic_then_partition() {
        let mut set = BTreeSet::new();
        set.insert(TopicPartition::new("b", 0));
        set.insert(TopicPartition::new("a", 2));
        set.insert(TopicPartition::new("a", 10));
        let order: Vec<String> = set.iter().map(ToString::to_string).collect();
        assert_eq!(order, vec!["a-2", "a-10", "b-0"]);
    }

    /// The offset to commit after a record is its offset plus one.
    #[test]
    fn next_offset_is_offset_plus_one() {
        let record = Record {
            topic: "t".into(),
            partition: 0,
            offset: Offset(41),
            key: None,
            value: None,
            timestamp: Duration::ZERO,
        };
        assert_eq!(record.next_offset(), Offset(42));
    }

    /// Authorization and authentication errors are the ones zio-kafka's poll retries.
    #[test]
    fn auth_errors_are_classified() {
        assert!(KafkaError::TopicAuthorization("t".into()).is_auth_error());
        assert!(KafkaError::Authentication.is_auth_error());
        assert!(!KafkaError::CommitFailed.is_auth_error());
        assert!(KafkaError::RebalanceInProgress.is_retriable());
        assert!(!KafkaError::CommitFailed.is_retriable());
    }
}
