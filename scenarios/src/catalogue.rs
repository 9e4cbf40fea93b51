//! The scenario catalogue: named consumer lifetimes, each a workload (topics, records, the
//! consumer and its `consume_with` calls), a fault plan, and a driver that finally stops the
//! consumer.
//!
//! Every scenario runs one consumer on the fake cluster: one `consume_with` per subscription
//! (topic `topicN`, each its own fiber and its own user-call obligation), a group-managed client,
//! and the consumer scope closed at the end (another obligation). What a workload saw that
//! invariants need (how each `consume_with` ended, what was processed, how commits went) goes
//! to one [`Observations`] sink as it happens, and is checked by [`crate::invariants`].

use std::cell::{Cell, RefCell};
use std::collections::BTreeMap;
use std::rc::Rc;
use std::time::Duration;

use consumer::internal::labels::RECORDS_AFTER_END;
use consumer::internal::RecordHandler;
use consumer::kafka::{KafkaClient, Offset, Subscription, TopicPartition};
use consumer::rt::{Cause, Exit, ExitKind, Fiber, ObligationKind, Rt, Schedule};
use consumer::{
    CommittableRecord, Consumer, ConsumerError, ConsumerSettings, Diagnostics, ShutdownProtocol,
};
use sim::kafka::{AclChange, ClientConfig, FakeCluster, FaultPlan, RebalanceProtocol};

use crate::params::ScenarioParams;

/// The consumer group of every scenario.
pub const GROUP: &str = "hangsim-group";

/// The topic a chaos run subscribes to later, with a subscription of its own.
const CHAOS_EXTRA_TOPIC: &str = "extra";

/// When the driver stops consumption if nothing else has ended it (virtual time).
const FINAL_STOP: Duration = Duration::from_secs(30);

/// A scenario's name.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ScenarioName {
    AuthCrash,
    AuthCrashEndStreams,
    AuthCrashIdleStreams,
    GracefulShutdown,
    RebalanceDuringShutdown,
    PullTimeout,
    CommitAfterCrash,
    Chaos,
}

impl ScenarioName {
    /// Every scenario, in catalogue order.
    pub const ALL: [ScenarioName; 8] = [
        ScenarioName::AuthCrash,
        ScenarioName::AuthCrashEndStreams,
        ScenarioName::AuthCrashIdleStreams,
        ScenarioName::GracefulShutdown,
        ScenarioName::RebalanceDuringShutdown,
        ScenarioName::PullTimeout,
        ScenarioName::CommitAfterCrash,
        ScenarioName::Chaos,
    ];

    /// The name on the command line and in fixtures.
    pub fn name(self) -> &'static str {
        match self {
            ScenarioName::AuthCrash => "auth-crash",
            ScenarioName::AuthCrashEndStreams => "auth-crash-end-streams",
            ScenarioName::AuthCrashIdleStreams => "auth-crash-idle-streams",
            ScenarioName::GracefulShutdown => "graceful-shutdown",
            ScenarioName::RebalanceDuringShutdown => "rebalance-during-shutdown",
            ScenarioName::PullTimeout => "pull-timeout",
            ScenarioName::CommitAfterCrash => "commit-after-crash",
            ScenarioName::Chaos => "chaos",
        }
    }

    /// One line for `hangsim list`.
    pub fn description(self) -> &'static str {
        match self {
            ScenarioName::AuthCrash => {
                "consume_with on two subscriptions over four partitions; READ denied; the runloop crashes"
            }
            ScenarioName::AuthCrashEndStreams => {
                "auth-crash while the user interrupts a consume_with, whose graceful shutdown calls end"
            }
            ScenarioName::AuthCrashIdleStreams => {
                "auth-crash with partition streams idle on empty queues (zio-kafka #1705)"
            }
            ScenarioName::GracefulShutdown => "stop_consumption and consumer close with commits in flight",
            ScenarioName::RebalanceDuringShutdown => {
                "peers join and leave, partitions revoked and lost, while subscriptions end"
            }
            ScenarioName::PullTimeout => "a slow handler exceeds the stream pull interval while another runs",
            ScenarioName::CommitAfterCrash => "commits issued after the crash fail with CommitTimeout in time",
            ScenarioName::Chaos => "every fault and user operation the world supports, drawn per seed",
        }
    }

    /// Whether the scenario denies READ so that the runloop may crash.
    pub fn denies_read(self) -> bool {
        matches!(
            self,
            ScenarioName::AuthCrash
                | ScenarioName::AuthCrashEndStreams
                | ScenarioName::AuthCrashIdleStreams
                | ScenarioName::CommitAfterCrash
                | ScenarioName::Chaos
        )
    }
}

