//! One consumer of a scenario: its client, settings and scope, its consumptions (each a user
//! fiber with a user-call obligation), its record handler, and the user actions events call.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use consumer::internal::RecordHandler;
use consumer::kafka::{KafkaClient, Offset, Subscription, TopicPartition};
use consumer::rt::{Cause, Exit, ExitKind, Fiber, ObligationKind, Process, Schedule};
use consumer::{CommittableRecord, Consumer, ConsumerError, ConsumerSettings, Diagnostics};
use sim::kafka::{ClientConfig, FakeConsumer};

use super::observations::{
    CommitOutcome, ConsumeOutcome, ConsumptionSpan, Disturbance, InterruptRequest, Milestone,
};
use super::triggers::Happened;
use super::World;
use crate::scenario::spec::{ApiName, ConsumeSpec, ConsumerSpec, StartMode};
use crate::scenario::GROUP;

/// A consumer's process and, once made, its client: what a `kill-consumer` kills, and whose
/// heartbeats it stops.
#[derive(Clone)]
pub struct ConsumerProcess {
    pub process: Process,
    pub client: Option<Rc<FakeConsumer>>,
}

/// A started consumption: its name, its topics and its fiber.
type Started = (String, Vec<String>, Fiber<(), ConsumerError>);

/// A consumer that has been made, as events reach it. Cloning shares it.
#[derive(Clone)]
pub struct Instance {
    index: usize,
    consumer: Consumer,
    /// Its consumptions started so far: name, topics and fiber.
    consumptions: Rc<RefCell<Vec<Started>>>,
    /// The last record processed, for a user who commits it again later.
    last_record: Rc<RefCell<Option<(TopicPartition, Offset)>>>,
}

fn ms(value: &Option<crate::scenario::Draw<u64>>) -> Option<Duration> {
    value
        .as_ref()
        .map(|value| Duration::from_millis(value.value()))
}

/// zio-kafka's settings for a consumer of the file, under `protocol` unless it names its own.
fn settings_of(spec: &ConsumerSpec, world: &World) -> ConsumerSettings {
    let mut settings = ConsumerSettings::default().with_protocol(
        spec.protocol
            .as_ref()
            .map(|protocol| protocol.value().0)
            .unwrap_or(world.protocol),
    );
    settings.group_id = GROUP.into();
    if let Some(interval) = ms(&spec.max_poll_interval_ms) {
        // Sets the stream pull interval and the rebalance duration from it, as zio-kafka does.
        settings = settings.with_max_poll_interval(interval);
    }
    if let Some(timeout) = ms(&spec.poll_timeout_ms) {
        settings.poll_timeout = timeout;
    }
    if let Some(timeout) = ms(&spec.commit_timeout_ms) {
        settings = settings.with_commit_timeout(timeout);
    }
    if let Some(timeout) = ms(&spec.close_timeout_ms) {
        settings.close_timeout = timeout;
    }
    if let Some(interval) = ms(&spec.max_stream_pull_interval_ms) {
        settings.max_stream_pull_interval = interval;
    }
    if let Some(duration) = ms(&spec.max_rebalance_duration_ms) {
        settings = settings.with_max_rebalance_duration(duration);
    }
    if let Some(on) = &spec.rebalance_safe_commits {
        settings = settings.with_rebalance_safe_commits(on.value());
    }
    if let Some(on) = &spec.restart_streams_on_rebalancing {
        settings = settings.with_restart_streams_on_rebalancing(on.value());
    }
    if let Some(limit) = &spec.partition_prefetch_buffer_limit {
        settings.partition_prefetch_buffer_limit = limit.value() as usize;
    }
    if let Some(retries) = &spec.auth_error_retries {
        settings = settings.with_auth_error_retry_schedule(
            Schedule::recurs(retries.value() as u32)
                .and(Schedule::spaced(Duration::from_millis(500))),
        );
    }
    if let Some(timeout) = ms(&spec.shutdown_timeout_ms) {
        settings.shutdown_timeout = timeout;
    }
    if let Some(polls) = &spec.empty_poll_count_to_meta_refresh {
        settings = settings.with_empty_poll_count_to_meta_refresh(polls.value() as u32);
    }
    settings
}

