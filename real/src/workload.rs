//! The real workload: the consumer core on a real client, one `consume_with` per topic, the
//! scenario's events at their times, and the final stop; what it sees goes to
//! [`RealObservations`] as it happens. It mirrors the simulator's catalogue workload
//! (`scenarios::catalogue`) with the fake cluster replaced by a [`Broker`] and real peers.

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use consumer::kafka::{KafkaClient, Subscription};
use consumer::rt::{Cause, Exit, ExitKind, Fiber, ObligationKind, Rt, Schedule};
use consumer::{
    CommittableRecord, Consumer, ConsumerError, ConsumerSettings, DiagnosticEvent, Diagnostics,
    ShutdownProtocol,
};
use rdkafka::consumer::{BaseConsumer, Consumer as _};

use scenarios::workload::OffsetSet;

use crate::broker::Broker;
use crate::client::{consumer_config, RdKafkaClient};
use crate::runtime::TokioRuntime;
use crate::scenario::{RealAction, RealScenario};

/// How one `consume_with` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeEnd {
    pub topic: String,
    pub exit: ExitKind,
    pub failure: Option<String>,
    pub at: Duration,
    pub seq: u64,
}

/// One explicit commit by the handler.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HandlerCommit {
    pub started: Duration,
    pub ended: Duration,
    pub result: Result<(), String>,
}

/// What a real run saw; `seq` orders what happened at one instant.
#[derive(Clone, Debug, Default)]
pub struct RealObservations {
    pub consume_ends: Vec<ConsumeEnd>,
    /// The driver asked the `consume_with` of a topic to stop: (topic, at, seq).
    pub interrupts: Vec<(String, Duration, u64)>,
    /// The offsets processed per partition (`topic-partition`).
    pub processed: BTreeMap<String, OffsetSet>,
    /// The group's committed offsets at the end (read after the consumer closed).
    pub committed: BTreeMap<String, i64>,
    pub handler_commits: Vec<HandlerCommit>,
    /// The consumer's diagnostic events that invariants need, with time and seq.
    pub diagnostics: Vec<(Duration, u64, DiagnosticEvent)>,
    pub commit_timeout: Duration,
    pub stop_requested_seq: Option<u64>,
    /// Records that reached a handler (progress, and a sanity figure for reports).
    pub records_processed: u64,
    /// Whether the workload ran to its end.
    pub finished: bool,
    /// Faults the broker could not produce, or peers that could not join (the run is void).
    pub setup_errors: Vec<String>,
}

#[derive(Clone)]
struct World {
    rt: Rt,
    runtime: Rc<TokioRuntime>,
    scenario: Rc<RealScenario>,
    broker: Rc<Broker>,
    group: String,
    seen: Rc<RefCell<RealObservations>>,
    sequence: Rc<Cell<u64>>,
}

impl World {
    fn next_seq(&self) -> u64 {
        let seq = self.sequence.get() + 1;
        self.sequence.set(seq);
        seq
    }
}

/// The consumer core's settings for a real run, as the catalogue sets them.
fn settings(scenario: &RealScenario, protocol: ShutdownProtocol) -> ConsumerSettings {
    let schedule = Schedule::recurs(scenario.auth_retries as u32)
        .and(Schedule::spaced(Duration::from_millis(500)));
    ConsumerSettings::default()
        .with_protocol(protocol)
        .with_auth_error_retry_schedule(schedule)
        .with_max_poll_interval(scenario.max_poll_interval)
}

