//! The `KafkaClient` port over rdkafka's `BaseConsumer`.
//!
//! What the port promises and how this adapter makes librdkafka keep it:
//! - **Rebalance callbacks inside `poll`, in Kafka's order.** The consumer context does not
//!   assign in librdkafka's rebalance callback: it only queues the rebalance
//!   ([`PendingRebalance`]). The adapter's `poll` serves the queue between two non-blocking
//!   librdkafka polls: for a revocation it runs `on_revoked` (or `on_lost`) while the partitions
//!   are still assigned, then unassigns; for an assignment it assigns, then runs `on_assigned`.
//!   librdkafka waits for the application's `assign` call, so deferring it is allowed (it is
//!   what confluent-kafka-go's application-driven rebalances do).
//! - **`commit_async`'s callback in a later call.** librdkafka does not call the commit
//!   callback of manual async commits when the event API is used (rdkafka's case). The adapter
//!   commits through `rd_kafka_commit_queue` on a queue of its own, reads the results from that
//!   queue and runs each callback during a later `poll`, `commit_sync` or `close`.
//!   `commit_sync` uses the same queue and waits for its own result without blocking the
//!   thread (a blocking librdkafka commit can block for minutes when the coordinator is gone).
//! - **Nothing blocks the thread for long.** `poll` polls librdkafka with a zero timeout and
//!   sleeps on tokio between polls, so the other fibers of the run keep running; the calls
//!   librdkafka only offers blocking (`committed`, watermarks) run on tokio's blocking pool.
//! - **`wakeup`** sets a flag that the current or next blocking call notices within one sleep
//!   (a few milliseconds) and fails with `Wakeup`.
//! - **Paused partitions return nothing.** librdkafka may already have fetched records of a
//!   partition when it is paused; they are held back and returned after `resume` (dropped on
//!   `seek` or revocation), as Java's `poll` never returns records of paused partitions.
//! - **`close` is bounded.** It runs `on_revoked` on the run's thread, then hands librdkafka's
//!   close (consumer queue closed, rebalances answered with unassign, handle destroyed) to a
//!   helper thread and waits for it on tokio at most [`CLOSE_BOUND`]; then the thread is
//!   abandoned (leaked). librdkafka's `assign` waits for its group thread without a timeout
//!   and was seen to block forever during a close, and `rd_kafka_destroy` can block forever
//!   (reference notes, 2.5): neither may block a run. A client dropped unclosed (a hung run)
//!   is closed the same way, waiting at most [`CLOSE_BOUND`] + [`DESTROY_BOUND`].
//! - **Informational errors are not failures.** `AllBrokersDown`, `BrokerTransportFailure` and
//!   the like come out of librdkafka's poll while it retries; only authorization and
//!   authentication errors fail `poll`, as in the Java client.

use std::cell::{Cell, RefCell};
use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ffi::{c_void, CStr};
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use consumer::kafka::{
    CommitCallback, ConsumerGroupMetadata, KafkaClient, KafkaError, KafkaFuture, Offset, Offsets,
    RebalanceListener, Record, Subscription, TopicPartition,
};
use rdkafka::bindings as rdsys;
use rdkafka::consumer::{BaseConsumer, Consumer, ConsumerContext};
use rdkafka::error::{KafkaError as RdError, RDKafkaErrorCode};
use rdkafka::types::RDKafkaRespErr;
use rdkafka::{ClientConfig, ClientContext, Message, TopicPartitionList};

/// How long `close` waits for librdkafka's consumer to close.
pub const CLOSE_BOUND: Duration = Duration::from_secs(10);
/// How much longer a client dropped unclosed waits for its helper thread.
pub const DESTROY_BOUND: Duration = Duration::from_secs(10);
/// The sleep between two non-blocking librdkafka polls while a call waits.
const POLL_STEP: Duration = Duration::from_millis(2);
/// What a poll's authorization error names as its topic: librdkafka's error event carries
/// only the code.
const UNNAMED_TOPIC: &str = "(librdkafka names no topic)";
/// The most records one `poll` returns (Java's `max.poll.records` default).
const MAX_POLL_RECORDS: usize = 500;

/// Whether `HANGSIM_REAL_TRACE` is set: the adapter then writes what librdkafka reported
/// (errors from poll, rebalances, commit results) to stderr, for finding out why a real run
/// differs from a simulated one.
fn tracing() -> bool {
    static ON: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ON.get_or_init(|| std::env::var_os("HANGSIM_REAL_TRACE").is_some())
}

fn trace(what: impl FnOnce() -> String) {
    if tracing() {
        eprintln!(
            "[real {:?}] {}",
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
                % 100_000,
            what()
        );
    }
}

/// A rebalance librdkafka announced and the adapter has not served yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingRebalance {
    /// `true`: partitions assigned; `false`: partitions revoked.
    pub assign: bool,
    /// For a revocation: whether the generation was lost (`on_lost` rather than `on_revoked`).
    pub lost: bool,
    pub partitions: Vec<(String, i32)>,
}