/// A label of consumer `index`: the first consumer's labels are plain, a peer's carry its name.
fn label(world: &World, index: usize, what: &str) -> String {
    if index == 0 {
        what.to_string()
    } else {
        format!("{}/{what}", world.file.consumers[index].name)
    }
}

/// Starts consumer `index` of the file, in a process of its own: it is made at its start time,
/// runs its at-start consumptions until they all return, and is closed.
pub fn start(world: &World, index: usize) -> Fiber<(), ()> {
    let world = world.clone();
    let name = label(&world, index, "consumer");
    let process = world.rt.new_process(name.as_str());
    world.processes.borrow_mut()[index] = Some(ConsumerProcess {
        process: process.clone(),
        client: None,
    });
    world
        .rt
        .clone()
        .fork_in_process::<(), (), _>(&process, name, async move {
            let spec = world.file.consumers[index].clone();
            let start = ms(&spec.start_at_ms).unwrap_or_default();
            world.rt.sleep(start.saturating_sub(world.rt.now())).await?;
            run(&world, index, &spec).await;
            Ok(())
        })
}

async fn run(world: &World, index: usize, spec: &ConsumerSpec) {
    let rt = &world.rt;
    let settings = settings_of(spec, world);
    world.observations.borrow_mut()[index].commit_timeout = settings.commit_timeout;
    let mut config = ClientConfig::group(GROUP)
        .with_name(&spec.name)
        .with_max_poll_interval(settings.max_poll_interval);
    if let Some(timeout) = ms(&spec.session_timeout_ms) {
        config = config.with_session_timeout(timeout);
    }
    let client = world.cluster.client(config);
    if let Some(process) = world.processes.borrow_mut()[index].as_mut() {
        process.client = Some(client.clone());
    }
    let listening = world.clone();
    let offered = world.clone();
    let diagnostics = Diagnostics::with_listener(
        rt,
        Rc::new(move |at: Duration, event: &consumer::DiagnosticEvent| {
            note_diagnostic(&listening, index, at, event);
        }),
    )
    .with_command_listener(Rc::new(move |command: &'static str| {
        offered
            .triggers
            .report(index, Happened::CommandOffered(command));
    }));
    let close = rt.obligation(
        ObligationKind::UserCall,
        label(world, index, "consumer scope close"),
    );
    let as_client: Rc<dyn KafkaClient> = client.clone();
    let scoped = world.clone();
    let scoped_spec = spec.clone();
    let _ = rt
        .scoped::<(), ConsumerError, _, _>("consumer_scope", move |scope| async move {
            let consumer =
                Consumer::make(&scoped.rt, settings, as_client, diagnostics, &scope).await?;
            let instance = Instance {
                index,
                consumer,
                consumptions: Rc::new(RefCell::new(Vec::new())),
                last_record: Rc::new(RefCell::new(None)),
            };
            scoped.instances.borrow_mut()[index] = Some(instance.clone());
            let at_start: Vec<Fiber<(), ConsumerError>> = scoped_spec
                .consumptions
                .iter()
                .filter(|consume| consume.start != Some(StartMode::OnEvent))
                .map(|consume| instance.start_consumption(&scoped, consume))
                .collect();
            let driver = {
                let (world, instance) = (scoped.clone(), instance.clone());
                scoped.rt.fork::<(), ConsumerError, _>(
                    label(&scoped, index, "driver"),
                    async move {
                        // The driver that finally stops the consumer, whatever happened.
                        world
                            .rt
                            .sleep(world.final_stop().saturating_sub(world.rt.now()))
                            .await?;
                        instance.stop_consumption(&world).await
                    },
                )
            };
            for fiber in &at_start {
                let _ = fiber.join().await;
            }
            let _ = driver.interrupt().await?;
            scoped.instances.borrow_mut()[index] = None;
            Ok(())
        })
        .await;
    close.close();
    read_offsets(world, index, Some(&client), None);
    world.observations.borrow_mut()[index].finished = true;
}

