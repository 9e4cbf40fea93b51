//! The public API (zio-kafka's `Consumer` / `ConsumerLive`): a consumer made in a scope, and
//! `consume_with`, `run_with_graceful_shutdown`, `partitioned_stream`, `plain_stream`,
//! `stop_consumption`.
//!
//! The consumer scope's finalizers run in zio-kafka's order: the runloop's (state Finalized,
//! shutdown and StopRunloop and join, scoped fibers, commit and command queues,
//! `RunloopFinalized`), then the partitions hub's shutdown, then the client's close, then
//! `ConsumerFinalized`. A subscription's scope closes before the consumer scope, so its
//! finalizer (remove the subscription) runs while the runloop should still be there.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use super::access::{RunloopAccess, StreamControl};
use super::consumer_access::{kafka_failure, ConsumerAccess};
use super::diagnostics::{DiagnosticEvent, Diagnostics};
use super::error::{queue_failure, ConsumerError};
use super::labels::RECORD_REACHED_HANDLER;
use super::partition_stream::{CommittableRecord, PartitionStream};
use super::runloop::PartitionsTake;
use super::settings::ConsumerSettings;
use crate::kafka::{KafkaClient, Offset, Offsets, Subscription, TopicPartition};
use crate::rt::{Cause, Exit, ExitKind, Fiber, Hub, LocalBoxFuture, Queue, Rt, Scope};

/// A record handler for `consume_with`.
pub type RecordHandler = Rc<dyn Fn(CommittableRecord) -> LocalBoxFuture<Exit<(), ConsumerError>>>;

/// A consumer (zio-kafka's `Consumer`). Cloning shares it.
#[derive(Clone)]
pub struct Consumer {
    rt: Rt,
    settings: ConsumerSettings,
    access: RunloopAccess,
    consumer_access: ConsumerAccess,
    diagnostics: Diagnostics,
}

impl Consumer {
    /// `Consumer.make`: a consumer living in `consumer_scope`.
    pub async fn make(
        rt: &Rt,
        settings: ConsumerSettings,
        client: Rc<dyn KafkaClient>,
        diagnostics: Diagnostics,
        consumer_scope: &Scope,
    ) -> Exit<Consumer, ConsumerError> {
        let finalized = diagnostics.clone();
        consumer_scope
            .add_finalizer("consumer_finalized", move |_| async move {
                finalized.emit(DiagnosticEvent::ConsumerFinalized);
                Ok(())
            })
            .await?;
        // `ConsumerAccess.make`: acquireRelease(new KafkaConsumer)(_.close(closeTimeout).orDie).
        let (closing, close_timeout) = (client.clone(), settings.close_timeout);
        consumer_scope
            .add_finalizer("close_client", move |_| async move {
                closing
                    .close(close_timeout)
                    .await
                    .map_err(|error| Cause::Die(format!("close failed: {error}").into()))
            })
            .await?;
        let hub: Hub<PartitionsTake> = Hub::new(rt, "partitions_hub");
        let closing_hub = hub.clone();
        consumer_scope
            .add_finalizer("partitions_hub_shutdown", move |_| async move {
                Ok(closing_hub.shutdown().await?)
            })
            .await?;
        let consumer_access = ConsumerAccess::new(rt, client);
        let access = RunloopAccess::new(
            rt,
            settings.clone(),
            consumer_access.clone(),
            hub,
            diagnostics.clone(),
            consumer_scope.clone(),
        );
        Ok(Consumer {
            rt: rt.clone(),
            settings,
            access,
            consumer_access,
            diagnostics,
        })
    }

    /// The static `Consumer.consumeWith`: a consumer in its own scope, consuming until the
    /// handler fails, the runloop fails or consumption is stopped.
    pub async fn consume_with_new(
        rt: &Rt,
        settings: ConsumerSettings,
        client: Rc<dyn KafkaClient>,
        diagnostics: Diagnostics,
        subscription: Subscription,
        handler: RecordHandler,
    ) -> Exit<(), ConsumerError> {
        let rt2 = rt.clone();
        rt.scoped("consumer_scope", move |scope| async move {
            let consumer = Consumer::make(&rt2, settings, client, diagnostics, &scope).await?;
            consumer.consume_with(subscription, handler).await
        })
        .await
    }

    /// The diagnostics recorder.
    pub fn diagnostics(&self) -> &Diagnostics {
        &self.diagnostics
    }