/// Runs the scenario on `client` to its end, writing what it sees to `seen`.
#[allow(clippy::too_many_arguments)]
pub async fn workload(
    rt: Rt,
    runtime: Rc<TokioRuntime>,
    scenario: Rc<RealScenario>,
    protocol: ShutdownProtocol,
    broker: Rc<Broker>,
    group: String,
    client: Rc<RdKafkaClient>,
    seen: Rc<RefCell<RealObservations>>,
) {
    let settings = settings(&scenario, protocol);
    seen.borrow_mut().commit_timeout = settings.commit_timeout;
    let world = World {
        rt: rt.clone(),
        runtime,
        scenario,
        broker,
        group,
        seen: seen.clone(),
        sequence: Rc::new(Cell::new(0)),
    };
    let diagnostics_world = world.clone();
    let diagnostics = Diagnostics::with_listener(
        &rt,
        Rc::new(move |at: Duration, event: &DiagnosticEvent| {
            let wanted = matches!(
                event,
                DiagnosticEvent::RunloopExited { .. }
                    | DiagnosticEvent::ConsumptionEnded { .. }
                    | DiagnosticEvent::SubscriptionFinalized
                    | DiagnosticEvent::RunloopFinalized
                    | DiagnosticEvent::ConsumerFinalized
            );
            if wanted {
                let seq = diagnostics_world.next_seq();
                diagnostics_world
                    .seen
                    .borrow_mut()
                    .diagnostics
                    .push((at, seq, event.clone()));
            }
        }),
    );
    let close = rt.obligation(ObligationKind::UserCall, "consumer scope close");
    let as_client: Rc<dyn KafkaClient> = client;
    let scoped_world = world.clone();
    let _ = rt
        .scoped::<(), ConsumerError, _, _>("consumer_scope", move |scope| async move {
            let consumer =
                Consumer::make(&scoped_world.rt, settings, as_client, diagnostics, &scope).await?;
            drive(&scoped_world, &consumer).await
        })
        .await;
    close.close();
    let committed = read_committed(&world).await;
    let mut seen = seen.borrow_mut();
    seen.committed = committed;
    seen.finished = true;
}

/// The group's committed offsets, read by a client that does not join the group.
async fn read_committed(world: &World) -> BTreeMap<String, i64> {
    let config = consumer_config(world.broker.bootstrap(), &world.group);
    let (topics, partitions) = (world.scenario.topics.clone(), world.scenario.partitions);
    let read = tokio::task::spawn_blocking(move || -> Option<BTreeMap<String, i64>> {
        let reader: BaseConsumer = config.create().ok()?;
        let mut tpl = rdkafka::TopicPartitionList::new();
        for topic in &topics {
            tpl.add_partition_range(topic, 0, partitions - 1);
        }
        let committed = reader
            .committed_offsets(tpl, Duration::from_secs(10))
            .ok()?;
        Some(
            committed
                .elements()
                .iter()
                .filter_map(|element| match element.offset() {
                    rdkafka::Offset::Offset(offset) => Some((
                        format!("{}-{}", element.topic(), element.partition()),
                        offset,
                    )),
                    _ => None,
                })
                .collect(),
        )
    });
    read.await.ok().flatten().unwrap_or_default()
}

async fn drive(world: &World, consumer: &Consumer) -> Exit<(), ConsumerError> {
    let rt = &world.rt;
    let mut consumers = Vec::new();
    for topic in &world.scenario.topics {
        consumers.push((topic.clone(), start_consume_with(world, consumer, topic)));
    }
    let driver = rt.fork::<(), ConsumerError, _>(
        "driver",
        drive_events(world.clone(), consumer.clone(), consumers.clone()),
    );
    for (_, fiber) in &consumers {
        let _ = fiber.join().await;
    }
    let _ = driver.interrupt().await?;
    Ok(())
}

