//! [`Promise`]: a variable completed at most once that fibers wait on (ZIO `Promise[E, A]`).
//!
//! As in ZIO: completing returns whether this call won (`succeed`, `fail`, `fail_cause`,
//! `complete`); a completed promise never changes; `await` suspends interruptibly until
//! completion and then returns the same exit to every waiter; nothing else ever wakes a waiter,
//! so a promise nobody completes is waited on forever.

use std::cell::RefCell;
use std::rc::Rc;
use std::task::Poll;

use super::fiber::{Blocking, WaiterList};
use super::{Cause, Exit, Interrupted, ObjectRef, Releasable, Rt};

/// The names of a promise's operations as events report them ([`crate::rt::Event::Op`]).
pub mod ops {
    /// A completion (`succeed`, `fail`, `complete`); detail 1 when it won, 0 when the promise
    /// was already completed. A won completion is progress for the simulation's hang verdict.
    pub const COMPLETE: &str = "promise.complete";
    /// `is_done`; detail 1 when the promise was completed.
    pub const IS_DONE: &str = "promise.is_done";
}

/// A write-once variable fibers can wait on. Cloning shares it.
pub struct Promise<A, E> {
    inner: Rc<PromiseInner<A, E>>,
    rt: Rt,
}

impl<A, E> Clone for Promise<A, E> {
    fn clone(&self) -> Self {
        Promise {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

struct PromiseInner<A, E> {
    object: ObjectRef,
    value: RefCell<Option<Exit<A, E>>>,
    waiters: WaiterList,
}

impl<A: Clone, E: Clone> Promise<A, E> {
    /// A new, empty promise labelled `label` in reports (for example
    /// `promise:RemoveSubscription#7`).
    pub fn new(rt: &Rt, label: impl Into<Rc<str>>) -> Self
    where
        A: 'static,
        E: 'static,
    {
        let object = rt.object("promise", label);
        let inner = Rc::new(PromiseInner {
            object,
            value: RefCell::new(None),
            waiters: WaiterList::default(),
        });
        let weak: std::rc::Weak<dyn Releasable> = Rc::downgrade(&inner) as _;
        rt.register(weak);
        Promise {
            inner,
            rt: rt.clone(),
        }
    }

    /// The promise's object, for reports.
    pub fn object(&self) -> &ObjectRef {
        &self.inner.object
    }

    /// Completes with a value; returns whether this call completed the promise.
    pub async fn succeed(&self, value: A) -> Result<bool, Interrupted> {
        self.complete(Ok(value)).await
    }

    /// Completes with a typed failure; returns whether this call completed the promise.
    pub async fn fail(&self, error: E) -> Result<bool, Interrupted> {
        self.complete(Err(Cause::Fail(error))).await
    }

    /// Completes with a cause (ZIO `failCause`); returns whether this call completed it.
    pub async fn fail_cause(&self, cause: Cause<E>) -> Result<bool, Interrupted> {
        self.complete(Err(cause)).await
    }

    /// Completes with an exit (ZIO `done`); returns whether this call completed the promise.
    pub async fn complete(&self, exit: Exit<A, E>) -> Result<bool, Interrupted> {
        self.rt.checkpoint().await?;
        Ok(self.complete_now(exit))
    }

    /// Completes without a scheduling point. For code that must complete atomically with
    /// another step (the `ClosedQueue` protocol's close-and-fail).
    pub fn complete_now(&self, exit: Exit<A, E>) -> bool {
        let won = {
            let mut value = self.inner.value.borrow_mut();
            if value.is_some() {
                false
            } else {
                *value = Some(exit);
                true
            }
        };
        self.rt
            .observe_op(&self.inner.object, ops::COMPLETE, won as u64);
        if won {
            self.inner.waiters.wake_all();
        }
        won
    }

    /// Whether the promise is completed (ZIO `isDone`): a scheduling point.
    pub async fn is_done(&self) -> Result<bool, Interrupted> {
        self.rt.checkpoint().await?;
        let done = self.is_done_now();
        self.rt
            .observe_op(&self.inner.object, ops::IS_DONE, done as u64);
        Ok(done)
    }

    /// Whether the promise is completed, without a scheduling point.
    pub fn is_done_now(&self) -> bool {
        self.inner.value.borrow().is_some()
    }

    /// The exit, if completed (ZIO `poll`), without a scheduling point.
    pub fn poll_now(&self) -> Option<Exit<A, E>> {
        self.inner.value.borrow().clone()
    }

    /// Waits until the promise is completed and returns its exit; an interruptible await point.
    /// The outer `Err` is an interruption of the waiting fiber.
    pub async fn await_exit(&self) -> Result<Exit<A, E>, Interrupted> {
        self.rt.checkpoint().await?;
        let inner = &self.inner;
        Blocking::new(&self.rt, &inner.object, |cx, waiter| {
            match &*inner.value.borrow() {
                Some(exit) => Poll::Ready(exit.clone()),
                None => {
                    inner.waiters.register(waiter, cx.waker());
                    Poll::Pending
                }
            }
        })
        .deregister_from(&inner.waiters)
        .await
    }

    /// Waits for the promise (ZIO `await`): its value, or its cause, or the waiter's own
    /// interruption.
    pub async fn wait(&self) -> Exit<A, E> {
        match self.await_exit().await {
            Ok(exit) => exit,
            Err(interrupted) => Err(interrupted.into()),
        }
    }
}

impl<A, E> Releasable for PromiseInner<A, E> {
    fn release(&self) {
        self.value.borrow_mut().take();
        self.waiters.clear();
    }
}
