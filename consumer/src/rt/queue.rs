//! [`Queue`]: an unbounded FIFO queue of fibers' messages (ZIO `Queue.unbounded`), plus an
//! atomic close-and-drain for the `ClosedQueue` protocol.
//!
//! As in ZIO:
//! - `offer` never waits on an unbounded queue; on a shut-down queue it fails with interruption;
//! - `take` waits (interruptibly) for an element; `take_all` never waits; `take_chunk(max)` waits
//!   for one element and then takes up to `max` (ZIO `takeBetween(1, max)`, which the runloop
//!   uses to read its commands in chunks);
//! - `shutdown` interrupts every fiber waiting in `take`, discards the elements, and makes every
//!   later `offer` and `take` fail with interruption at once. It does nothing for fibers waiting
//!   elsewhere, for example on the promise of a command that was in the queue.
//!
//! Not in ZIO: `close_and_drain(cause)` closes the queue and takes every element in one step,
//! with no scheduling point in between, so no offer can slip between the last drain and the
//! close; later offers and takes fail with `cause`.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::rc::Rc;
use std::task::Poll;

use super::fiber::{Blocking, WaiterList};
use super::{FiberId, Interrupted, ObjectRef, Releasable, Rt};

/// The names of the queue's operations as events report them ([`crate::rt::Event::Op`]): what a
/// hang report reads a command queue's history from.
pub mod ops {
    /// `offer`; detail 1 when the queue accepted the element, 0 when it refused it.
    pub const OFFER: &str = "queue.offer";
    /// `offer_all`; detail as for [`OFFER`].
    pub const OFFER_ALL: &str = "queue.offer_all";
    /// `take` or `take_chunk`; detail: how many elements were taken.
    pub const TAKE: &str = "queue.take";
    /// `poll`; detail 1 when an element was taken.
    pub const POLL: &str = "queue.poll";
    /// `take_all`; detail: how many elements were taken.
    pub const TAKE_ALL: &str = "queue.take_all";
    /// `shutdown`; detail 1 for the first shutdown.
    pub const SHUTDOWN: &str = "queue.shutdown";
    /// `close_and_drain`; detail: how many elements were drained.
    pub const CLOSE_AND_DRAIN: &str = "queue.close_and_drain";
}

/// Why a queue operation did not happen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum QueueError<C> {
    /// The queue was shut down, or the calling fiber was interrupted (ZIO reports both as
    /// interruption).
    Interrupted(Interrupted),
    /// The queue was closed by `close_and_drain` with this cause.
    Closed(C),
}

impl<C> From<Interrupted> for QueueError<C> {
    fn from(interrupted: Interrupted) -> Self {
        QueueError::Interrupted(interrupted)
    }
}

enum QueueState<C> {
    Open,
    /// Shut down by the given fiber.
    ShutDown(FiberId),
    Closed(C),
}

/// An unbounded queue. Cloning shares it. `C` is the cause carried by a closed queue.
pub struct Queue<T, C = ()> {
    inner: Rc<QueueInner<T, C>>,
    rt: Rt,
}