/// The consumer context: queues rebalances for the adapter instead of assigning.
#[derive(Default)]
pub struct HangsimContext {
    pending: Mutex<VecDeque<PendingRebalance>>,
}

impl HangsimContext {
    fn take_pending(&self) -> Option<PendingRebalance> {
        self.pending.lock().expect("rebalance queue").pop_front()
    }
}

impl ClientContext for HangsimContext {
    // librdkafka's errors reach the adapter through `poll`; its log lines are not wanted on
    // stderr (one per failed fetch while a topic is denied).
    fn log(&self, _level: rdkafka::config::RDKafkaLogLevel, _fac: &str, _log_message: &str) {}

    fn error(&self, _error: RdError, _reason: &str) {}
}

impl ConsumerContext for HangsimContext {
    fn rebalance(
        &self,
        base_consumer: &BaseConsumer<Self>,
        err: RDKafkaRespErr,
        tpl: &mut TopicPartitionList,
    ) {
        let assign = match err {
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__ASSIGN_PARTITIONS => true,
            RDKafkaRespErr::RD_KAFKA_RESP_ERR__REVOKE_PARTITIONS => false,
            _ => return,
        };
        let partitions = tpl
            .elements()
            .iter()
            .map(|element| (element.topic().to_string(), element.partition()))
            .collect();
        let lost = !assign && base_consumer.assignment_lost();
        self.pending
            .lock()
            .expect("rebalance queue")
            .push_back(PendingRebalance {
                assign,
                lost,
                partitions,
            });
    }
}

type RdConsumer = BaseConsumer<HangsimContext>;

/// librdkafka's queue for the results of the adapter's commits; null once destroyed (after
/// the consumer is closed, when no call reads it any more).
struct CommitQueue(Cell<*mut rdsys::rd_kafka_queue_t>);

/// How a commit ended, read from the commit queue.
type CommitResult = Result<(), KafkaError>;

/// The client state the port's calls share.
#[derive(Default)]
struct State {
    listener: Option<Rc<dyn RebalanceListener>>,
    subscription: Option<Subscription>,
    assignment: BTreeSet<TopicPartition>,
    paused: BTreeSet<TopicPartition>,
    /// Records fetched for partitions that were paused, returned after `resume`.
    held: BTreeMap<TopicPartition, Vec<Record>>,
    /// Records fetched during a poll that then failed: the next poll returns them.
    carried: Vec<Record>,
    /// Async commits in flight, by the id passed to librdkafka as the commit's opaque.
    in_flight: BTreeMap<u64, (Offsets, Option<CommitCallback>)>,
    /// Commits whose result arrived, in arrival order; callbacks run at the next call.
    finished: VecDeque<(u64, CommitResult)>,
}

/// The `KafkaClient` port on a real librdkafka consumer.
pub struct RdKafkaClient {
    consumer: RefCell<Option<Arc<RdConsumer>>>,
    commits: CommitQueue,
    state: RefCell<State>,
    next_commit: Cell<u64>,
    woken: Cell<bool>,
    closed: Cell<bool>,
    group_id: String,
    /// Called while `close` waits on librdkafka: a bounded wait is progress, not a hang.
    on_progress: RefCell<Option<Rc<dyn Fn()>>>,
}

/// The librdkafka configuration every real-mode consumer uses.
pub fn consumer_config(bootstrap: &str, group_id: &str) -> ClientConfig {
    let mut config = ClientConfig::new();
    config
        .set("bootstrap.servers", bootstrap)
        .set("group.id", group_id)
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        // Short group timings keep rebalances quick on the mock cluster (its rebalance timer is
        // session.timeout.ms - 1000).
        .set("session.timeout.ms", "6000")
        .set("heartbeat.interval.ms", "500")
        .set("fetch.wait.max.ms", "100")
        .set("fetch.error.backoff.ms", "100")
        .set("topic.metadata.refresh.interval.ms", "1000")
        .set("partition.assignment.strategy", "range");
    config
}

impl RdKafkaClient {
    /// A client of group `group_id` on `bootstrap`, with `extra` settings (name, value) applied
    /// over the defaults of [`consumer_config`].
    pub fn new(
        bootstrap: &str,
        group_id: &str,
        extra: &[(&str, &str)],
    ) -> Result<RdKafkaClient, KafkaError> {
        let mut config = consumer_config(bootstrap, group_id);
        for (name, value) in extra {
            config.set(*name, *value);
        }
        let consumer: RdConsumer = config
            .create_with_context(HangsimContext::default())
            .map_err(|error| KafkaError::Other(format!("creating the consumer: {error}")))?;
        // SAFETY: the handle is valid; the queue is destroyed before the handle (`Drop`).
        let queue = unsafe { rdsys::rd_kafka_queue_new(consumer.client().native_ptr()) };
        Ok(RdKafkaClient {
            consumer: RefCell::new(Some(Arc::new(consumer))),
            commits: CommitQueue(Cell::new(queue)),
            state: RefCell::new(State::default()),
            next_commit: Cell::new(1),
            woken: Cell::new(false),
            closed: Cell::new(false),
            group_id: group_id.to_string(),
            on_progress: RefCell::new(None),
        })
    }

