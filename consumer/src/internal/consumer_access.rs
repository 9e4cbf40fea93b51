//! `ConsumerAccess` (zio-kafka's `ConsumerAccess.scala`, the `ReentrantLock` version): the Kafka
//! client behind a fair lock, because the Java client is not thread safe.
//!
//! Three ways in, as in zio-kafka:
//! - [`ConsumerAccess::with_consumer`] (`withConsumerZIO`), for the user-facing calls
//!   (`committed`, `position`...): takes the lock, then runs the client call on a forked fiber
//!   and joins it. If the caller is interrupted while the call runs, it calls `wakeup()` on the
//!   client and waits for the call to end; a call cut short by `Wakeup` ends in interruption.
//!   A wakeup that comes after the call has already returned stays pending in the client, and
//!   the next blocking call, usually the runloop's poll, throws `Wakeup` instead: a crash path
//!   of the runloop (a poll that throws anything but an authorization error fails it);
//! - [`ConsumerAccess::runloop_access`] (`runloopAccess`), for the runloop: takes the lock and
//!   runs the runloop's own code, on its own fiber;
//! - [`ConsumerAccess::rebalance_listener_access`] (`rebalanceListenerAccess`), for the
//!   rebalance listener, which runs inside the runloop's poll and so already holds the lock:
//!   like `with_consumer` without the lock.
//!
//! The lock is ZIO's `ReentrantLock(fairness = true)`: reentrant per fiber, handed to the
//! waiters in the order they came. Taking a free lock or releasing one nobody waits for is not
//! a scheduling point (ZIO's `Ref.modify` inside the lock does not yield either), so a consumer
//! whose user makes no client call schedules exactly as one without the lock; a contended lock
//! is waited for on a promise labelled `lock:consumer_access`, which reports name.
//!
//! Closing the client (the consumer scope's last finalizer) does not take the lock, as in the
//! `ReentrantLock` version of zio-kafka.

use std::cell::RefCell;
use std::collections::VecDeque;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;

use std::pin::Pin;

use super::error::ConsumerError;
use crate::kafka::{KafkaClient, KafkaError};
use crate::rt::{Cause, Exit, FiberId, Interrupted, Promise, Rt};

/// The label of the promise a fiber waits on for the contended lock.
pub const LOCK_LABEL: &str = "lock:consumer_access";

/// The client and its lock. Cloning shares them.
#[derive(Clone)]
pub struct ConsumerAccess {
    inner: Rc<Inner>,
}

struct Inner {
    rt: Rt,
    client: Rc<dyn KafkaClient>,
    lock: RefCell<LockState>,
}

#[derive(Default)]
struct LockState {
    holder: Option<FiberId>,
    /// How many times the holder took the lock (it is reentrant).
    depth: u32,
    /// The fibers waiting, first come first served, each with the promise that hands it the lock.
    waiters: VecDeque<(FiberId, Promise<(), Infallible>)>,
}

/// What a call through the access runs: an effect that may borrow the client while it runs.
pub type AccessFuture<'a, T> = Pin<Box<dyn Future<Output = Exit<T, ConsumerError>> + 'a>>;

/// A call through the access: given the client, the effect to run with it.
pub trait ClientCall<T>:
    for<'a> FnOnce(&'a dyn KafkaClient) -> AccessFuture<'a, T> + 'static
{
}

impl<T, F> ClientCall<T> for F where
    F: for<'a> FnOnce(&'a dyn KafkaClient) -> AccessFuture<'a, T> + 'static
{
}

/// A client error as the consumer core's failure.
pub fn kafka_failure(error: KafkaError) -> Cause<ConsumerError> {
    Cause::Fail(ConsumerError::Kafka(error))
}

