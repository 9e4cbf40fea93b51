//! [`Hub`]: a broadcast channel (ZIO `Hub.unbounded`), for the consumer's partitions hub.
//!
//! As in ZIO: a subscriber sees only what is published after it subscribed; `publish` reaches
//! every current subscriber in one step; `shutdown` interrupts subscribers waiting for a message
//! and makes later publishes and takes fail with interruption. A subscription ends when its
//! handle is dropped (ZIO's subscription is scoped).

use std::cell::{Cell, RefCell};
use std::rc::{Rc, Weak};

use super::{FiberId, Interrupted, ObjectRef, Queue, QueueError, Releasable, Rt};

/// A broadcast channel. Cloning shares it.
pub struct Hub<T> {
    inner: Rc<HubInner<T>>,
    rt: Rt,
}

impl<T> Clone for Hub<T> {
    fn clone(&self) -> Self {
        Hub {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

struct HubInner<T> {
    object: ObjectRef,
    subscribers: RefCell<Vec<Queue<T>>>,
    shut_down_by: Cell<Option<FiberId>>,
    subscriptions_made: Cell<u64>,
}

/// One subscriber's view of a hub: the messages published since it subscribed.
pub struct HubSubscription<T> {
    queue: Queue<T>,
    hub: Weak<HubInner<T>>,
}

impl<T: Clone + 'static> Hub<T> {
    /// A new hub labelled `label` in reports (for example `partitions_hub`).
    pub fn new(rt: &Rt, label: impl Into<Rc<str>>) -> Self {
        let inner = Rc::new(HubInner {
            object: rt.object("hub", label),
            subscribers: RefCell::new(Vec::new()),
            shut_down_by: Cell::new(None),
            subscriptions_made: Cell::new(0),
        });
        let weak: std::rc::Weak<dyn Releasable> = Rc::downgrade(&inner) as _;
        rt.register(weak);
        Hub {
            inner,
            rt: rt.clone(),
        }
    }

    /// Subscribes: the subscription receives every message published from now on.
    pub async fn subscribe(&self) -> Result<HubSubscription<T>, Interrupted> {
        self.rt.checkpoint().await?;
        if let Some(by) = self.inner.shut_down_by.get() {
            return Err(Interrupted { by });
        }
        let number = self.inner.subscriptions_made.get() + 1;
        self.inner.subscriptions_made.set(number);
        let label = format!("{}:subscription#{number}", self.inner.object.label);
        let queue = Queue::new(&self.rt, label);
        self.inner.subscribers.borrow_mut().push(queue.clone());
        self.rt
            .observe_op(&self.inner.object, "hub.subscribe", number);
        Ok(HubSubscription {
            queue,
            hub: Rc::downgrade(&self.inner),
        })
    }

    /// Publishes to every current subscriber; fails with interruption after shutdown.
    pub async fn publish(&self, message: T) -> Result<(), Interrupted> {
        self.rt.checkpoint().await?;
        if let Some(by) = self.inner.shut_down_by.get() {
            self.rt.observe_op(&self.inner.object, "hub.publish", 0);
            return Err(Interrupted { by });
        }
        let subscribers = self.inner.subscribers.borrow().clone();
        self.rt.observe_op(
            &self.inner.object,
            "hub.publish",
            subscribers.len() as u64 + 1,
        );
        for subscriber in &subscribers {
            // A subscriber queue is only ever shut down together with the hub.
            let _ = subscriber.offer_now(message.clone());
        }
        Ok(())
    }

    /// Shuts the hub down: subscribers waiting are interrupted; later publishes fail.
    pub async fn shutdown(&self) -> Result<(), Interrupted> {
        self.rt.checkpoint().await?;
        let by = self.rt.current_fiber();
        if self.inner.shut_down_by.get().is_none() {
            self.inner.shut_down_by.set(Some(by));
        }
        self.rt.observe_op(&self.inner.object, "hub.shutdown", 0);
        let subscribers = std::mem::take(&mut *self.inner.subscribers.borrow_mut());
        for subscriber in &subscribers {
            subscriber.shutdown_now(by);
        }
        Ok(())
    }
}

impl<T: Clone> HubSubscription<T> {
    /// Takes the next message, waiting for one; fails with interruption once the hub is shut
    /// down or the caller is interrupted.
    pub async fn take(&self) -> Result<T, Interrupted> {
        self.queue.take().await.map_err(closed_is_unreachable)
    }

    /// Takes every message waiting, without waiting.
    pub async fn take_all(&self) -> Result<Vec<T>, Interrupted> {
        self.queue.take_all().await.map_err(closed_is_unreachable)
    }
}

fn closed_is_unreachable(error: QueueError<()>) -> Interrupted {
    match error {
        QueueError::Interrupted(interrupted) => interrupted,
        QueueError::Closed(()) => unreachable!("hub subscription queues are never closed"),
    }
}

impl<T> Drop for HubSubscription<T> {
    fn drop(&mut self) {
        if let Some(hub) = self.hub.upgrade() {
            let id = self.queue.object().id;
            hub.subscribers
                .borrow_mut()
                .retain(|queue| queue.object().id != id);
        }
    }
}

impl<T> Releasable for HubInner<T> {
    fn release(&self) {
        self.subscribers.borrow_mut().clear();
    }
}