    /// Sets what `close` calls while it waits on librdkafka (bounded by [`CLOSE_BOUND`] and
    /// [`DESTROY_BOUND`]), so that a watchdog does not take that wait for a hang.
    pub fn set_on_progress(&self, on_progress: Rc<dyn Fn()>) {
        *self.on_progress.borrow_mut() = Some(on_progress);
    }

    fn note_progress(&self) {
        let on_progress = self.on_progress.borrow().clone();
        if let Some(on_progress) = on_progress {
            on_progress();
        }
    }

    fn consumer(&self) -> Result<Arc<RdConsumer>, KafkaError> {
        if self.closed.get() {
            return Err(KafkaError::IllegalState(
                "this consumer has already been closed".into(),
            ));
        }
        self.consumer
            .borrow()
            .clone()
            .ok_or_else(|| KafkaError::IllegalState("this consumer has already been closed".into()))
    }

    fn check_wakeup(&self) -> Result<(), KafkaError> {
        if self.woken.replace(false) {
            Err(KafkaError::Wakeup)
        } else {
            Ok(())
        }
    }

    fn check_assigned(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        let state = self.state.borrow();
        match partitions.iter().find(|tp| !state.assignment.contains(*tp)) {
            Some(tp) => Err(KafkaError::IllegalState(format!(
                "no current assignment for partition {tp}"
            ))),
            None => Ok(()),
        }
    }

    /// Reads every commit result librdkafka has posted so far.
    fn read_commit_results(&self) {
        loop {
            if self.commits.0.get().is_null() {
                return;
            }
            // SAFETY: the queue is alive until set to null; events are destroyed after reading.
            let event = unsafe { rdsys::rd_kafka_queue_poll(self.commits.0.get(), 0) };
            if event.is_null() {
                return;
            }
            unsafe {
                if rdsys::rd_kafka_event_type(event) == rdsys::RD_KAFKA_EVENT_OFFSET_COMMIT {
                    let id = rdsys::rd_kafka_event_opaque(event) as u64;
                    let error = rdsys::rd_kafka_event_error(event);
                    let offsets = rdsys::rd_kafka_event_topic_partition_list(event);
                    let result = commit_result(error, offsets);
                    trace(|| format!("commit #{id}: {result:?}"));
                    self.state.borrow_mut().finished.push_back((id, result));
                }
                rdsys::rd_kafka_event_destroy(event);
            }
        }
    }

    /// Runs the callbacks of the async commits that have finished (Java runs them in the next
    /// `poll`, `commitSync` or `close`). A finished synchronous commit `keep` is left queued.
    fn run_commit_callbacks(&self, keep: Option<u64>) {
        self.read_commit_results();
        loop {
            let next = {
                let mut state = self.state.borrow_mut();
                let position = state.finished.iter().position(|(id, _)| Some(*id) != keep);
                position
                    .and_then(|index| state.finished.remove(index))
                    .map(|(id, result)| {
                        let entry = state.in_flight.remove(&id);
                        (entry, result)
                    })
            };
            match next {
                Some((Some((offsets, Some(callback))), result)) => callback(&offsets, result),
                Some(_) => {}
                None => return,
            }
        }
    }