/// Reads the group's committed offsets, `client`'s own highest commits and its listener calls
/// into consumer `index`'s observations: when it finishes, or when it is killed (`died_at`).
fn read_offsets(
    world: &World,
    index: usize,
    client: Option<&FakeConsumer>,
    died_at: Option<Duration>,
) {
    let mut all = world.observations.borrow_mut();
    let seen = &mut all[index];
    for topic in &world.file.topics {
        for partition in 0..topic.partitions.value() as i32 {
            let tp = TopicPartition::new(topic.name.as_str(), partition);
            if let Some(offset) = world.cluster.committed_offset(GROUP, &tp) {
                seen.committed.insert(tp.to_string(), offset.0);
            }
        }
    }
    for (tp, offset) in client
        .map(|client| client.highest_own_commits())
        .unwrap_or_default()
    {
        seen.own_commits.insert(tp.to_string(), offset);
    }
    // A rebalance lasts as long as the listener's calls: a revocation that waits for commits
    // holds the member's partitions (or, once it was expelled, nobody's) all that time. A call
    // under way when the consumer's process died ended with it.
    for (began, ended) in client
        .map(|client| client.listener_calls())
        .unwrap_or_default()
    {
        seen.disturbances.push(Disturbance {
            from: began,
            until: ended.or(died_at),
            what: "a call of the rebalance listener".into(),
            ends_consumptions: false,
        });
    }
}

/// Kills consumer `index`'s process (`kill-consumer`), if it has started and not finished: its
/// fibers, and the user calls on it, stop without finalizers; the consumer is gone for later
/// events; its committed offsets are read now; its client stops heartbeating, so the group
/// drops it after its session timeout.
pub async fn kill(world: &World, index: usize) -> Exit<(), ()> {
    let Some(target) = world.processes.borrow()[index].clone() else {
        return Ok(());
    };
    if world.observations.borrow()[index].finished || world.rt.is_killed(&target.process) {
        return Ok(());
    }
    world.rt.kill_process(&target.process).await?;
    world.instances.borrow_mut()[index] = None;
    let now = world.rt.now();
    let seq = world.next_seq();
    let session_timeout = target.client.as_ref().map_or_else(
        || ClientConfig::group(GROUP).session_timeout,
        |client| client.config().session_timeout,
    );
    {
        let mut all = world.observations.borrow_mut();
        let seen = &mut all[index];
        seen.milestones.push((now, seq, Milestone::Killed));
        // What the dead process was doing ends with it: its consumptions, and the user actions
        // on it (whose fibers died in it, before they could say they were done).
        for span in seen
            .consumptions
            .iter_mut()
            .filter(|span| span.ended.is_none())
        {
            span.ended = Some(now);
        }
        for action in seen.disturbances.iter_mut().filter(|d| d.until.is_none()) {
            action.until = Some(now);
        }
        // Until its session expires the dead member keeps its partitions and nobody consumes
        // them: the group is disturbed (and then rebalances, which the coordinator records).
        seen.disturbances.push(Disturbance {
            from: now,
            until: Some(now + session_timeout),
            what: "kill-consumer".into(),
            ends_consumptions: false,
        });
    }
    read_offsets(world, index, target.client.as_deref(), Some(now));
    if let Some(client) = &target.client {
        world.cluster.process_died(client);
    }
    Ok(())
}

/// Notes a diagnostic event: a milestone for the invariants, a trigger for the events.
fn note_diagnostic(world: &World, index: usize, at: Duration, event: &consumer::DiagnosticEvent) {
    use consumer::DiagnosticEvent as Event;
    if let Some(milestone) = Milestone::of(event) {
        let seq = world.next_seq();
        world.observations.borrow_mut()[index]
            .milestones
            .push((at, seq, milestone));
    }
    match event {
        Event::Rebalance {
            revoked,
            assigned,
            lost,
            ..
        } => {
            world.observations.borrow_mut()[index]
                .disturbances
                .push(Disturbance {
                    from: at,
                    until: Some(at),
                    what: "a rebalance".into(),
                    ends_consumptions: false,
                });
            world.triggers.report(index, Happened::RebalanceStarted);
            if !assigned.is_empty() {
                world.triggers.report(index, Happened::PartitionsAssigned);
            }
            if !revoked.is_empty() {
                world.triggers.report(index, Happened::PartitionsRevoked);
            }
            if !lost.is_empty() {
                world.triggers.report(index, Happened::PartitionsLost);
            }
        }
        Event::RunloopExited { exit, .. } if *exit != ExitKind::Success => {
            world.triggers.report(index, Happened::RunloopCrashed);
        }
        _ => {}
    }
}