impl<T, C> Clone for Queue<T, C> {
    fn clone(&self) -> Self {
        Queue {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

struct QueueInner<T, C> {
    object: ObjectRef,
    items: RefCell<VecDeque<T>>,
    state: RefCell<QueueState<C>>,
    takers: WaiterList,
}

impl<T, C: Clone> Queue<T, C> {
    /// A new, empty, open queue labelled `label` in reports (for example `command_queue`).
    pub fn new(rt: &Rt, label: impl Into<Rc<str>>) -> Self
    where
        T: 'static,
        C: 'static,
    {
        let inner = Rc::new(QueueInner {
            object: rt.object("queue", label),
            items: RefCell::new(VecDeque::new()),
            state: RefCell::new(QueueState::Open),
            takers: WaiterList::default(),
        });
        let weak: std::rc::Weak<dyn Releasable> = Rc::downgrade(&inner) as _;
        rt.register(weak);
        Queue {
            inner,
            rt: rt.clone(),
        }
    }

    /// The queue's object, for reports.
    pub fn object(&self) -> &ObjectRef {
        &self.inner.object
    }

    /// Fails unless the queue is open.
    fn check_open(&self) -> Result<(), QueueError<C>> {
        match &*self.inner.state.borrow() {
            QueueState::Open => Ok(()),
            QueueState::ShutDown(by) => Err(QueueError::Interrupted(Interrupted { by: *by })),
            QueueState::Closed(cause) => Err(QueueError::Closed(cause.clone())),
        }
    }

    /// Adds an element; fails at once on a shut-down or closed queue.
    pub async fn offer(&self, item: T) -> Result<(), QueueError<C>> {
        self.rt.checkpoint().await?;
        self.offer_now(item)
    }

    /// Adds an element without a scheduling point (for a hub's publish, which reaches every
    /// subscriber in one step).
    pub(crate) fn offer_now(&self, item: T) -> Result<(), QueueError<C>> {
        let accepted = self.check_open();
        self.rt
            .observe_op(&self.inner.object, ops::OFFER, accepted.is_ok() as u64);
        accepted?;
        self.inner.items.borrow_mut().push_back(item);
        self.inner.takers.wake_all();
        Ok(())
    }

    /// Adds elements in order, in one step.
    pub async fn offer_all(&self, items: impl IntoIterator<Item = T>) -> Result<(), QueueError<C>> {
        self.rt.checkpoint().await?;
        let accepted = self.check_open();
        self.rt
            .observe_op(&self.inner.object, ops::OFFER_ALL, accepted.is_ok() as u64);
        accepted?;
        self.inner.items.borrow_mut().extend(items);
        self.inner.takers.wake_all();
        Ok(())
    }

    /// Takes the oldest element, waiting for one; an interruptible await point.
    pub async fn take(&self) -> Result<T, QueueError<C>> {
        let mut items = self.take_up_to(1).await?;
        Ok(items.pop().expect("take_up_to(1) returns one element"))
    }

    /// Waits for at least one element, then takes up to `max` (ZIO `takeBetween(1, max)`).
    pub async fn take_chunk(&self, max: usize) -> Result<Vec<T>, QueueError<C>> {
        assert!(max > 0, "take_chunk needs a positive maximum");
        self.take_up_to(max).await
    }

    async fn take_up_to(&self, max: usize) -> Result<Vec<T>, QueueError<C>> {
        self.rt.checkpoint().await?;
        let inner = &self.inner;
        let taken = Blocking::new(&self.rt, &inner.object, |cx, waiter| {
            if let Err(error) = self.check_open() {
                return Poll::Ready(Err(error));
            }
            let mut items = inner.items.borrow_mut();
            if items.is_empty() {
                inner.takers.register(waiter, cx.waker());
                return Poll::Pending;
            }
            let count = items.len().min(max);
            Poll::Ready(Ok(items.drain(..count).collect::<Vec<T>>()))
        })
        .deregister_from(&inner.takers)
        .await?;
        let detail = taken.as_ref().map_or(0, |items| items.len() as u64);
        self.rt.observe_op(&inner.object, ops::TAKE, detail);
        taken
    }

    /// Takes the oldest element if there is one, without waiting (ZIO `poll`).
    pub async fn poll(&self) -> Result<Option<T>, QueueError<C>> {
        self.rt.checkpoint().await?;
        self.check_open()?;
        let item = self.inner.items.borrow_mut().pop_front();
        self.rt
            .observe_op(&self.inner.object, ops::POLL, item.is_some() as u64);
        Ok(item)
    }

    /// Takes every element without waiting (ZIO `takeAll`).
    pub async fn take_all(&self) -> Result<Vec<T>, QueueError<C>> {
        self.rt.checkpoint().await?;
        self.check_open()?;
        let items: Vec<T> = self.inner.items.borrow_mut().drain(..).collect();
        self.rt
            .observe_op(&self.inner.object, ops::TAKE_ALL, items.len() as u64);
        Ok(items)
    }

    /// Shuts the queue down (ZIO `shutdown`): waiting takers are interrupted, elements are
    /// discarded, later offers and takes fail with interruption. Idempotent.
    pub async fn shutdown(&self) -> Result<(), Interrupted> {
        self.rt.checkpoint().await?;
        self.shutdown_now(self.rt.current_fiber());
        Ok(())
    }

    /// Shuts the queue down without a scheduling point, on behalf of fiber `by`.
    pub(crate) fn shutdown_now(&self, by: FiberId) {
        let first = matches!(*self.inner.state.borrow(), QueueState::Open);
        if first {
            *self.inner.state.borrow_mut() = QueueState::ShutDown(by);
            self.inner.items.borrow_mut().clear();
        }
        self.rt
            .observe_op(&self.inner.object, ops::SHUTDOWN, first as u64);
        self.inner.takers.wake_all();
    }

    /// Closes the queue with `cause` and takes every element, atomically: no operation of any
    /// fiber can come between the close and the drain. Later offers and takes fail with
    /// `cause`. On a queue already closed or shut down it takes nothing.
    pub async fn close_and_drain(&self, cause: C) -> Result<Vec<T>, Interrupted> {
        self.rt.checkpoint().await?;
        let open = matches!(*self.inner.state.borrow(), QueueState::Open);
        let drained: Vec<T> = if open {
            *self.inner.state.borrow_mut() = QueueState::Closed(cause);
            self.inner.items.borrow_mut().drain(..).collect()
        } else {
            Vec::new()
        };
        self.rt.observe_op(
            &self.inner.object,
            ops::CLOSE_AND_DRAIN,
            drained.len() as u64,
        );
        self.inner.takers.wake_all();
        Ok(drained)
    }

    /// Whether the queue was shut down (ZIO `isShutdown`); a scheduling point.
    pub async fn is_shutdown(&self) -> Result<bool, Interrupted> {
        self.rt.checkpoint().await?;
        Ok(matches!(
            *self.inner.state.borrow(),
            QueueState::ShutDown(_)
        ))
    }

    /// The number of elements waiting, without a scheduling point.
    pub fn len_now(&self) -> usize {
        self.inner.items.borrow().len()
    }
}

impl<T, C> Releasable for QueueInner<T, C> {
    fn release(&self) {
        self.items.borrow_mut().clear();
        self.takers.clear();
    }
}
