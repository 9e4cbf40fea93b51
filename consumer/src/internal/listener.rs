//! The user's rebalance listener (zio-kafka's `RebalanceListener`, set with
//! `ConsumerSettings.withRebalanceListener`).
//!
//! Its callbacks run inside the client's `poll`, `unsubscribe` and `close`, on the runloop's
//! fiber, after the consumer's own handling of the same event (zio-kafka composes
//! `rebalanceCoordinator.toRebalanceListener ++ userListener`, and `++` runs the second only when
//! the first succeeded). Each callback gets the partitions and the client (zio-kafka's
//! `RebalanceConsumer`: it may commit, for example). A callback's failure is thrown from the
//! Java listener method (`getOrThrowFiberFailure`), so the client completes the rebalance and
//! then throws it from the call that ran the callback (KAFKA-4600): a poll that throws fails
//! the runloop, and an `unsubscribe` that throws fails the command that changed the
//! subscription (for example `RemoveSubscription`, whose caller is answered with the failure
//! while the runloop fails too).

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;

use super::error::ConsumerError;
use crate::kafka::{KafkaClient, TopicPartition};
use crate::rt::Exit;

/// What a callback returns: an effect that may borrow the client while it runs.
pub type ListenerFuture<'a> = Pin<Box<dyn Future<Output = Exit<(), ConsumerError>> + 'a>>;

/// One callback: the partitions concerned and the client.
pub type ListenerCallback =
    Rc<dyn for<'a> Fn(BTreeSet<TopicPartition>, &'a dyn KafkaClient) -> ListenerFuture<'a>>;

/// The user's callbacks (zio-kafka's `RebalanceListener(onAssigned, onRevoked, onLost)`).
#[derive(Clone)]
pub struct UserRebalanceListener {
    pub on_assigned: ListenerCallback,
    pub on_revoked: ListenerCallback,
    pub on_lost: ListenerCallback,
}

impl UserRebalanceListener {
    /// A listener whose `on_lost` is its `on_revoked`, as zio-kafka's two-argument
    /// `RebalanceListener.apply` (and the Java interface's default) make it.
    pub fn new(on_assigned: ListenerCallback, on_revoked: ListenerCallback) -> Self {
        UserRebalanceListener {
            on_assigned,
            on_lost: on_revoked.clone(),
            on_revoked,
        }
    }

    /// The same listener with its own `on_lost`.
    pub fn with_on_lost(mut self, on_lost: ListenerCallback) -> Self {
        self.on_lost = on_lost;
        self
    }

    /// A listener that does nothing (`RebalanceListener.noop`).
    pub fn noop() -> Self {
        let nothing: ListenerCallback = Rc::new(|_, _| Box::pin(async { Ok(()) }));
        UserRebalanceListener::new(nothing.clone(), nothing)
    }
}

impl fmt::Debug for UserRebalanceListener {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("UserRebalanceListener { .. }")
    }
}