    /// Starts a commit of `offsets` whose result goes to the commit queue; returns its id.
    fn start_commit(
        &self,
        offsets: Offsets,
        callback: Option<CommitCallback>,
    ) -> Result<u64, KafkaError> {
        let consumer = self.consumer()?;
        let mut tpl = TopicPartitionList::new();
        for (tp, offset) in &offsets {
            tpl.add_partition_offset(&tp.topic, tp.partition, rdkafka::Offset::Offset(offset.0))
                .map_err(|error| KafkaError::Other(error.to_string()))?;
        }
        let id = self.next_commit.get();
        self.next_commit.set(id + 1);
        self.state
            .borrow_mut()
            .in_flight
            .insert(id, (offsets, callback));
        // SAFETY: the handle, the list and the queue are valid for the call; librdkafka copies
        // the list. The opaque is the commit's id, not a pointer.
        let error = unsafe {
            rdsys::rd_kafka_commit_queue(
                consumer.client().native_ptr(),
                tpl.ptr(),
                self.commits.0.get(),
                None,
                id as *mut c_void,
            )
        };
        if error != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
            self.state.borrow_mut().in_flight.remove(&id);
            return Err(map_code(error.into(), ""));
        }
        Ok(id)
    }

    /// Serves the rebalances librdkafka announced: the listener's callbacks in Kafka's order,
    /// with the assignment changed between them. The first callback error is returned once
    /// every rebalance is served (KAFKA-4600).
    async fn serve_rebalances(&self, consumer: &RdConsumer) -> Result<(), KafkaError> {
        let mut first_error = None;
        while let Some(rebalance) = consumer.context().take_pending() {
            let partitions: BTreeSet<TopicPartition> = rebalance
                .partitions
                .iter()
                .map(|(topic, partition)| TopicPartition::new(topic.as_str(), *partition))
                .collect();
            let listener = self.state.borrow().listener.clone();
            trace(|| format!("rebalance {rebalance:?}"));
            if rebalance.assign {
                let mut tpl = TopicPartitionList::new();
                for (topic, partition) in &rebalance.partitions {
                    tpl.add_partition(topic, *partition);
                }
                consumer
                    .assign(&tpl)
                    .map_err(|error| KafkaError::Other(format!("assign: {error}")))?;
                self.state.borrow_mut().assignment = partitions.clone();
                if let Some(listener) = listener {
                    if let Err(error) = listener.on_assigned(self, partitions).await {
                        first_error.get_or_insert(error);
                    }
                }
            } else {
                let owned: BTreeSet<TopicPartition> = self
                    .state
                    .borrow()
                    .assignment
                    .intersection(&partitions)
                    .cloned()
                    .collect();
                if let (Some(listener), false) = (listener, owned.is_empty()) {
                    let result = if rebalance.lost {
                        listener.on_lost(self, owned).await
                    } else {
                        listener.on_revoked(self, owned).await
                    };
                    if let Err(error) = result {
                        first_error.get_or_insert(error);
                    }
                }
                consumer
                    .unassign()
                    .map_err(|error| KafkaError::Other(format!("unassign: {error}")))?;
                let mut state = self.state.borrow_mut();
                state.assignment.clear();
                state.paused.clear();
                state.held.clear();
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// Takes what librdkafka has without waiting: records (held back for paused partitions)
    /// and rebalances (served). Returns the poll's error, if librdkafka reported one that the
    /// Java client would throw.
    async fn take_available(
        &self,
        consumer: &RdConsumer,
        records: &mut Vec<Record>,
    ) -> Result<(), KafkaError> {
        let mut failure = None;
        for _ in 0..MAX_POLL_RECORDS * 2 {
            let served = match consumer.poll(Duration::ZERO) {
                Some(Ok(message)) => {
                    let record = Record {
                        topic: message.topic().into(),
                        partition: message.partition(),
                        offset: Offset(message.offset()),
                        key: message.key().map(Rc::from),
                        value: message.payload().map(Rc::from),
                        timestamp: Duration::from_millis(
                            message.timestamp().to_millis().unwrap_or(0).max(0) as u64,
                        ),
                    };
                    let tp = record.topic_partition();
                    let mut state = self.state.borrow_mut();
                    if state.paused.contains(&tp) {
                        state.held.entry(tp).or_default().push(record);
                    } else if state.assignment.contains(&tp) {
                        records.push(record);
                    }
                    true
                }
                Some(Err(error)) => match poll_failure(&error) {
                    // One librdkafka error is one failed poll, as each comes out of one
                    // librdkafka poll call: the next error waits for the next poll.
                    Some(error) => {
                        failure = Some(error);
                        break;
                    }
                    None => true,
                },
                None => false,
            };
            let had_rebalance = !consumer
                .context()
                .pending
                .lock()
                .expect("rebalance queue")
                .is_empty();
            if had_rebalance {
                let result = self.serve_rebalances(consumer).await;
                // Records of partitions no longer assigned are not returned.
                let assignment = self.state.borrow().assignment.clone();
                records.retain(|record| assignment.contains(&record.topic_partition()));
                if let Err(error) = result {
                    failure.get_or_insert(error);
                }
            }
            if (!served && !had_rebalance) || records.len() >= MAX_POLL_RECORDS {
                break;
            }
        }
        failure.map_or(Ok(()), Err)
    }

    async fn poll_now(&self, timeout: Duration) -> Result<Vec<Record>, KafkaError> {
        let consumer = self.consumer()?;
        self.check_wakeup()?;
        if self.state.borrow().subscription.is_none() {
            return Err(KafkaError::IllegalState(
                "consumer is not subscribed to any topics or assigned any partitions".into(),
            ));
        }
        self.run_commit_callbacks(None);
        let mut records = std::mem::take(&mut self.state.borrow_mut().carried);
        let started = Instant::now();
        loop {
            if let Err(error) = self.take_available(&consumer, &mut records).await {
                self.state.borrow_mut().carried = records;
                return Err(error);
            }
            if !records.is_empty() || started.elapsed() >= timeout {
                return Ok(records);
            }
            if self.woken.replace(false) {
                self.state.borrow_mut().carried = records;
                return Err(KafkaError::Wakeup);
            }
            let remaining = timeout.saturating_sub(started.elapsed());
            tokio::time::sleep(remaining.min(POLL_STEP)).await;
        }
    }

    async fn commit_sync_now(&self, offsets: Offsets, timeout: Duration) -> Result<(), KafkaError> {
        self.consumer()?;
        self.check_wakeup()?;
        self.run_commit_callbacks(None);
        let own = if offsets.is_empty() {
            None
        } else {
            Some(self.start_commit(offsets, None)?)
        };
        let started = Instant::now();
        loop {
            self.run_commit_callbacks(own);
            let done = {
                let mut state = self.state.borrow_mut();
                match own {
                    Some(id) => {
                        let found = state.finished.iter().position(|(done, _)| *done == id);
                        found
                            .and_then(|index| state.finished.remove(index))
                            .map(|(_, result)| {
                                state.in_flight.remove(&id);
                                result
                            })
                    }
                    // An empty commit waits for the async commits before it.
                    None => state.in_flight.is_empty().then_some(Ok(())),
                }
            };
            if let Some(result) = done {
                return result;
            }
            if started.elapsed() >= timeout {
                return Err(KafkaError::Timeout);
            }
            if self.woken.replace(false) {
                return Err(KafkaError::Wakeup);
            }
            tokio::time::sleep(POLL_STEP).await;
        }
    }

    /// Runs a blocking librdkafka call on tokio's blocking pool.
    async fn blocking<T: Send + 'static>(
        &self,
        call: impl FnOnce(&RdConsumer) -> Result<T, KafkaError> + Send + 'static,
    ) -> Result<T, KafkaError> {
        let consumer = self.consumer()?;
        self.check_wakeup()?;
        tokio::task::spawn_blocking(move || call(&consumer))
            .await
            .map_err(|error| KafkaError::Other(format!("blocking call: {error}")))?
    }

    async fn close_now(&self, timeout: Duration) -> Result<(), KafkaError> {
        if self.closed.get() {
            return Ok(());
        }
        let consumer = self.consumer()?;
        // Wait a little for async commits in flight, then run their callbacks (Java's close
        // completes pending async commits).
        let started = Instant::now();
        let bound = timeout.min(CLOSE_BOUND);
        while !self.state.borrow().in_flight.is_empty() && started.elapsed() < bound / 2 {
            self.note_progress();
            self.read_commit_results();
            self.run_commit_callbacks(None);
            tokio::time::sleep(POLL_STEP).await;
        }
        self.run_commit_callbacks(None);
        let (listener, owned) = {
            let state = self.state.borrow();
            (state.listener.clone(), state.assignment.clone())
        };
        let mut first_error = None;
        if let (Some(listener), false) = (listener, owned.is_empty()) {
            if let Err(error) = listener.on_revoked(self, owned).await {
                first_error = Some(error);
            }
        }
        self.closed.set(true);
        {
            let mut state = self.state.borrow_mut();
            state.assignment.clear();
            state.paused.clear();
            state.held.clear();
            state.subscription = None;
            state.listener = None;
        }
        // librdkafka's own unassign comes with its close, on the helper thread.
        drop(consumer);
        self.shut_down().await;
        first_error.map_or(Ok(()), Err)
    }

    /// Closes librdkafka's consumer and destroys it on a helper thread (serving its last
    /// rebalances by unassigning), waiting for that on tokio at most [`CLOSE_BOUND`] (so that
    /// the run's other fibers and its watchdog go on); the thread is abandoned after that.
    async fn shut_down(&self) {
        let Some(consumer) = self.consumer.borrow_mut().take() else {
            return;
        };
        let queue = self.commits.0.replace(std::ptr::null_mut());
        let finished = close_in_background(consumer, queue);
        let waiting = Instant::now();
        while finished.try_recv() == Err(std::sync::mpsc::TryRecvError::Empty)
            && waiting.elapsed() < CLOSE_BOUND
        {
            self.note_progress();
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        trace(|| format!("close: done or abandoned after {:?}", waiting.elapsed()));
    }
}

/// Closes and destroys `consumer` on a helper thread: destroys the commit queue, closes the
/// consumer queue, polls until librdkafka says closed (unassigning at each rebalance it
/// announces, as librdkafka wants during a close) for at most [`CLOSE_BOUND`], then drops the
/// handle. The receiver hears when it is all done. Every call here may block (librdkafka's
/// `assign` waits for its group thread without a timeout, and `rd_kafka_destroy` can wait
/// forever: reference notes 2.5), which is why none of them runs on the run's thread; whoever
/// waits gives up after its bound and the thread is left behind.
fn close_in_background(
    consumer: Arc<RdConsumer>,
    queue: *mut rdsys::rd_kafka_queue_t,
) -> std::sync::mpsc::Receiver<()> {
    // A raw pointer is not `Send`; the queue is only destroyed, once, on the helper thread.
    let queue = queue as usize;
    let (done, finished) = std::sync::mpsc::channel();
    let spawned = std::thread::Builder::new()
        .name("rdkafka-close".into())
        .spawn(move || {
            let queue = queue as *mut rdsys::rd_kafka_queue_t;
            if !queue.is_null() {
                // SAFETY: the queue belongs to this consumer, nothing else reads it any more,
                // and it is destroyed once, before the handle.
                unsafe { rdsys::rd_kafka_queue_destroy(queue) };
            }
            // Rebalances announced before the close were for a run that is over.
            while consumer.context().take_pending().is_some() {}
            let started = Instant::now();
            if consumer.close_queue().is_ok() {
                while !consumer.closed() && started.elapsed() < CLOSE_BOUND {
                    let _ = consumer.poll(Duration::from_millis(10));
                    while consumer.context().take_pending().is_some() {
                        let _ = consumer.unassign();
                    }
                }
            }
            trace(|| {
                format!(
                    "close: consumer closed={} after {:?}",
                    consumer.closed(),
                    started.elapsed()
                )
            });
            drop(consumer);
            let _ = done.send(());
        });
    if let Err(error) = spawned {
        trace(|| format!("close: no thread to close the consumer on: {error}"));
    }
    finished
}

impl Drop for RdKafkaClient {
    fn drop(&mut self) {
        // A run abandoned with its consumer open (a hang): close without callbacks, bounded.
        if let Some(consumer) = self.consumer.borrow_mut().take() {
            let queue = self.commits.0.replace(std::ptr::null_mut());
            let _ = close_in_background(consumer, queue).recv_timeout(CLOSE_BOUND + DESTROY_BOUND);
        }
    }
}

/// The result of a commit from librdkafka's event: the request's error, else the first
/// partition's error.
///
/// # Safety
/// `offsets` is null or a valid list owned by the event being read.
unsafe fn commit_result(
    error: RDKafkaRespErr,
    offsets: *const rdsys::rd_kafka_topic_partition_list_t,
) -> CommitResult {
    let mut topic = String::new();
    let mut code = error;
    if !offsets.is_null() {
        let list = &*offsets;
        for index in 0..list.cnt.max(0) as usize {
            let element = &*list.elems.add(index);
            if element.err != RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                topic = CStr::from_ptr(element.topic).to_string_lossy().into_owned();
                if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
                    code = element.err;
                }
                break;
            }
        }
    }
    if code == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(map_code(code.into(), &topic))
    }
}

