//! `PartitionStreamControl` (zio-kafka's `PartitionStreamControl.scala`): the runloop's handle
//! on one partition's stream, and [`PartitionStream`], the consuming side.
//!
//! The runloop offers polled records (`offer_records`), ends the stream gracefully (`end`:
//! the end marker is queued, chunks still in transit are discarded) or halts it (`halt`: the
//! interruption promise fails, and the stream fails with the cause). The consuming side pulls:
//! when its data queue is empty it offers `Request(tp)` to the runloop and waits for data,
//! raced with the interruption promise (`dataQueue.take.raceFirst(interruptionPromise.await)`).
//! The variants of #1712 differ on the stream side: its first push made `halt` also queue the
//! failure, so that a stream between pulls sees it (`CheckThenRace`, `RaceOnly`); the push of
//! 11 June reverted that and raced the whole pull with the interruption promise instead (from
//! `CheckOfferDrain` on).

use std::rc::Rc;
use std::time::Duration;

use super::command::RunloopCommand;
use super::committer::Committer;
use super::diagnostics::{DiagnosticEvent, Diagnostics};
use super::error::{queue_failure, ConsumerError};
use super::protocol::RequestChannel;
use crate::kafka::{ConsumerGroupMetadata, Offset, Offsets, Record, TopicPartition};
use crate::rt::{label, Cause, Exit, Promise, Queue, Ref, Rt};

/// A record with the means to commit it (zio-kafka's `CommittableRecord`).
#[derive(Clone)]
pub struct CommittableRecord {
    pub record: Record,
    pub group_metadata: Option<ConsumerGroupMetadata>,
    committer: Committer,
}

impl CommittableRecord {
    /// A record handed to a partition stream, committed through `committer`.
    pub fn new(
        record: Record,
        group_metadata: Option<ConsumerGroupMetadata>,
        committer: Committer,
    ) -> Self {
        CommittableRecord {
            record,
            group_metadata,
            committer,
        }
    }

    /// The record's partition.
    pub fn topic_partition(&self) -> TopicPartition {
        self.record.topic_partition()
    }

    /// The record's offset.
    pub fn offset(&self) -> Offset {
        self.record.offset
    }

    /// Commits this record's offset (the committer commits offset + 1), waiting at most the
    /// commit timeout.
    pub async fn commit(&self) -> Exit<(), ConsumerError> {
        let mut offsets = Offsets::new();
        offsets.insert(self.topic_partition(), self.offset());
        self.committer.commit(offsets).await
    }
}

/// What travels on a partition stream's data queue.
#[derive(Clone)]
pub enum StreamItem {
    Records(Vec<CommittableRecord>),
    /// The end marker (zio-kafka's `EndOfStream`, an empty chunk compared by reference).
    End,
    /// The stream was halted (the first push of #1712: `halt` also queues the failure).
    Failed(Cause<ConsumerError>),
}

/// The queue bookkeeping of a partition stream (zio-kafka's `QueueInfo`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct QueueInfo {
    /// Data must be pulled before this time, when the queue is not empty.
    pub pull_deadline: Duration,
    /// Records in the queue.
    pub size: usize,
    pub last_pulled_offset: Option<Offset>,
    /// Polls that returned nothing for this partition since the last pull.
    pub outstanding_polls: u64,
}

/// The runloop's handle on one partition stream. Cloning shares it.
#[derive(Clone)]
pub struct PartitionStreamControl {
    inner: Rc<Inner>,
}

struct Inner {
    tp: TopicPartition,
    /// The labels of this stream's two races, made once: a stream pulls many times.
    pull_label: Rc<str>,
    await_data_label: Rc<str>,
    rt: Rt,
    channel: RequestChannel,
    diagnostics: Diagnostics,
    data_queue: Queue<StreamItem>,
    /// Failed (never succeeded) when the stream is halted.
    interruption: Promise<(), ConsumerError>,
    /// The last pulled offset, once the stream's consumer has finished.
    completed: Promise<Option<Offset>, ()>,
    has_ended: Ref<bool>,
    queue_info: Ref<QueueInfo>,
    max_pull_interval: Duration,
}