/// How one `consume_with` ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConsumeOutcome {
    /// The topic it consumed.
    pub topic: String,
    pub exit: ExitKind,
    /// The failure's text, if it failed.
    pub failure: Option<String>,
    pub at: Duration,
    /// Its place in the order of everything observed (several things happen at one instant).
    pub seq: u64,
}

/// The driver asked the `consume_with` of `topic` to stop (interrupted its fiber).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct InterruptRequest {
    pub topic: String,
    pub at: Duration,
    /// Its place in the order of everything observed.
    pub seq: u64,
}

/// One explicit commit by a user (`record.commit()`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CommitOutcome {
    pub started: Duration,
    pub ended: Duration,
    pub result: Result<(), String>,
}

/// A diagnostic event the invariants and reports need, as plain data.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Milestone {
    SubscriptionFinalized,
    RunloopFinalized,
    ConsumerFinalized,
    /// The runloop ended: how, its cause's text, and whether that cause is the defect of
    /// offering records to a partition stream that had ended.
    RunloopExited {
        exit: ExitKind,
        cause: Option<String>,
        offered_records_after_end: bool,
    },
    /// A `consume_with`'s processing ended, before its subscription's finalizers.
    ConsumptionEnded {
        topics: Vec<String>,
        exit: ExitKind,
    },
}

impl Milestone {
    fn of(event: &consumer::DiagnosticEvent) -> Option<Milestone> {
        use consumer::DiagnosticEvent as Event;
        match event {
            Event::SubscriptionFinalized => Some(Milestone::SubscriptionFinalized),
            Event::RunloopFinalized => Some(Milestone::RunloopFinalized),
            Event::ConsumerFinalized => Some(Milestone::ConsumerFinalized),
            Event::RunloopExited { exit, cause } => Some(Milestone::RunloopExited {
                exit: *exit,
                cause: cause.clone(),
                // The consumer reports its cause as text; it owns the words of this defect, so
                // the check names its constant rather than repeating them.
                offered_records_after_end: *exit == ExitKind::Die
                    && cause
                        .as_deref()
                        .is_some_and(|text| text.contains(RECORDS_AFTER_END)),
            }),
            Event::ConsumptionEnded { topics, exit } => Some(Milestone::ConsumptionEnded {
                topics: topics.clone(),
                exit: *exit,
            }),
            _ => None,
        }
    }
}

/// What a workload saw, for the invariants and the report. The workload writes it as things
/// happen, so a run cut short keeps everything it observed until then.
#[derive(Clone, Debug, Default)]
pub struct Observations {
    pub consume_outcomes: Vec<ConsumeOutcome>,
    /// The driver's requests to stop a `consume_with`.
    pub interrupt_requests: Vec<InterruptRequest>,
    /// The highest offset processed per partition (`topic-partition`).
    pub processed: BTreeMap<String, i64>,
    /// Committed offsets of the group at the end (offset + 1 of the last committed record).
    pub committed: BTreeMap<String, i64>,
    pub explicit_commits: Vec<CommitOutcome>,
    /// The consumer's milestones (from its diagnostic events), with their times and their
    /// places in the order of everything observed.
    pub milestones: Vec<(Duration, u64, Milestone)>,
    /// The commit timeout in force.
    pub commit_timeout: Duration,
    /// When the user first called `stop_consumption`, in the order of observations.
    pub stop_requested_seq: Option<u64>,
    /// Whether the workload ran to its end (the consumer scope closed); the committed offsets
    /// are read then, so they are empty for a run cut short.
    pub finished: bool,
}

/// Everything a scenario's fibers share.
#[derive(Clone)]
struct World {
    rt: Rt,
    scenario: ScenarioName,
    params: ScenarioParams,
    cluster: FakeCluster,
    observations: Rc<RefCell<Observations>>,
    /// The last record processed, for a user who commits it again later.
    last_record: Rc<RefCell<Option<(TopicPartition, Offset)>>>,
    /// Orders what is observed: many things happen at one virtual instant.
    sequence: Rc<Cell<u64>>,
}