/// The port's error for a librdkafka error code, as the Java client classifies it.
pub fn map_code(code: RDKafkaErrorCode, topic: &str) -> KafkaError {
    match code {
        RDKafkaErrorCode::TopicAuthorizationFailed => KafkaError::TopicAuthorization(topic.into()),
        RDKafkaErrorCode::GroupAuthorizationFailed => KafkaError::GroupAuthorization,
        RDKafkaErrorCode::SaslAuthenticationFailed | RDKafkaErrorCode::Authentication => {
            KafkaError::Authentication
        }
        RDKafkaErrorCode::RebalanceInProgress => KafkaError::RebalanceInProgress,
        // Java turns these into CommitFailedException.
        RDKafkaErrorCode::IllegalGeneration
        | RDKafkaErrorCode::UnknownMemberId
        | RDKafkaErrorCode::FencedInstanceId => KafkaError::CommitFailed,
        RDKafkaErrorCode::RequestTimedOut | RDKafkaErrorCode::OperationTimedOut => {
            KafkaError::Timeout
        }
        RDKafkaErrorCode::InvalidTopic => KafkaError::InvalidTopic,
        other => KafkaError::Other(format!("librdkafka: {other}")),
    }
}

/// The error a Java poll would throw for what librdkafka's poll reported, if any: only
/// authorization and authentication errors, and fatal ones; the rest are informational.
fn poll_failure(error: &RdError) -> Option<KafkaError> {
    trace(|| format!("poll error: {error}"));
    match error {
        RdError::MessageConsumptionFatal(code) => Some(map_code(*code, UNNAMED_TOPIC)),
        RdError::MessageConsumption(code) => {
            let mapped = map_code(*code, UNNAMED_TOPIC);
            mapped.is_auth_error().then_some(mapped)
        }
        _ => None,
    }
}