impl Instance {
    /// Forks the user fiber of one consumption, as a user-call obligation.
    pub fn start_consumption(&self, world: &World, spec: &ConsumeSpec) -> Fiber<(), ConsumerError> {
        let name = label(world, self.index, &spec.display_name());
        let (world2, instance, spec2) = (world.clone(), self.clone(), spec.clone());
        let call_name = name.clone();
        let fiber = world
            .rt
            .fork::<(), ConsumerError, _>(name.clone(), async move {
                let call = world2
                    .rt
                    .obligation(ObligationKind::UserCall, call_name.as_str());
                let span = {
                    let mut all = world2.observations.borrow_mut();
                    let spans = &mut all[instance.index].consumptions;
                    spans.push(ConsumptionSpan {
                        topics: spec2.topics.clone(),
                        started: world2.rt.now(),
                        ended: None,
                    });
                    spans.len() - 1
                };
                let exit = instance.consume(&world2, &spec2).await;
                let seq = world2.next_seq();
                {
                    let mut all = world2.observations.borrow_mut();
                    let seen = &mut all[instance.index];
                    seen.consumptions[span].ended = Some(world2.rt.now());
                    seen.consume_outcomes.push(ConsumeOutcome {
                        topic: spec2.topics.join("+"),
                        exit: ExitKind::of(&exit),
                        failure: exit.as_ref().err().map(|cause| cause.to_string()),
                        at: world2.rt.now(),
                        seq,
                    });
                }
                call.close();
                exit
            });
        self.consumptions.borrow_mut().push((
            spec.display_name(),
            spec.topics.clone(),
            fiber.clone(),
        ));
        fiber
    }

    /// Starts a consumption declared `start = "on-event"`, by name.
    pub fn add_consumption(&self, world: &World, name: &str) {
        let spec = world.file.consumers[self.index]
            .consumptions
            .iter()
            .find(|consume| consume.display_name() == name)
            .cloned();
        if let Some(spec) = spec {
            self.start_consumption(world, &spec);
        }
    }

    /// One consumption through its API, with the scenario's record handler.
    async fn consume(&self, world: &World, spec: &ConsumeSpec) -> Exit<(), ConsumerError> {
        let subscription = Subscription::topics(spec.topics.iter().map(String::as_str));
        let handler = self.record_handler(world, spec);
        let consumer = self.consumer.clone();
        match spec.api.value() {
            ApiName::ConsumeWith => consumer.consume_with(subscription, handler).await,
            ApiName::RunWithGracefulShutdown => {
                consumer
                    .run_with_graceful_shutdown(subscription, handler)
                    .await
            }
            ApiName::PlainStream => {
                world
                    .rt
                    .scoped("subscription_scope", move |scope| async move {
                        let mut records = consumer.plain_stream(subscription, &scope).await?;
                        // One read per record produced at most, and a margin: a bounded loop.
                        for _read in 0..10_000_000u64 {
                            match records.next().await? {
                                Some(record) => handler(record).await?,
                                None => return Ok(()),
                            }
                        }
                        Err(Cause::Die("a plain stream read its read limit".into()))
                    })
                    .await
            }
            ApiName::PartitionedStream => {
                let rt = world.rt.clone();
                world
                    .rt
                    .scoped("subscription_scope", move |scope| async move {
                        let mut streams = consumer.partitioned_stream(subscription, &scope).await?;
                        let mut fibers = Vec::new();
                        while let Some(mut stream) = streams.next().await? {
                            let handler = handler.clone();
                            fibers.push(rt.fork::<(), ConsumerError, _>(
                                format!("partition:{}", stream.tp()),
                                async move {
                                    while let Some(chunk) = stream.next_chunk().await? {
                                        for record in chunk {
                                            handler(record).await?;
                                        }
                                    }
                                    stream.finish().await
                                },
                            ));
                        }
                        for fiber in fibers {
                            fiber.join().await?;
                        }
                        Ok(())
                    })
                    .await
            }
        }
    }