/// The scenario's events at their times, then the final stop.
async fn drive_events(
    world: World,
    consumer: Consumer,
    consumers: Vec<(String, Fiber<(), ConsumerError>)>,
) -> Exit<(), ConsumerError> {
    let rt = &world.rt;
    let mut peers: BTreeMap<String, crate::peer::Peer> = BTreeMap::new();
    for event in world.scenario.events.iter() {
        rt.sleep(event.at.saturating_sub(rt.now())).await?;
        // The driver acting is progress: the quiet window starts after its last action.
        world.runtime.note_progress();
        match &event.action {
            RealAction::StopConsumption => stop_consumption(&world, &consumer).await?,
            RealAction::InterruptConsume { topic } => {
                if let Some((_, fiber)) = consumers.iter().find(|(name, _)| name == topic) {
                    request_interrupt(&world, topic);
                    fiber.interrupt_fork().await?;
                }
            }
            RealAction::PeerJoin { peer } => {
                match crate::peer::Peer::join(
                    world.broker.bootstrap(),
                    &world.group,
                    &world.scenario.topics,
                ) {
                    Ok(joined) => {
                        peers.insert(peer.clone(), joined);
                    }
                    Err(error) => world.seen.borrow_mut().setup_errors.push(error),
                }
            }
            RealAction::PeerLeave { peer } => {
                peers.remove(peer);
            }
            action => {
                let fault = action
                    .fault()
                    .expect("every other action is a broker fault");
                let topics = world.scenario.topics.clone();
                let index = move |topic: &str| topics.iter().position(|t| t == topic).unwrap_or(0);
                if let Err(error) = world.broker.apply(&fault, index) {
                    world.seen.borrow_mut().setup_errors.push(error);
                }
            }
        }
    }
    rt.sleep(world.scenario.final_stop.saturating_sub(rt.now()))
        .await?;
    world.runtime.note_progress();
    stop_consumption(&world, &consumer).await
}

async fn stop_consumption(world: &World, consumer: &Consumer) -> Exit<(), ConsumerError> {
    let seq = world.next_seq();
    world
        .seen
        .borrow_mut()
        .stop_requested_seq
        .get_or_insert(seq);
    consumer.stop_consumption().await
}

fn request_interrupt(world: &World, topic: &str) {
    let seq = world.next_seq();
    world
        .seen
        .borrow_mut()
        .interrupts
        .push((topic.to_string(), world.rt.now(), seq));
}

fn start_consume_with(world: &World, consumer: &Consumer, topic: &str) -> Fiber<(), ConsumerError> {
    let (world2, consumer2, topic2) = (world.clone(), consumer.clone(), topic.to_string());
    let name = format!("consume_with:{topic}");
    world
        .rt
        .fork::<(), ConsumerError, _>(name.clone(), async move {
            let call = world2
                .rt
                .obligation(ObligationKind::UserCall, name.as_str());
            let handler = record_handler(&world2);
            let exit = consumer2
                .run_with_graceful_shutdown(Subscription::topics([topic2.as_str()]), handler)
                .await;
            let seq = world2.next_seq();
            world2.seen.borrow_mut().consume_ends.push(ConsumeEnd {
                topic: topic2.clone(),
                exit: ExitKind::of(&exit),
                failure: exit.as_ref().err().map(|cause| cause.to_string()),
                at: world2.rt.now(),
                seq,
            });
            call.close();
            exit
        })
}

fn record_handler(world: &World) -> consumer::internal::RecordHandler {
    let world = world.clone();
    Rc::new(move |record: CommittableRecord| {
        let world = world.clone();
        Box::pin(async move {
            world.rt.sleep(world.scenario.handler_delay).await?;
            let tp = record.topic_partition();
            {
                let mut seen = world.seen.borrow_mut();
                seen.processed
                    .entry(tp.to_string())
                    .or_default()
                    .insert(record.offset().0);
                seen.records_processed += 1;
            }
            world.runtime.note_progress();
            if world.scenario.commit_each_record {
                let started = world.rt.now();
                let result = record.commit().await;
                world.runtime.note_progress();
                world.seen.borrow_mut().handler_commits.push(HandlerCommit {
                    started,
                    ended: world.rt.now(),
                    result: result
                        .as_ref()
                        .map_err(|cause| cause.to_string())
                        .map(|_| ()),
                });
                if let Err(Cause::Interrupt(by)) = result {
                    return Err(Cause::Interrupt(by));
                }
            }
            Ok(())
        })
    })
}
