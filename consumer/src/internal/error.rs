//! `ConsumerError`: what the consumer core fails with (zio-kafka fails with `Throwable`; this
//! enum names the throwables the core produces or passes on).

use std::convert::Infallible;
use std::fmt;

use crate::kafka::KafkaError;
use crate::rt::{Cause, QueueError};

/// A failure of the consumer, a stream or a command.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConsumerError {
    /// The Kafka client failed (for example `TopicAuthorizationException` after the retries).
    Kafka(KafkaError),
    /// A commit was not answered within the commit timeout (zio-kafka's `CommitTimeout`).
    CommitTimeout,
    /// A new subscription cannot be combined with the current ones
    /// (`InvalidSubscriptionUnion`).
    InvalidSubscriptionUnion(String),
    /// A stream's data was not pulled within `max_stream_pull_interval`; the stream was halted
    /// (`TimeoutException("No records were pulled for more than ...")`).
    StreamPullTimeout(String),
    /// The runloop stopped normally (the cause a stopped runloop's `runloop_done` carries).
    RunloopStopped,
    /// The user's record handler failed.
    Handler(String),
}

impl fmt::Display for ConsumerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConsumerError::Kafka(error) => write!(f, "{error}"),
            ConsumerError::CommitTimeout => f.write_str("commit timeout"),
            ConsumerError::InvalidSubscriptionUnion(text) => {
                write!(f, "invalid subscription union: {text}")
            }
            ConsumerError::StreamPullTimeout(text) => write!(f, "{text}"),
            ConsumerError::RunloopStopped => f.write_str("the runloop has stopped"),
            ConsumerError::Handler(text) => write!(f, "handler failed: {text}"),
        }
    }
}

impl From<KafkaError> for ConsumerError {
    fn from(error: KafkaError) -> Self {
        ConsumerError::Kafka(error)
    }
}

/// A queue operation's failure as the consumer core sees it: an interruption (ZIO's answer to a
/// shut-down queue) stays one; a closed queue, which only the `ClosedQueue` protocol's command
/// queue can be, is a defect wherever it reaches.
pub(crate) fn queue_failure<C>(error: QueueError<C>) -> Cause<ConsumerError> {
    match error {
        QueueError::Interrupted(interrupted) => interrupted.into(),
        QueueError::Closed(_) => Cause::Die("a queue that is never closed was closed".into()),
    }
}

/// ZIO's `.orDie`: a typed failure becomes a defect; defects and interruptions pass through.
pub(crate) fn or_die(cause: Cause<ConsumerError>) -> Cause<Infallible> {
    match cause {
        Cause::Fail(error) => Cause::Die(format!("{error}").into()),
        Cause::Die(text) => Cause::Die(text),
        Cause::Interrupt(by) => Cause::Interrupt(by),
        Cause::Killed { by } => Cause::Killed { by },
    }
}