impl PartitionStreamControl {
    /// A new stream control for `tp`.
    pub fn new(
        rt: &Rt,
        tp: TopicPartition,
        channel: RequestChannel,
        diagnostics: Diagnostics,
        max_pull_interval: Duration,
    ) -> Self {
        let name = tp.to_string();
        PartitionStreamControl {
            inner: Rc::new(Inner {
                data_queue: Queue::new(rt, format!("data_queue:{name}")),
                interruption: Promise::new(rt, format!("promise:interruption:{name}")),
                completed: Promise::new(rt, format!("promise:completed:{name}")),
                has_ended: Ref::new(rt, format!("has_ended:{name}"), false),
                queue_info: Ref::new(rt, format!("queue_info:{name}"), QueueInfo::default()),
                pull_label: label::join(&["pull:", &name]),
                await_data_label: label::join(&["await_data:", &name]),
                tp,
                rt: rt.clone(),
                channel,
                diagnostics,
                max_pull_interval,
            }),
        }
    }

    /// The partition.
    pub fn tp(&self) -> &TopicPartition {
        &self.inner.tp
    }

    /// Whether two handles are the same stream.
    pub fn same_stream(&self, other: &PartitionStreamControl) -> bool {
        Rc::ptr_eq(&self.inner, &other.inner)
    }

    /// Offers polled records; an empty offer counts an outstanding poll. Offering to an ended
    /// stream is a defect, as in zio-kafka.
    pub async fn offer_records(&self, records: Vec<CommittableRecord>) -> Exit<(), ConsumerError> {
        if self.inner.has_ended.get().await? {
            return Err(Cause::Die(
                format!(
                    "Partition stream {} {}",
                    self.inner.tp,
                    super::labels::RECORDS_AFTER_END
                )
                .into(),
            ));
        }
        let now = self.inner.rt.now();
        let count = records.len();
        let max_pull_interval = self.inner.max_pull_interval;
        self.inner
            .queue_info
            .update(|info| {
                let mut info = *info;
                if count == 0 {
                    info.outstanding_polls += 1;
                } else {
                    if info.size == 0 {
                        info.pull_deadline = now + max_pull_interval;
                    }
                    info.size += count;
                }
                info
            })
            .await?;
        if count > 0 {
            self.inner
                .data_queue
                .offer(StreamItem::Records(records))
                .await
                .map_err(queue_failure)?;
        }
        Ok(())
    }

    /// Ends the stream gracefully: queued chunks are discarded, the stream completes.
    pub async fn end(&self) -> Exit<(), ConsumerError> {
        self.inner.has_ended.set(true).await?;
        self.inner
            .data_queue
            .offer(StreamItem::End)
            .await
            .map_err(queue_failure)
    }

    /// Fails the stream with `cause`.
    pub async fn halt(&self, cause: Cause<ConsumerError>) -> Exit<(), ConsumerError> {
        self.inner.interruption.fail_cause(cause.clone()).await?;
        if self.inner.channel.protocol.halt_queues_failure() {
            self.inner
                .data_queue
                .offer(StreamItem::Failed(cause))
                .await
                .map_err(queue_failure)?;
        }
        Ok(())
    }

    /// Halts the stream because its data was not pulled in time.
    pub async fn halt_pull_timeout(&self) -> Exit<(), ConsumerError> {
        let text = format!(
            "No records were pulled for more than {} ms from partition {}",
            self.inner.max_pull_interval.as_millis(),
            self.inner.tp
        );
        self.halt(Cause::Fail(ConsumerError::StreamPullTimeout(text)))
            .await
    }

    /// Whether the stream has been ended.
    pub async fn has_ended(&self) -> Exit<bool, ConsumerError> {
        Ok(self.inner.has_ended.get().await?)
    }

    /// Whether the stream's consumer has finished.
    pub fn is_completed(&self) -> bool {
        self.inner.completed.is_done_now()
    }

    /// The last offset the stream's consumer pulled, once it finished.
    pub fn completed_offset(&self) -> Option<Option<Offset>> {
        match self.inner.completed.poll_now() {
            Some(Ok(offset)) => Some(offset),
            _ => None,
        }
    }

    /// The queue bookkeeping.
    pub async fn queue_info(&self) -> Exit<QueueInfo, ConsumerError> {
        Ok(self.inner.queue_info.get().await?)
    }

    /// Whether data has waited unpulled past the deadline (`maxStreamPullIntervalExceeded`).
    pub async fn pull_interval_exceeded(&self) -> Exit<bool, ConsumerError> {
        let info = self.inner.queue_info.get().await?;
        Ok(info.size > 0 && self.inner.rt.now() > info.pull_deadline)
    }