impl ConsumerAccess {
    /// Access to `client`.
    pub fn new(rt: &Rt, client: Rc<dyn KafkaClient>) -> ConsumerAccess {
        ConsumerAccess {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                client,
                lock: RefCell::new(LockState::default()),
            }),
        }
    }

    /// The client, for the runloop's calls made while it holds the lock and for `close`.
    pub fn client(&self) -> &Rc<dyn KafkaClient> {
        &self.inner.client
    }

    /// Whether a fiber holds the lock now.
    pub fn is_locked(&self) -> bool {
        self.inner.lock.borrow().holder.is_some()
    }

    /// `withConsumerZIO`: the lock, then the call on a forked fiber named `name`, with `wakeup`
    /// when the caller is interrupted during the call; the lock is released however it ends.
    pub async fn with_consumer<T, F>(&self, name: &str, call: F) -> Exit<T, ConsumerError>
    where
        T: Clone + 'static,
        F: ClientCall<T>,
    {
        self.lock().await?;
        let result = self.without_lock(name, call).await;
        self.unlock();
        result
    }

    /// `runloopAccess`: `effect` under the lock, on the caller's fiber.
    pub async fn runloop_access<T, Fut>(&self, effect: Fut) -> Exit<T, ConsumerError>
    where
        Fut: Future<Output = Exit<T, ConsumerError>>,
    {
        self.lock().await?;
        let result = effect.await;
        self.unlock();
        result
    }

    /// `rebalanceListenerAccess` (= `withConsumerNoPermit`): the call on a forked fiber, with
    /// `wakeup` when the caller is interrupted, without the lock (the runloop holds it).
    pub async fn rebalance_listener_access<T, F>(
        &self,
        name: &str,
        call: F,
    ) -> Exit<T, ConsumerError>
    where
        T: Clone + 'static,
        F: ClientCall<T>,
    {
        self.without_lock(name, call).await
    }

    /// `withConsumerNoPermit`: `ZIO.blocking(f(consumer)).catchSome { case WakeupException =>
    /// ZIO.interrupt }.fork.flatMap(fib => fib.join.onInterrupt(wakeup *> fib.interrupt))`.
    async fn without_lock<T, F>(&self, name: &str, call: F) -> Exit<T, ConsumerError>
    where
        T: Clone + 'static,
        F: ClientCall<T>,
    {
        let rt = self.inner.rt.clone();
        let (client, call_rt) = (self.inner.client.clone(), rt.clone());
        let fiber = rt.fork::<T, ConsumerError, _>(name, async move {
            match call(&*client).await {
                Err(Cause::Fail(ConsumerError::Kafka(KafkaError::Wakeup))) => {
                    Err(Cause::Interrupt(call_rt.current_fiber()))
                }
                other => other,
            }
        });
        match fiber.await_exit().await {
            Ok(exit) => exit,
            Err(interrupted) => {
                // `onInterrupt` runs uninterruptibly: wake the client up, then wait for the call.
                self.inner.client.wakeup();
                let _ = rt
                    .uninterruptible(async { fiber.interrupt().await.map(|_| ()) })
                    .await;
                Err(interrupted.into())
            }
        }
    }

    /// `ReentrantLock.lock`: free or held by this fiber, at once; otherwise wait in line.
    async fn lock(&self) -> Result<(), Interrupted> {
        let rt = &self.inner.rt;
        let me = rt.current_fiber();
        let turn = {
            let mut lock = self.inner.lock.borrow_mut();
            match lock.holder {
                None => {
                    lock.holder = Some(me);
                    lock.depth = 1;
                    return Ok(());
                }
                Some(holder) if holder == me => {
                    lock.depth += 1;
                    return Ok(());
                }
                Some(_) => {
                    let turn = Promise::new(rt, LOCK_LABEL);
                    lock.waiters.push_back((me, turn.clone()));
                    turn
                }
            }
        };
        match turn.await_exit().await {
            Ok(_) => Ok(()),
            Err(interrupted) => {
                // Leave the line; if the lock was handed over meanwhile, pass it on.
                let handed_over = {
                    let mut lock = self.inner.lock.borrow_mut();
                    lock.waiters.retain(|(fiber, _)| *fiber != me);
                    lock.holder == Some(me)
                };
                if handed_over {
                    self.unlock();
                }
                Err(interrupted)
            }
        }
    }

    /// `ReentrantLock.unlock`: the last release hands the lock to the first waiter.
    fn unlock(&self) {
        let next = {
            let mut lock = self.inner.lock.borrow_mut();
            lock.depth = lock.depth.saturating_sub(1);
            if lock.depth > 0 {
                return;
            }
            match lock.waiters.pop_front() {
                Some((fiber, turn)) => {
                    lock.holder = Some(fiber);
                    lock.depth = 1;
                    Some(turn)
                }
                None => {
                    lock.holder = None;
                    None
                }
            }
        };
        if let Some(turn) = next {
            turn.complete_now(Ok(()));
        }
    }
}