    /// The runloop access (for tests that drive the runloop directly, as RunloopSpec does).
    pub fn runloop_access(&self) -> &RunloopAccess {
        &self.access
    }

    /// The client behind its access lock (for tests that look at the lock).
    pub fn consumer_access(&self) -> &ConsumerAccess {
        &self.consumer_access
    }

    /// `committed`: the group's committed offsets of `partitions`, through the access lock
    /// (`withConsumer`); interrupted during the call, it wakes the client up.
    pub async fn committed(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> Exit<BTreeMap<TopicPartition, Option<Offset>>, ConsumerError> {
        self.consumer_access
            .with_consumer("consumer.committed", move |client| {
                Box::pin(async move {
                    client
                        .committed(partitions, timeout)
                        .await
                        .map_err(kafka_failure)
                })
            })
            .await
    }

    /// `position`: the next offset the client fetches for an assigned partition, through the
    /// access lock.
    pub async fn position(
        &self,
        partition: TopicPartition,
        _timeout: Duration,
    ) -> Exit<Offset, ConsumerError> {
        self.consumer_access
            .with_consumer("consumer.position", move |client| {
                Box::pin(async move { client.position(partition).await.map_err(kafka_failure) })
            })
            .await
    }

    /// `endOffsets`: the log end offsets of `partitions`, through the access lock.
    pub async fn end_offsets(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> Exit<Offsets, ConsumerError> {
        self.consumer_access
            .with_consumer("consumer.end_offsets", move |client| {
                Box::pin(async move {
                    client
                        .end_offsets(partitions, timeout)
                        .await
                        .map_err(kafka_failure)
                })
            })
            .await
    }

    /// `assignment`: the partitions assigned to the client now, through the access lock.
    pub async fn assignment(&self) -> Exit<BTreeSet<TopicPartition>, ConsumerError> {
        self.consumer_access
            .with_consumer("consumer.assignment", move |client| {
                Box::pin(async move { client.assignment().map_err(kafka_failure) })
            })
            .await
    }

    /// `stopConsumption`: ends every stream; commits keep working.
    pub async fn stop_consumption(&self) -> Exit<(), ConsumerError> {
        self.access
            .with_runloop(
                false,
                |runloop| async move { runloop.stop_consumption().await },
            )
            .await
    }

    /// `partitionedStream`: subscribes in `subscription_scope` and returns the stream of
    /// partition streams.
    pub async fn partitioned_stream(
        &self,
        subscription: Subscription,
        subscription_scope: &Scope,
    ) -> Exit<PartitionedStream, ConsumerError> {
        let control = self
            .access
            .subscribe(subscription, subscription_scope)
            .await?;
        Ok(PartitionedStream {
            control,
            pending: Vec::new(),
        })
    }

    /// `plainStream`: the records of every partition stream, merged (`flatMapPar`), in one
    /// stream. The merging fibers live in `subscription_scope`.
    pub async fn plain_stream(
        &self,
        subscription: Subscription,
        subscription_scope: &Scope,
    ) -> Exit<PlainStream, ConsumerError> {
        let partitioned = self
            .partitioned_stream(subscription, subscription_scope)
            .await?;
        let merged: Queue<Exit<Option<CommittableRecord>, ConsumerError>> =
            Queue::new(&self.rt, "plain_stream");
        let (rt, output) = (self.rt.clone(), merged.clone());
        let merger =
            self.rt
                .fork_daemon::<(), ConsumerError, _>("plain_stream.merge", async move {
                    let mut partitioned = partitioned;
                    let mut outcome = Ok(None);
                    loop {
                        match partitioned.next().await {
                            Ok(Some(mut stream)) => {
                                let partition_output = output.clone();
                                rt.fork::<(), ConsumerError, _>(
                                    format!("plain_stream:{}", stream.tp()),
                                    async move {
                                        loop {
                                            match stream.next_chunk().await {
                                                Ok(Some(chunk)) => {
                                                    for record in chunk {
                                                        partition_output
                                                            .offer(Ok(Some(record)))
                                                            .await
                                                            .map_err(queue_failure)?;
                                                    }
                                                }
                                                Ok(None) => break,
                                                Err(cause) => {
                                                    partition_output
                                                        .offer(Err(cause))
                                                        .await
                                                        .map_err(queue_failure)?;
                                                    break;
                                                }
                                            }
                                        }
                                        stream.finish().await
                                    },
                                );
                            }
                            Ok(None) => break,
                            Err(cause) => {
                                outcome = Err(cause);
                                break;
                            }
                        }
                    }
                    output.offer(outcome).await.map_err(queue_failure)
                });
        let stopping = merger.clone();
        subscription_scope
            .add_finalizer("plain_stream_fibers", move |_| async move {
                let _ = stopping.interrupt().await?;
                Ok(())
            })
            .await?;
        Ok(PlainStream {
            records: merged,
            done: false,
        })
    }

    /// `consumeWith`: processes every record of `subscription` with `handler`, partitions in
    /// parallel, committing offsets in batches (`aggregateAsync(offsetBatches)`, then
    /// `commitOrRetry(commitRetryPolicy)`), until a failure or the end of consumption
    /// (`ConsumerLive.consumeWith`). Interrupted, it is interrupted: its streams are not ended
    /// first, and the subscription's scope closes at once (zio-kafka's `consumeWith` never calls
    /// `StreamControl.end`).
    pub async fn consume_with(
        &self,
        subscription: Subscription,
        handler: RecordHandler,
    ) -> Exit<(), ConsumerError> {
        self.consume(subscription, handler, OnInterruption::Interrupt)
            .await
    }

    /// `Consumer.runWithGracefulShutdown(partitionedStreamWithControl(...), shutdownTimeout)`
    /// with `consumeWith`'s processing as the workflow: like [`Consumer::consume_with`] until it
    /// is interrupted; then it ends its streams gracefully (`control.end`) from an
    /// uninterruptible region and waits for the processing at most `shutdown_timeout`, and the
    /// caller's interruption is the result.
    pub async fn run_with_graceful_shutdown(
        &self,
        subscription: Subscription,
        handler: RecordHandler,
    ) -> Exit<(), ConsumerError> {
        self.consume(subscription, handler, OnInterruption::EndGracefully)
            .await
    }

    /// What `consume_with` and `run_with_graceful_shutdown` share: the subscription scope, the
    /// processing on a scoped fiber, and what an interruption of the caller does.
    async fn consume(
        &self,
        subscription: Subscription,
        handler: RecordHandler,
        on_interruption: OnInterruption,
    ) -> Exit<(), ConsumerError> {
        let consumer = self.clone();
        let rt = self.rt.clone();
        self.rt
            .scoped("subscription_scope", move |scope| async move {
                let control = consumer.access.subscribe(subscription, &scope).await?;
                // `forkScoped`: the pipeline is not a child of the calling fiber, so the caller's
                // interruption does not reach it; the subscription scope interrupts it.
                let pipeline = rt.fork_daemon(
                    "consume_with",
                    run_pipeline(consumer.clone(), control.clone(), handler),
                );
                let stopping = pipeline.clone();
                scope
                    .add_finalizer("consume_with_fibers", move |_| async move {
                        let _ = stopping.interrupt().await?;
                        Ok(())
                    })
                    .await?;
                match pipeline.await_exit().await {
                    Ok(exit) => {
                        consumer
                            .diagnostics
                            .emit(DiagnosticEvent::ConsumptionEnded {
                                topics: topics_of(control.subscription()),
                                exit: ExitKind::of(&exit),
                            });
                        exit
                    }
                    Err(interrupted) => {
                        if on_interruption == OnInterruption::EndGracefully {
                            let timeout = consumer.settings.shutdown_timeout;
                            // Whatever the graceful end gives, the caller's interruption is the
                            // result.
                            let _ = rt
                                .uninterruptible(graceful_shutdown(
                                    &rt, &control, &pipeline, timeout,
                                ))
                                .await;
                        }
                        Err(interrupted.into())
                    }
                }
            })
            .await
    }
}

/// What an interruption of a consuming caller does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OnInterruption {
    /// The caller is interrupted and its subscription scope closes (`consumeWith`).
    Interrupt,
    /// The streams end gracefully first (`runWithGracefulShutdown`).
    EndGracefully,
}

/// `runWithGracefulShutdown`'s interruption handler: `control.end`, then wait for the
/// pipeline, at most `timeout`.
async fn graceful_shutdown(
    rt: &Rt,
    control: &StreamControl,
    pipeline: &Fiber<(), ConsumerError>,
    timeout: std::time::Duration,
) -> Exit<(), ConsumerError> {
    let _ = control.end().await;
    let joining = pipeline.clone();
    let _ = rt
        .timeout_fail(
            "graceful_shutdown",
            async move { joining.join().await },
            timeout,
            ConsumerError::Handler("graceful shutdown timed out".into()),
        )
        .await;
    Ok(())
}

/// What the pipeline's coordinating fiber hears about.
enum PipelineEvent {
    Take(PartitionsTake),
    PartitionDone,
    Failed(Cause<ConsumerError>),
}

/// The end marker of the offsets queue.
enum OffsetItem {
    Offset(TopicPartition, Offset),
    End,
}

/// `partitionedStream.flatMapPar(..)(process).aggregateAsync(offsetBatches)
/// .mapZIO(commitOrRetry).runDrain`.
async fn run_pipeline(
    consumer: Consumer,
    control: StreamControl,
    handler: RecordHandler,
) -> Exit<(), ConsumerError> {
    let rt = consumer.rt.clone();
    let events: Queue<PipelineEvent> = Queue::new(&rt, "consume_with.events");
    let offsets: Queue<OffsetItem> = Queue::new(&rt, "consume_with.offsets");
    let (forward_rt, forward_events) = (rt.clone(), events.clone());
    rt.fork::<(), ConsumerError, _>("consume_with.partitions", async move {
        let _ = forward_rt;
        loop {
            match control.next().await {
                Ok(Some(take)) => {
                    let end = matches!(take, PartitionsTake::End | PartitionsTake::Fail(_));
                    forward_events
                        .offer(PipelineEvent::Take(take))
                        .await
                        .map_err(queue_failure)?;
                    if end {
                        return Ok(());
                    }
                }
                Ok(None) => {
                    forward_events
                        .offer(PipelineEvent::Take(PartitionsTake::End))
                        .await
                        .map_err(queue_failure)?;
                    return Ok(());
                }
                Err(cause) => {
                    forward_events
                        .offer(PipelineEvent::Failed(cause))
                        .await
                        .map_err(queue_failure)?;
                    return Ok(());
                }
            }
        }
    });
    let committing = rt.fork::<(), ConsumerError, _>(
        "consume_with.commits",
        commit_batches(consumer.clone(), offsets.clone(), events.clone()),
    );
    let mut running = 0usize;
    let mut partitions_ended = false;
    // Bounded by the events a consumer's lifetime can produce.
    for _event in 0..100_000_000u64 {
        if partitions_ended && running == 0 {
            break;
        }
        match events.take().await.map_err(queue_failure)? {
            PipelineEvent::Take(PartitionsTake::Streams(streams)) => {
                for control in streams {
                    running += 1;
                    let (handler, offsets, events) =
                        (handler.clone(), offsets.clone(), events.clone());
                    let stream = control.stream();
                    rt.fork::<(), ConsumerError, _>(
                        format!("partition:{}", control.tp()),
                        process_partition(rt.clone(), stream, handler, offsets, events),
                    );
                }
            }
            PipelineEvent::Take(PartitionsTake::End) => partitions_ended = true,
            PipelineEvent::Take(PartitionsTake::Fail(cause)) | PipelineEvent::Failed(cause) => {
                return Err(cause)
            }
            PipelineEvent::PartitionDone => running -= 1,
        }
    }
    // The upstream ended: the last batch is committed before the stream completes.
    offsets
        .offer(OffsetItem::End)
        .await
        .map_err(queue_failure)?;
    committing.join().await
}

/// One partition stream of `flatMapPar`: each record through the handler, its offset on to the
/// batching; the stream's finalizer records the last pulled offset.
async fn process_partition(
    rt: Rt,
    mut stream: PartitionStream,
    handler: RecordHandler,
    offsets: Queue<OffsetItem>,
    events: Queue<PipelineEvent>,
) -> Exit<(), ConsumerError> {
    let tp = stream.tp().clone();
    let processed: Exit<(), ConsumerError> = async {
        while let Some(chunk) = stream.next_chunk().await? {
            for record in chunk {
                let offset = record.offset();
                // What tells a slow handler from a hang: see `Rt::progress`.
                rt.progress(RECORD_REACHED_HANDLER);
                handler(record).await?;
                offsets
                    .offer(OffsetItem::Offset(tp.clone(), offset))
                    .await
                    .map_err(queue_failure)?;
            }
        }
        Ok(())
    }
    .await;
    let _ = rt.uninterruptible(stream.finish()).await;
    let event = match &processed {
        Ok(()) => PipelineEvent::PartitionDone,
        Err(cause) => PipelineEvent::Failed(cause.clone()),
    };
    events.offer(event).await.map_err(queue_failure)?;
    processed
}

/// `aggregateAsync(offsetBatches).mapZIO(_.commitOrRetry(commitRetryPolicy))`.
async fn commit_batches(
    consumer: Consumer,
    offsets: Queue<OffsetItem>,
    events: Queue<PipelineEvent>,
) -> Exit<(), ConsumerError> {
    let runloop_committer = || {
        consumer
            .access
            .runloop()
            .map(|runloop| runloop.committer().clone())
    };
    for _batch in 0..100_000_000u64 {
        let items = offsets
            .take_chunk(usize::MAX)
            .await
            .map_err(queue_failure)?;
        let mut batch = Offsets::new();
        let mut ended = false;
        for item in items {
            match item {
                OffsetItem::Offset(tp, offset) => {
                    let entry = batch.entry(tp).or_insert(offset);
                    *entry = (*entry).max(offset);
                }
                OffsetItem::End => ended = true,
            }
        }
        if !batch.is_empty() {
            if let Some(committer) = runloop_committer() {
                if let Err(cause) = commit_or_retry(&consumer, &committer, batch).await {
                    events
                        .offer(PipelineEvent::Failed(cause.clone()))
                        .await
                        .map_err(queue_failure)?;
                    return Err(cause);
                }
            }
        }
        if ended {
            return Ok(());
        }
    }
    Err(Cause::Die(
        "the commit batching read its batch limit".into(),
    ))
}

/// `commitOrRetry(policy)`: retries a commit while it fails with a retriable Kafka error.
async fn commit_or_retry(
    consumer: &Consumer,
    committer: &super::committer::Committer,
    batch: Offsets,
) -> Exit<(), ConsumerError> {
    let mut retries = 0u32;
    loop {
        match committer.commit(batch.clone()).await {
            Err(Cause::Fail(ConsumerError::Kafka(error))) if error.is_retriable() => {
                match consumer.settings.commit_retry_policy.delay_before(retries) {
                    Some(delay) => {
                        retries += 1;
                        consumer.rt.sleep(delay).await?;
                    }
                    None => return Err(Cause::Fail(ConsumerError::Kafka(error))),
                }
            }
            other => return other,
        }
    }
}

/// The stream of partition streams of one subscription.
pub struct PartitionedStream {
    control: StreamControl,
    pending: Vec<PartitionStream>,
}

impl PartitionedStream {
    /// The subscription's control (`end`).
    pub fn control(&self) -> &StreamControl {
        &self.control
    }