impl World {
    fn next_seq(&self) -> u64 {
        let seq = self.sequence.get() + 1;
        self.sequence.set(seq);
        seq
    }
}

fn auth_schedule(retries: u8) -> Schedule {
    Schedule::recurs(retries as u32).and(Schedule::spaced(Duration::from_millis(500)))
}

/// Runs one scenario to its end. What it sees goes to `sink` as it happens: a run cut short
/// (a hang at the deadline) keeps everything observed until then, but not the committed offsets
/// and the `finished` mark, which only the end of the workload writes.
pub async fn workload(
    rt: Rt,
    scenario: ScenarioName,
    params: ScenarioParams,
    protocol: ShutdownProtocol,
    sink: Rc<RefCell<Observations>>,
) {
    let cluster = FakeCluster::new(&rt);
    cluster.create_group(GROUP, RebalanceProtocol::EagerRange);
    for topic in params.topics() {
        cluster.create_topic(&topic, params.partitions_per_topic as i32);
        for partition in 0..params.partitions_per_topic as i32 {
            let tp = TopicPartition::new(topic.as_str(), partition);
            for n in 0..params.records_per_partition as u64 {
                let at = Duration::from_millis(n * params.produce_every_ms);
                cluster.produce_at(
                    at,
                    &tp,
                    &format!("k{n}"),
                    &format!("{topic}-{partition}-{n}"),
                );
            }
        }
    }
    if scenario == ScenarioName::Chaos {
        cluster.create_topic(CHAOS_EXTRA_TOPIC, params.partitions_per_topic as i32);
        for n in 0..params.records_per_partition as u64 {
            let tp = TopicPartition::new(CHAOS_EXTRA_TOPIC, 0);
            cluster.produce_at(
                Duration::from_millis(n * params.produce_every_ms),
                &tp,
                "k",
                "extra",
            );
        }
    }
    let mut plan: FaultPlan = params.faults.clone();
    if scenario.denies_read() {
        plan.acl_changes.push(AclChange {
            at_ms: params.deny_at_ms,
            topic: "topic0".into(),
            access: params.deny_mode,
            client: None,
        });
    }
    cluster.apply_faults(&plan);
    let max_poll_interval = Duration::from_millis(params.max_poll_interval_ms);
    let client =
        cluster.client(ClientConfig::group(GROUP).with_max_poll_interval(max_poll_interval));
    let settings = ConsumerSettings::default()
        .with_protocol(protocol)
        .with_auth_error_retry_schedule(auth_schedule(params.auth_retries))
        .with_max_poll_interval(max_poll_interval);
    sink.borrow_mut().commit_timeout = settings.commit_timeout;
    let observations = sink;
    let world = World {
        rt: rt.clone(),
        scenario,
        params,
        cluster,
        observations: observations.clone(),
        last_record: Rc::new(RefCell::new(None)),
        sequence: Rc::new(Cell::new(0)),
    };
    let milestone_world = world.clone();
    let diagnostics = Diagnostics::with_listener(
        &rt,
        Rc::new(move |at: Duration, event: &consumer::DiagnosticEvent| {
            if let Some(milestone) = Milestone::of(event) {
                let seq = milestone_world.next_seq();
                milestone_world
                    .observations
                    .borrow_mut()
                    .milestones
                    .push((at, seq, milestone));
            }
        }),
    );
    let close = rt.obligation(ObligationKind::UserCall, "consumer scope close");
    let as_client: Rc<dyn KafkaClient> = client;
    let scoped_world = world.clone();
    let scoped_diagnostics = diagnostics.clone();
    let _ = rt
        .scoped::<(), ConsumerError, _, _>("consumer_scope", move |scope| async move {
            let consumer = Consumer::make(
                &scoped_world.rt,
                settings,
                as_client,
                scoped_diagnostics,
                &scope,
            )
            .await?;
            drive(&scoped_world, &consumer).await
        })
        .await;
    close.close();
    let mut seen = observations.borrow_mut();
    for topic in world.params.topics() {
        for partition in 0..world.params.partitions_per_topic as i32 {
            let tp = TopicPartition::new(topic.as_str(), partition);
            if let Some(offset) = world.cluster.committed_offset(GROUP, &tp) {
                seen.committed.insert(tp.to_string(), offset.0);
            }
        }
    }
    seen.finished = true;
}

