//! `RunloopAccess` (zio-kafka's `RunloopAccess.scala`): starts the runloop lazily on the first
//! subscription, in the consumer's scope, and gives subscriptions their `StreamControl`.
//!
//! The runloop's state goes NotStarted, Started, Finalized; once the consumer scope begins to
//! close it is Finalized and calls through `with_runloop` do nothing. A subscription registers,
//! in its own scope, the finalizer that removes it (`.orDie` in `Master`, `.ignore` in every
//! later protocol) and then, if the removal returned, emits `SubscriptionFinalized`.

use std::cell::RefCell;
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;
use std::time::Duration;

use super::consumer_access::ConsumerAccess;
use super::diagnostics::{DiagnosticEvent, Diagnostics};
use super::error::{or_die, ConsumerError};
use super::runloop::{PartitionsTake, Runloop};
use super::settings::ConsumerSettings;
use super::subscription::subscription_matches;
use crate::kafka::Subscription;
use crate::rt::{Cause, Exit, Hub, HubSubscription, Promise, Rt, Scope};

/// How often the runloop's metrics fiber wakes (`runloopMetricsSchedule`, 500 ms). It is why a
/// hung consumer is never quiescent; it sleeps as a background loop, so that a run where only it
/// can still run is proven stuck all the same.
const METRICS_INTERVAL: Duration = Duration::from_millis(500);

enum RunloopState {
    NotStarted,
    /// Being made by a fiber; others wait on the promise.
    Starting(Promise<(), ConsumerError>),
    Started(Runloop),
    Finalized,
}

/// Lazy access to the runloop. Cloning shares it.
#[derive(Clone)]
pub struct RunloopAccess {
    inner: Rc<Inner>,
}

struct Inner {
    rt: Rt,
    settings: ConsumerSettings,
    consumer_access: ConsumerAccess,
    hub: Hub<PartitionsTake>,
    diagnostics: Diagnostics,
    consumer_scope: Scope,
    state: RefCell<RunloopState>,
}