    /// The next partition stream; `None` once consumption ended; the runloop's failure.
    pub async fn next(&mut self) -> Exit<Option<PartitionStream>, ConsumerError> {
        for _take in 0..100_000_000u64 {
            if !self.pending.is_empty() {
                return Ok(Some(self.pending.remove(0)));
            }
            match self.control.next().await? {
                Some(PartitionsTake::Streams(streams)) => {
                    self.pending
                        .extend(streams.iter().map(|control| control.stream()));
                }
                Some(PartitionsTake::End) | None => return Ok(None),
                Some(PartitionsTake::Fail(cause)) => return Err(cause),
            }
        }
        Err(Cause::Die(
            "a partitioned stream read its take limit".into(),
        ))
    }
}

/// The merged records of every partition stream of one subscription.
pub struct PlainStream {
    records: Queue<Exit<Option<CommittableRecord>, ConsumerError>>,
    done: bool,
}

impl PlainStream {
    /// The next record; `None` at the end; the first failure of any partition stream.
    pub async fn next(&mut self) -> Exit<Option<CommittableRecord>, ConsumerError> {
        if self.done {
            return Ok(None);
        }
        let item = self.records.take().await.map_err(queue_failure)?;
        if !matches!(item, Ok(Some(_))) {
            self.done = true;
        }
        item
    }
}

/// The topics of a subscription, for diagnostics (a pattern or manual assignment by its text).
fn topics_of(subscription: &Subscription) -> Vec<String> {
    match subscription {
        Subscription::Topics(topics) => topics.iter().map(|topic| topic.to_string()).collect(),
        Subscription::Pattern(pattern) => vec![pattern.to_string()],
        Subscription::Manual(partitions) => partitions.iter().map(ToString::to_string).collect(),
    }
}