    /// The user's record handler: takes its time, notes what it processed, and commits the
    /// record itself when the scenario says so.
    fn record_handler(&self, world: &World, spec: &ConsumeSpec) -> RecordHandler {
        let (world, instance) = (world.clone(), self.clone());
        let delay = Duration::from_millis(
            spec.handler_delay_ms
                .as_ref()
                .map(|d| d.value())
                .unwrap_or(0),
        );
        let commit_each = spec
            .commit_each_record
            .as_ref()
            .is_some_and(|commit| commit.value());
        Rc::new(move |record: CommittableRecord| {
            let (world, instance) = (world.clone(), instance.clone());
            Box::pin(async move {
                world.rt.sleep(delay).await?;
                let tp = record.topic_partition();
                {
                    let mut all = world.observations.borrow_mut();
                    all[instance.index]
                        .processed
                        .entry(tp.to_string())
                        .or_default()
                        .insert(record.offset().0);
                }
                *instance.last_record.borrow_mut() = Some((tp.clone(), record.offset()));
                world
                    .triggers
                    .report(instance.index, Happened::RecordProcessed);
                if commit_each {
                    let started = world.rt.now();
                    let result = record.commit().await;
                    return instance.note_commit(&world, started, result);
                }
                Ok(())
            })
        })
    }

    /// The user stops consumption; the first time is noted for the invariants.
    pub async fn stop_consumption(&self, world: &World) -> Exit<(), ConsumerError> {
        let seq = world.next_seq();
        world.observations.borrow_mut()[self.index]
            .stop_requested_seq
            .get_or_insert(seq);
        self.consumer.stop_consumption().await
    }

    /// The user interrupts the consumption `name` (every one of that name started so far).
    pub async fn interrupt(&self, world: &World, name: &str) -> Exit<(), ConsumerError> {
        let targets: Vec<(Vec<String>, Fiber<(), ConsumerError>)> = self
            .consumptions
            .borrow()
            .iter()
            .filter(|(started, _, fiber)| started == name && !fiber.is_done())
            .map(|(_, topics, fiber)| (topics.clone(), fiber.clone()))
            .collect();
        for (topics, fiber) in targets {
            self.note_interrupt(world, &topics);
            fiber.interrupt_fork().await?;
        }
        Ok(())
    }

    /// The user closes the consumer: every consumption is interrupted, so the consumer's scope
    /// closes once they have returned.
    pub async fn close(&self, world: &World) -> Exit<(), ConsumerError> {
        let names: Vec<String> = self
            .consumptions
            .borrow()
            .iter()
            .map(|(name, _, _)| name.clone())
            .collect();
        for name in names {
            self.interrupt(world, &name).await?;
        }
        Ok(())
    }

    fn note_interrupt(&self, world: &World, topics: &[String]) {
        for topic in topics {
            let seq = world.next_seq();
            world.observations.borrow_mut()[self.index]
                .interrupt_requests
                .push(InterruptRequest {
                    topic: topic.clone(),
                    at: world.rt.now(),
                    seq,
                });
        }
    }

    /// The user commits the last record processed again, through the runloop's committer.
    pub async fn commit_processed(&self, world: &World) -> Exit<(), ConsumerError> {
        let record = self.last_record.borrow().clone();
        if let (Some((tp, offset)), Some(runloop)) =
            (record, self.consumer.runloop_access().runloop())
        {
            let started = world.rt.now();
            let mut offsets = consumer::kafka::Offsets::new();
            offsets.insert(tp, offset);
            let result = runloop.committer().commit(offsets).await;
            return self.note_commit(world, started, result);
        }
        Ok(())
    }

    /// Notes a user's commit that started at `started` and ended now. Its failure is the
    /// consumer's business (the invariants read it); only an interruption of the committing
    /// fiber goes on.
    fn note_commit<T>(
        &self,
        world: &World,
        started: Duration,
        result: Exit<T, ConsumerError>,
    ) -> Exit<(), ConsumerError> {
        world.observations.borrow_mut()[self.index]
            .explicit_commits
            .push(CommitOutcome {
                started,
                ended: world.rt.now(),
                result: result
                    .as_ref()
                    .map_err(|cause| cause.to_string())
                    .map(|_| ()),
            });
        match result {
            Err(Cause::Interrupt(by)) => Err(Cause::Interrupt(by)),
            _ => Ok(()),
        }
    }
}