impl RunloopAccess {
    /// Access to a runloop that will live in `consumer_scope`.
    pub fn new(
        rt: &Rt,
        settings: ConsumerSettings,
        consumer_access: ConsumerAccess,
        hub: Hub<PartitionsTake>,
        diagnostics: Diagnostics,
        consumer_scope: Scope,
    ) -> RunloopAccess {
        RunloopAccess {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                settings,
                consumer_access,
                hub,
                diagnostics,
                consumer_scope,
                state: RefCell::new(RunloopState::NotStarted),
            }),
        }
    }

    /// The partitions hub (tests subscribe to it directly, as zio-kafka's RunloopSpec does).
    pub fn partitions_hub(&self) -> &Hub<PartitionsTake> {
        &self.inner.hub
    }

    /// The runloop, if started and not finalized.
    pub fn runloop(&self) -> Option<Runloop> {
        match &*self.inner.state.borrow() {
            RunloopState::Started(runloop) => Some(runloop.clone()),
            _ => None,
        }
    }

    /// `withRunloopZIO`: runs `when_running` with the runloop if it is started, starting it
    /// first when `require_running`; does nothing when not started or finalized.
    pub async fn with_runloop<F, Fut>(
        &self,
        require_running: bool,
        when_running: F,
    ) -> Exit<(), ConsumerError>
    where
        F: FnOnce(Runloop) -> Fut,
        Fut: Future<Output = Exit<(), ConsumerError>>,
    {
        let inner = &self.inner;
        // `Ref.Synchronized`: updates are serialised; a start in progress is waited for.
        for _attempt in 0..3 {
            inner.rt.checkpoint().await?;
            let starting = match &*inner.state.borrow() {
                RunloopState::Started(runloop) => Some(Ok(runloop.clone())),
                RunloopState::Finalized => return Ok(()),
                RunloopState::NotStarted if !require_running => return Ok(()),
                RunloopState::NotStarted => None,
                RunloopState::Starting(promise) => Some(Err(promise.clone())),
            };
            match starting {
                Some(Ok(runloop)) => return when_running(runloop).await,
                Some(Err(promise)) => {
                    promise.wait().await?;
                }
                None => {
                    let promise = Promise::new(&inner.rt, "promise:runloop_started");
                    *inner.state.borrow_mut() = RunloopState::Starting(promise.clone());
                    let made = inner.rt.uninterruptible(self.make_runloop()).await;
                    match made {
                        Ok(runloop) => {
                            *inner.state.borrow_mut() = RunloopState::Started(runloop.clone());
                            promise.succeed(()).await?;
                            return when_running(runloop).await;
                        }
                        Err(cause) => {
                            *inner.state.borrow_mut() = RunloopState::NotStarted;
                            promise.fail_cause(cause.clone()).await?;
                            return Err(cause);
                        }
                    }
                }
            }
        }
        Err(Cause::Die(
            "the runloop did not start after three attempts".into(),
        ))
    }

    /// `Runloop.make(...).interruptible.withFinalizer(_ => state := Finalized)`, in the consumer
    /// scope. The finalizers run, last registered first: Finalized, F_runloop (shutdown,
    /// StopRunloop, join), the scoped fibers interrupted, the commit queue and the command
    /// queue shut down, then `RunloopFinalized`.
    async fn make_runloop(&self) -> Exit<Runloop, ConsumerError> {
        let inner = &self.inner;
        let rt = &inner.rt;
        let scope = &inner.consumer_scope;
        let runloop = Runloop::new(
            rt,
            inner.settings.clone(),
            inner.consumer_access.clone(),
            inner.hub.clone(),
            inner.diagnostics.clone(),
        );
        let diagnostics = inner.diagnostics.clone();
        scope
            .add_finalizer("runloop_finalized", move |_| async move {
                diagnostics.emit(DiagnosticEvent::RunloopFinalized);
                Ok(())
            })
            .await?;
        let queue = runloop.channel().command_queue.clone();
        scope
            .add_finalizer("command_queue_shutdown", move |_| async move {
                Ok(queue.shutdown().await?)
            })
            .await?;
        let committer = runloop.committer().clone();
        scope
            .add_finalizer("commit_queue_shutdown", move |_| async move {
                committer.shutdown().await.map_err(or_die)
            })
            .await?;
        // `.interruptible`: the fibers forked here are interruptible, whoever subscribes.
        let (fiber, metrics) = rt
            .interruptible(async {
                let fiber = rt.fork_daemon("runloop", runloop.clone().run());
                let (metrics_rt, metrics_runloop) = (rt.clone(), runloop.clone());
                let metrics =
                    rt.fork_daemon::<(), ConsumerError, _>("runloop_metrics", async move {
                        // `observeRunloopMetrics`: a periodic read of the queue sizes.
                        loop {
                            metrics_rt.background_sleep(METRICS_INTERVAL).await?;
                            let _ = metrics_runloop.channel().command_queue.len_now();
                        }
                    });
                (fiber, metrics)
            })
            .await;
        let scoped = fiber.clone();
        scope
            .add_finalizer("interrupt_scoped_fibers", move |_| async move {
                let _ = metrics.interrupt().await?;
                let _ = scoped.interrupt().await?;
                Ok(())
            })
            .await?;
        let stopping = runloop.clone();
        scope
            .add_finalizer("runloop_shutdown", move |_| async move {
                let _ = stopping.shutdown().await;
                let _ = stopping.stop_runloop().await;
                match fiber.join().await {
                    Ok(()) => Ok(()),
                    // `fiber.join.orDie`.
                    Err(cause) => Err(or_die(cause)),
                }
            })
            .await?;
        let access = self.clone();
        scope
            .add_finalizer("runloop_state_finalized", move |_| async move {
                *access.inner.state.borrow_mut() = RunloopState::Finalized;
                Ok(())
            })
            .await?;
        Ok(runloop)
    }

    /// `subscribe`: subscribes to the partitions hub, adds the subscription (starting the
    /// runloop), and registers in `subscription_scope` the finalizer that removes it.
    pub async fn subscribe(
        &self,
        subscription: Subscription,
        subscription_scope: &Scope,
    ) -> Exit<StreamControl, ConsumerError> {
        let inner = &self.inner;
        let rt = &inner.rt;
        let ended: Promise<(), Infallible> = Promise::new(rt, "promise:stream_ended");
        // `ZStream.fromHubScoped`: the hub subscription ends when the subscription scope closes.
        let hub_subscription = Rc::new(RefCell::new(Some(Rc::new(inner.hub.subscribe().await?))));
        let dropping = hub_subscription.clone();
        subscription_scope
            .add_finalizer("hub_unsubscribe", move |_| async move {
                dropping.borrow_mut().take();
                Ok(())
            })
            .await?;
        let adding = subscription.clone();
        self.with_runloop(true, move |runloop| async move {
            runloop.add_subscription(adding).await
        })
        .await?;
        let (access, removing) = (self.clone(), subscription.clone());
        let dies = inner
            .settings
            .protocol
            .subscription_finalizer_dies_on_failure();
        subscription_scope
            .add_finalizer("remove_subscription", move |_| async move {
                let removed = access
                    .with_runloop(false, move |runloop| async move {
                        runloop.remove_subscription(removing).await
                    })
                    .await;
                let result = match removed {
                    Ok(()) => Ok(()),
                    // `.orDie` in Master; `.ignore` later. Neither absorbs an interruption.
                    Err(Cause::Fail(_)) if !dies => Ok(()),
                    Err(cause) => Err(or_die(cause)),
                };
                // `removeSubscription(..) <* emit(SubscriptionFinalized)`: a removal that died or
                // was interrupted skips the event.
                if result.is_ok() {
                    access
                        .inner
                        .diagnostics
                        .emit(DiagnosticEvent::SubscriptionFinalized);
                }
                result
            })
            .await?;
        Ok(StreamControl {
            rt: rt.clone(),
            access: self.clone(),
            subscription,
            ended,
            hub_subscription,
        })
    }
}