/// `Offset` as the port's committed offset: `None` for librdkafka's "no offset".
fn port_offset(offset: rdkafka::Offset) -> Option<Offset> {
    match offset {
        rdkafka::Offset::Offset(value) => Some(Offset(value)),
        _ => None,
    }
}

fn tpl_of(partitions: &BTreeSet<TopicPartition>) -> TopicPartitionList {
    let mut tpl = TopicPartitionList::new();
    for tp in partitions {
        tpl.add_partition(&tp.topic, tp.partition);
    }
    tpl
}

fn rd_error(error: RdError) -> KafkaError {
    match error.rdkafka_error_code() {
        Some(code) => map_code(code, ""),
        None => KafkaError::Other(error.to_string()),
    }
}

impl KafkaClient for RdKafkaClient {
    fn subscribe(
        &self,
        subscription: Subscription,
        listener: Rc<dyn RebalanceListener>,
    ) -> KafkaFuture<'_, ()> {
        Box::pin(async move {
            let consumer = self.consumer()?;
            let topics: Vec<String> = match &subscription {
                Subscription::Topics(topics) if topics.is_empty() => {
                    return self.unsubscribe().await;
                }
                Subscription::Topics(topics) => topics.iter().map(|t| t.to_string()).collect(),
                // librdkafka reads a subscription that starts with `^` as a regular expression.
                Subscription::Pattern(pattern) => vec![format!("^{pattern}$")],
                Subscription::Manual(_) => {
                    return Err(KafkaError::IllegalState(
                        "a manual assignment is made with assign".into(),
                    ))
                }
            };
            if matches!(
                self.state.borrow().subscription,
                Some(Subscription::Manual(_))
            ) {
                return Err(KafkaError::IllegalState(
                    "subscription to topics, partitions and pattern are mutually exclusive".into(),
                ));
            }
            let names: Vec<&str> = topics.iter().map(String::as_str).collect();
            consumer.subscribe(&names).map_err(rd_error)?;
            let mut state = self.state.borrow_mut();
            state.subscription = Some(subscription);
            state.listener = Some(listener);
            Ok(())
        })
    }

    fn unsubscribe(&self) -> KafkaFuture<'_, ()> {
        Box::pin(async move {
            let consumer = self.consumer()?;
            let (listener, owned) = {
                let state = self.state.borrow();
                (state.listener.clone(), state.assignment.clone())
            };
            let mut result = Ok(());
            if let (Some(listener), false) = (listener, owned.is_empty()) {
                result = listener.on_revoked(self, owned).await;
            }
            let _ = consumer.unassign();
            consumer.unsubscribe();
            let mut state = self.state.borrow_mut();
            state.assignment.clear();
            state.paused.clear();
            state.held.clear();
            state.carried.clear();
            state.subscription = None;
            state.listener = None;
            result
        })
    }

    fn assign(&self, partitions: BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        let consumer = self.consumer()?;
        if matches!(
            self.state.borrow().subscription,
            Some(Subscription::Topics(_) | Subscription::Pattern(_))
        ) {
            return Err(KafkaError::IllegalState(
                "subscription to topics, partitions and pattern are mutually exclusive".into(),
            ));
        }
        consumer.assign(&tpl_of(&partitions)).map_err(rd_error)?;
        let mut state = self.state.borrow_mut();
        state.subscription =
            (!partitions.is_empty()).then(|| Subscription::Manual(partitions.clone()));
        state.assignment = partitions;
        state.paused.clear();
        state.held.clear();
        Ok(())
    }

    fn poll(&self, timeout: Duration) -> KafkaFuture<'_, Vec<Record>> {
        Box::pin(self.poll_now(timeout))
    }

    fn pause(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        let consumer = self.consumer()?;
        self.check_assigned(partitions)?;
        consumer.pause(&tpl_of(partitions)).map_err(rd_error)?;
        self.state
            .borrow_mut()
            .paused
            .extend(partitions.iter().cloned());
        Ok(())
    }

    fn resume(&self, partitions: &BTreeSet<TopicPartition>) -> Result<(), KafkaError> {
        let consumer = self.consumer()?;
        self.check_assigned(partitions)?;
        consumer.resume(&tpl_of(partitions)).map_err(rd_error)?;
        let mut state = self.state.borrow_mut();
        for tp in partitions {
            state.paused.remove(tp);
            if let Some(held) = state.held.remove(tp) {
                state.carried.extend(held);
            }
        }
        Ok(())
    }

    fn paused(&self) -> Result<BTreeSet<TopicPartition>, KafkaError> {
        self.consumer()?;
        Ok(self.state.borrow().paused.clone())
    }

    fn assignment(&self) -> Result<BTreeSet<TopicPartition>, KafkaError> {
        self.consumer()?;
        Ok(self.state.borrow().assignment.clone())
    }

    fn subscription(&self) -> Result<Option<Subscription>, KafkaError> {
        self.consumer()?;
        Ok(self.state.borrow().subscription.clone())
    }

    fn position(&self, partition: TopicPartition) -> KafkaFuture<'_, Offset> {
        Box::pin(async move {
            self.check_assigned(&BTreeSet::from([partition.clone()]))?;
            let (topic, number) = (partition.topic.to_string(), partition.partition);
            self.blocking(move |consumer| {
                let positions = consumer.position().map_err(rd_error)?;
                if let Some(offset) = positions
                    .find_partition(&topic, number)
                    .and_then(|element| port_offset(element.offset()))
                {
                    return Ok(offset);
                }
                let mut tpl = TopicPartitionList::new();
                tpl.add_partition(&topic, number);
                let committed = consumer
                    .committed_offsets(tpl, Duration::from_secs(10))
                    .map_err(rd_error)?;
                if let Some(offset) = committed
                    .find_partition(&topic, number)
                    .and_then(|element| port_offset(element.offset()))
                {
                    return Ok(offset);
                }
                // auto.offset.reset=earliest: the log start.
                let (low, _) = consumer
                    .fetch_watermarks(&topic, number, Duration::from_secs(10))
                    .map_err(rd_error)?;
                Ok(Offset(low))
            })
            .await
        })
    }

    fn seek(&self, partition: TopicPartition, offset: Offset) -> Result<(), KafkaError> {
        let consumer = self.consumer()?;
        self.check_assigned(&BTreeSet::from([partition.clone()]))?;
        consumer
            .seek(
                &partition.topic,
                partition.partition,
                rdkafka::Offset::Offset(offset.0),
                Duration::ZERO,
            )
            .map_err(rd_error)?;
        let mut state = self.state.borrow_mut();
        state.held.remove(&partition);
        state
            .carried
            .retain(|record| record.topic_partition() != partition);
        Ok(())
    }

    fn commit_async(&self, offsets: Offsets, callback: CommitCallback) -> Result<(), KafkaError> {
        self.consumer()?;
        if offsets.is_empty() {
            // Nothing to send: the callback still runs at the next call, successfully.
            let id = self.next_commit.get();
            self.next_commit.set(id + 1);
            let mut state = self.state.borrow_mut();
            state.in_flight.insert(id, (offsets, Some(callback)));
            state.finished.push_back((id, Ok(())));
            return Ok(());
        }
        self.start_commit(offsets, Some(callback)).map(|_| ())
    }

    fn commit_sync(&self, offsets: Offsets, timeout: Duration) -> KafkaFuture<'_, ()> {
        Box::pin(self.commit_sync_now(offsets, timeout))
    }

    fn committed(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, BTreeMap<TopicPartition, Option<Offset>>> {
        Box::pin(async move {
            let tpl = tpl_of(&partitions);
            let list = self
                .blocking(move |consumer| {
                    let committed = consumer.committed_offsets(tpl, timeout).map_err(rd_error)?;
                    let mut list = Vec::new();
                    for element in committed.elements() {
                        if let Err(error) = element.error() {
                            let code = error.rdkafka_error_code();
                            return Err(match code {
                                Some(code) => map_code(code, element.topic()),
                                None => KafkaError::Other(error.to_string()),
                            });
                        }
                        list.push((
                            element.topic().to_string(),
                            element.partition(),
                            port_offset(element.offset()),
                        ));
                    }
                    Ok(list)
                })
                .await?;
            Ok(list
                .into_iter()
                .map(|(topic, partition, offset)| (TopicPartition::new(topic, partition), offset))
                .collect())
        })
    }

    fn end_offsets(
        &self,
        partitions: BTreeSet<TopicPartition>,
        timeout: Duration,
    ) -> KafkaFuture<'_, Offsets> {
        Box::pin(async move {
            let wanted: Vec<(String, i32)> = partitions
                .iter()
                .map(|tp| (tp.topic.to_string(), tp.partition))
                .collect();
            let list = self
                .blocking(move |consumer| {
                    wanted
                        .into_iter()
                        .map(|(topic, partition)| {
                            let (_, high) = consumer
                                .fetch_watermarks(&topic, partition, timeout)
                                .map_err(rd_error)?;
                            Ok((topic, partition, high))
                        })
                        .collect::<Result<Vec<_>, KafkaError>>()
                })
                .await?;
            Ok(list
                .into_iter()
                .map(|(topic, partition, high)| {
                    (TopicPartition::new(topic, partition), Offset(high))
                })
                .collect())
        })
    }

    fn group_metadata(&self) -> Result<ConsumerGroupMetadata, KafkaError> {
        let consumer = self.consumer()?;
        // SAFETY: the handle is valid; the returned string is freed with rd_kafka_mem_free.
        let member_id = unsafe {
            let raw = rdsys::rd_kafka_memberid(consumer.client().native_ptr());
            if raw.is_null() {
                String::new()
            } else {
                let text = CStr::from_ptr(raw).to_string_lossy().into_owned();
                rdsys::rd_kafka_mem_free(consumer.client().native_ptr(), raw.cast());
                text
            }
        };
        Ok(ConsumerGroupMetadata {
            group_id: self.group_id.as_str().into(),
            // librdkafka keeps the generation inside its opaque group metadata.
            generation_id: -1,
            member_id: member_id.into(),
            group_instance_id: None,
        })
    }

    fn close(&self, timeout: Duration) -> KafkaFuture<'_, ()> {
        Box::pin(self.close_now(timeout))
    }

    fn wakeup(&self) {
        if !self.closed.get() {
            self.woken.set(true);
        }
    }
}