    /// The consuming side of this stream.
    pub fn stream(&self) -> PartitionStream {
        PartitionStream {
            control: self.clone(),
            done: false,
        }
    }
}

/// The consuming side of a partition stream: pull chunks until the end or a failure, then
/// [`PartitionStream::finish`].
pub struct PartitionStream {
    control: PartitionStreamControl,
    done: bool,
}

impl PartitionStream {
    /// The partition.
    pub fn tp(&self) -> &TopicPartition {
        &self.control.inner.tp
    }

    /// The next chunk of records, `None` at the end of the stream, or the halt cause.
    pub async fn next_chunk(&mut self) -> Exit<Option<Vec<CommittableRecord>>, ConsumerError> {
        if self.done {
            return Ok(None);
        }
        // Bounded: each turn either returns or discards one chunk that arrived after `end`.
        for _discarded in 0..1_000_000u32 {
            let item = self.pull().await?;
            let inner = &self.control.inner;
            let chunk = match item {
                StreamItem::End => {
                    self.done = true;
                    return Ok(None);
                }
                StreamItem::Failed(cause) => return Err(cause),
                StreamItem::Records(chunk) => chunk,
            };
            // `.tap(_ => interruptionPromise.await.whenZIO(interruptionPromise.isDone))`
            if inner.interruption.is_done().await? {
                if let Some(Err(cause)) = inner.interruption.poll_now() {
                    return Err(cause);
                }
            }
            // `.filterZIO(_ => hasEndedRef.get.negate)`: chunks in transit after `end`.
            if inner.has_ended.get().await? {
                continue;
            }
            let now = inner.rt.now();
            let max_pull_interval = inner.max_pull_interval;
            let pulled = chunk.len();
            let last = chunk.last().map(|record| record.offset());
            inner
                .queue_info
                .update(|info| {
                    let mut info = *info;
                    info.size = info.size.saturating_sub(pulled);
                    info.last_pulled_offset = last.or(info.last_pulled_offset);
                    info.outstanding_polls = 0;
                    info.pull_deadline = now + max_pull_interval;
                    info
                })
                .await?;
            return Ok(Some(chunk));
        }
        Err(Cause::Die(
            "a partition stream discarded a million chunks in a row".into(),
        ))
    }

    /// `dataQueue.poll` or, when empty, request data and wait for it, raced with the
    /// interruption promise; from `CheckOfferDrain` on, the whole pull is raced with it too.
    async fn pull(&self) -> Exit<StreamItem, ConsumerError> {
        let inner = &self.control.inner;
        if inner.channel.protocol.races_pull_with_interruption() {
            let (control, interruption) = (self.control.clone(), inner.interruption.clone());
            inner
                .rt
                .race_first(
                    &inner.pull_label,
                    async move { poll_or_request(&control).await },
                    async move { interruption.wait().await.map(|()| StreamItem::End) },
                )
                .await
        } else {
            poll_or_request(&self.control).await
        }
    }

    /// The stream's finalizer: records the last pulled offset (`completedPromise`).
    pub async fn finish(&mut self) -> Exit<(), ConsumerError> {
        self.done = true;
        let inner = &self.control.inner;
        let info = inner.queue_info.get().await?;
        inner.completed.succeed(info.last_pulled_offset).await?;
        Ok(())
    }
}

async fn poll_or_request(control: &PartitionStreamControl) -> Exit<StreamItem, ConsumerError> {
    let inner = &control.inner;
    if let Some(item) = inner.data_queue.poll().await.map_err(queue_failure)? {
        return Ok(item);
    }
    request_and_await_data(control).await
}

async fn request_and_await_data(
    control: &PartitionStreamControl,
) -> Exit<StreamItem, ConsumerError> {
    let inner = &control.inner;
    inner
        .channel
        .offer(RunloopCommand::Request(inner.tp.clone()))
        .await?;
    inner
        .diagnostics
        .emit(DiagnosticEvent::Request(inner.tp.clone()));
    let (queue, interruption) = (inner.data_queue.clone(), inner.interruption.clone());
    inner
        .rt
        .race_first(
            &inner.await_data_label,
            async move { queue.take().await.map_err(queue_failure) },
            async move { interruption.wait().await.map(|()| StreamItem::End) },
        )
        .await
}