/// A subscription's control (zio-kafka's `StreamControl`): its stream of partition
/// assignments, and `end`.
#[derive(Clone)]
pub struct StreamControl {
    rt: Rt,
    access: RunloopAccess,
    subscription: Subscription,
    ended: Promise<(), Infallible>,
    hub_subscription: Rc<RefCell<Option<Rc<HubSubscription<PartitionsTake>>>>>,
}

impl StreamControl {
    /// The subscription.
    pub fn subscription(&self) -> &Subscription {
        &self.subscription
    }

    /// The next message of the partitions hub, with only the streams of this subscription's
    /// partitions (`Subscription.subscriptionMatches`), or `None` once `end` was called
    /// (`stream.interruptWhen(ended)`) or the subscription scope closed.
    pub async fn next(&self) -> Exit<Option<PartitionsTake>, ConsumerError> {
        match self.next_unfiltered().await? {
            Some(PartitionsTake::Streams(streams)) => {
                let mine = streams
                    .into_iter()
                    .filter(|stream| subscription_matches(&self.subscription, stream.tp()))
                    .collect();
                Ok(Some(PartitionsTake::Streams(mine)))
            }
            other => Ok(other),
        }
    }

    async fn next_unfiltered(&self) -> Exit<Option<PartitionsTake>, ConsumerError> {
        if self.ended.is_done().await? {
            return Ok(None);
        }
        let subscription = self.hub_subscription.clone();
        let ended = self.ended.clone();
        self.rt
            .race_first(
                "stream_control.next",
                async move {
                    // A clone of the handle, so that no `RefCell` borrow is held across the wait.
                    let hub = subscription.borrow().clone();
                    match hub {
                        Some(hub) => Ok(Some(hub.take().await?)),
                        None => Ok(None),
                    }
                },
                async move {
                    let _ = ended.wait().await;
                    Ok(None)
                },
            )
            .await
    }

    /// `end`: ends the stream of partition assignments and the subscription's partition streams
    /// (`EndStreamsBySubscription`).
    pub async fn end(&self) -> Exit<(), ConsumerError> {
        self.ended.succeed(()).await?;
        let subscription = self.subscription.clone();
        self.access
            .with_runloop(false, move |runloop| async move {
                runloop.end_streams_by_subscription(subscription).await
            })
            .await
    }
}