/// The user's side: the `consume_with` fibers and the scenario's actions, then the end.
async fn drive(world: &World, consumer: &Consumer) -> Exit<(), ConsumerError> {
    let rt = &world.rt;
    let mut consumers: Vec<(String, Fiber<(), ConsumerError>)> = Vec::new();
    for topic in world.params.topics() {
        let fiber = start_consume_with(world, consumer, &topic, false);
        consumers.push((topic, fiber));
    }
    let driver = rt.fork::<(), ConsumerError, _>(
        "driver",
        drive_actions(world.clone(), consumer.clone(), consumers.clone()),
    );
    for (_, fiber) in &consumers {
        let _ = fiber.join().await;
    }
    let _ = driver.interrupt().await?;
    Ok(())
}

/// The scenario's own actions, then the final stop.
async fn drive_actions(
    world: World,
    consumer: Consumer,
    consumers: Vec<(String, Fiber<(), ConsumerError>)>,
) -> Exit<(), ConsumerError> {
    let rt = &world.rt;
    let params = &world.params;
    let stop_at = Duration::from_millis(params.stop_at_ms);
    match world.scenario {
        ScenarioName::AuthCrashEndStreams => {
            rt.sleep(stop_at).await?;
            if let Some((topic, fiber)) = consumers.last() {
                request_interrupt(&world, topic);
                fiber.interrupt_fork().await?;
            }
        }
        ScenarioName::GracefulShutdown => {
            rt.sleep(stop_at).await?;
            stop_consumption(&world, &consumer).await?;
        }
        ScenarioName::RebalanceDuringShutdown => {
            for peer in 0..params.peers {
                let at = Duration::from_millis(params.deny_at_ms / (peer as u64 + 1));
                rt.sleep(at.saturating_sub(rt.now())).await?;
                world.cluster.peer_join(GROUP, &format!("peer{peer}"));
            }
            rt.sleep(stop_at.saturating_sub(rt.now())).await?;
            if let Some((topic, fiber)) = consumers.first() {
                request_interrupt(&world, topic);
                fiber.interrupt_fork().await?;
            }
            if params.peers > 0 {
                world.cluster.peer_leave(GROUP, "peer0");
            }
            rt.sleep(Duration::from_millis(params.handler_delay_ms * 10))
                .await?;
            if let Some((topic, fiber)) = consumers.get(1) {
                request_interrupt(&world, topic);
                fiber.interrupt_fork().await?;
            }
        }
        ScenarioName::CommitAfterCrash => {
            // A user that commits the records it saw again, every second, until the final stop.
            for _round in 0..(FINAL_STOP.as_secs()) {
                rt.sleep(Duration::from_secs(1)).await?;
                let record = world.last_record.borrow().clone();
                if let (Some((tp, offset)), Some(runloop)) =
                    (record, consumer.runloop_access().runloop())
                {
                    let started = rt.now();
                    let mut offsets = consumer::kafka::Offsets::new();
                    offsets.insert(tp, offset);
                    let result = runloop.committer().commit(offsets).await;
                    world
                        .observations
                        .borrow_mut()
                        .explicit_commits
                        .push(CommitOutcome {
                            started,
                            ended: rt.now(),
                            result: result.map_err(|cause| cause.to_string()),
                        });
                }
            }
        }
        ScenarioName::Chaos => {
            // One to three user operations at random times, drawn from the run's own randomness.
            let operations = 1 + rt.random_below(3);
            let mut extras = Vec::new();
            let mut added = false;
            for _ in 0..operations {
                let at = Duration::from_millis(rt.random_below(params.stop_at_ms.max(1)));
                rt.sleep(at.saturating_sub(rt.now())).await?;
                match rt.random_below(4) {
                    0 => stop_consumption(&world, &consumer).await?,
                    1 => {
                        let index = rt.random_below(consumers.len() as u64) as usize;
                        let (topic, fiber) = &consumers[index];
                        request_interrupt(&world, topic);
                        fiber.interrupt_fork().await?;
                    }
                    // One added subscription at most: two subscriptions of one topic would share its
                    // partition streams, which zio-kafka does not support either.
                    2 if extras.is_empty() && !added => {
                        added = true;
                        extras.push(start_consume_with(
                            &world,
                            &consumer,
                            CHAOS_EXTRA_TOPIC,
                            true,
                        ));
                    }
                    2 => {}
                    _ => {
                        for extra in extras.drain(..) {
                            request_interrupt(&world, CHAOS_EXTRA_TOPIC);
                            extra.interrupt_fork().await?;
                        }
                    }
                }
            }
            for extra in extras {
                rt.sleep(Duration::from_millis(params.handler_delay_ms * 20))
                    .await?;
                request_interrupt(&world, CHAOS_EXTRA_TOPIC);
                extra.interrupt_fork().await?;
            }
        }
        ScenarioName::AuthCrash
        | ScenarioName::AuthCrashIdleStreams
        | ScenarioName::PullTimeout => {}
    }
    // The driver that finally stops the consumer, whatever happened.
    rt.sleep(FINAL_STOP.saturating_sub(rt.now())).await?;
    stop_consumption(&world, &consumer).await
}

/// The user stops consumption; the first time is noted for the invariants.
async fn stop_consumption(world: &World, consumer: &Consumer) -> Exit<(), ConsumerError> {
    let seq = world.next_seq();
    world
        .observations
        .borrow_mut()
        .stop_requested_seq
        .get_or_insert(seq);
    consumer.stop_consumption().await
}

/// Notes that the driver asks the `consume_with` of `topic` to stop.
fn request_interrupt(world: &World, topic: &str) {
    let seq = world.next_seq();
    world
        .observations
        .borrow_mut()
        .interrupt_requests
        .push(InterruptRequest {
            topic: topic.to_string(),
            at: world.rt.now(),
            seq,
        });
}

/// Forks a user fiber running `consume_with` on `topic`, as a user-call obligation.
fn start_consume_with(
    world: &World,
    consumer: &Consumer,
    topic: &str,
    extra: bool,
) -> Fiber<(), ConsumerError> {
    let (world2, consumer2, topic2) = (world.clone(), consumer.clone(), topic.to_string());
    let name = if extra {
        format!("consume_with:{topic}:again")
    } else {
        format!("consume_with:{topic}")
    };
    world
        .rt
        .fork::<(), ConsumerError, _>(name.clone(), async move {
            let call = world2
                .rt
                .obligation(ObligationKind::UserCall, name.as_str());
            let handler = record_handler(&world2, &topic2);
            let exit = consumer2
                .run_with_graceful_shutdown(Subscription::topics([topic2.as_str()]), handler)
                .await;
            let seq = world2.next_seq();
            world2
                .observations
                .borrow_mut()
                .consume_outcomes
                .push(ConsumeOutcome {
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

/// The user's record handler: takes its time, notes what it processed, and commits the record
/// itself when the scenario says so.
fn record_handler(world: &World, topic: &str) -> RecordHandler {
    let world = world.clone();
    let slow = world.scenario == ScenarioName::PullTimeout && topic == "topic0";
    Rc::new(move |record: CommittableRecord| {
        let world = world.clone();
        Box::pin(async move {
            let delay = if slow || world.scenario != ScenarioName::PullTimeout {
                world.params.handler_delay_ms
            } else {
                1
            };
            world.rt.sleep(Duration::from_millis(delay)).await?;
            let tp = record.topic_partition();
            {
                let mut seen = world.observations.borrow_mut();
                let entry = seen
                    .processed
                    .entry(tp.to_string())
                    .or_insert(record.offset().0);
                *entry = (*entry).max(record.offset().0);
            }
            *world.last_record.borrow_mut() = Some((tp.clone(), record.offset()));
            if world.params.commit_each_record {
                let started = world.rt.now();
                let result = record.commit().await;
                let mut seen = world.observations.borrow_mut();
                seen.explicit_commits.push(CommitOutcome {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// The runloop's exit milestone marks the defect of offering records to an ended stream,
    /// whose words the consumer owns, and nothing else.
    #[test]
    fn runloop_exit_marks_the_records_after_end_defect() {
        let offered = |exit: ExitKind, cause: &str| match Milestone::of(
            &consumer::DiagnosticEvent::RunloopExited {
                exit,
                cause: Some(cause.to_string()),
            },
        ) {
            Some(Milestone::RunloopExited {
                offered_records_after_end,
                ..
            }) => offered_records_after_end,
            other => panic!("{other:?}"),
        };
        let defect = format!("died: Partition stream topic0-1 {RECORDS_AFTER_END}");
        assert!(offered(ExitKind::Die, &defect));
        assert!(!offered(ExitKind::Failure, "failed: not authorized"));
        assert!(!offered(ExitKind::Die, "died: something else"));
    }
}
