//! The generic workload: runs a resolved [`ScenarioFile`] on the fake cluster.
//!
//! - The cluster: the group with the file's assignor, the topics and their records, the fault
//!   plan (written out, drawn by a swarm, and the timed fault events).
//! - One [`instance`] per consumer: its client, settings, consumer scope and consumptions
//!   (`consume_with`, `run_with_graceful_shutdown`, `plain_stream`, `partitioned_stream`), each
//!   a user fiber with a user-call obligation, and a driver that stops consumption at the final
//!   stop. The instance ends when its at-start consumptions have all returned.
//! - One fiber per event: it waits for its time or its trigger ([`triggers`]), then acts on the
//!   cluster or on a consumer.
//!
//! What each consumer saw goes to its own [`Observations`], as it happens.

pub mod events;
pub mod instance;
pub mod observations;
pub mod triggers;

use std::cell::{Cell, RefCell};
use std::rc::Rc;
use std::sync::Arc;
use std::time::Duration;

use consumer::kafka::TopicPartition;
use consumer::rt::{Fiber, Rt};
use consumer::ShutdownProtocol;
use sim::kafka::{FakeCluster, RebalanceProtocol};

use crate::scenario::spec::{RebalanceProtocolName, ScenarioFile};
use crate::scenario::GROUP;
pub use observations::{
    CommitOutcome, ConsumeOutcome, ConsumptionSpan, Disturbance, InterruptRequest, Milestone,
    Observations, OffsetSet,
};

/// When the driver stops consumption if nothing else has ended it, unless the file says.
pub const FINAL_STOP: Duration = Duration::from_secs(30);

/// Everything a run's fibers share.
#[derive(Clone)]
pub struct World {
    pub rt: Rt,
    pub file: Arc<ScenarioFile>,
    pub protocol: ShutdownProtocol,
    pub cluster: FakeCluster,
    /// One per consumer, in the file's order.
    pub observations: Rc<RefCell<Vec<Observations>>>,
    /// The consumers made so far, by index in the file.
    pub instances: Rc<RefCell<Vec<Option<instance::Instance>>>>,
    pub triggers: triggers::Board,
    /// Orders what is observed: many things happen at one virtual instant.
    sequence: Rc<Cell<u64>>,
}

impl World {
    /// The next place in the order of observations.
    pub fn next_seq(&self) -> u64 {
        let seq = self.sequence.get() + 1;
        self.sequence.set(seq);
        seq
    }

    /// When the driver finally stops consumption.
    pub fn final_stop(&self) -> Duration {
        final_stop(&self.file)
    }
}

/// When the driver of a resolved scenario finally stops consumption: `[run] final_stop_ms`, or
/// [`FINAL_STOP`].
pub fn final_stop(file: &ScenarioFile) -> Duration {
    file.run
        .final_stop_ms
        .as_ref()
        .map(|stop| Duration::from_millis(stop.value()))
        .unwrap_or(FINAL_STOP)
}

/// Runs a resolved scenario to its end, the first consumer under `protocol`. What it sees goes to
/// `sink` (one [`Observations`] per consumer) as it happens.
pub async fn workload(
    rt: Rt,
    file: Arc<ScenarioFile>,
    protocol: ShutdownProtocol,
    sink: Rc<RefCell<Vec<Observations>>>,
) {
    let cluster = FakeCluster::new(&rt);
    let assignor = match file.group.rebalance_protocol.value() {
        RebalanceProtocolName::EagerRange => RebalanceProtocol::EagerRange,
        RebalanceProtocolName::CooperativeSticky => RebalanceProtocol::CooperativeSticky,
    };
    cluster.create_group(GROUP, assignor);
    for topic in &file.topics {
        let partitions = topic.partitions.value() as i32;
        cluster.create_topic(&topic.name, partitions);
        let every = topic.produce_every_ms.value();
        for partition in 0..partitions {
            let tp = TopicPartition::new(topic.name.as_str(), partition);
            for n in 0..topic.records_per_partition.value() {
                let value = format!("{}-{partition}-{n}", topic.name);
                cluster.produce_at(
                    Duration::from_millis(n * every),
                    &tp,
                    &format!("k{n}"),
                    &value,
                );
            }
        }
    }
    cluster.apply_faults(&events::timed_fault_plan(&file));
    {
        let mut seen = sink.borrow_mut();
        seen.clear();
        for consumer in &file.consumers {
            seen.push(Observations {
                consumer: consumer.name.clone(),
                ..Observations::default()
            });
        }
    }
    let world = World {
        rt: rt.clone(),
        file: file.clone(),
        protocol,
        cluster,
        observations: sink,
        instances: Rc::new(RefCell::new(vec![None; file.consumers.len()])),
        triggers: triggers::Board::new(&rt, &file),
        sequence: Rc::new(Cell::new(0)),
    };
    // A run that never finished leaves each consumer in `instances`, which the consumer's own
    // diagnostics listener reaches through the world: a cycle that only this breaks.
    let releasing = world.clone();
    rt.at_release(move || {
        releasing.instances.borrow_mut().clear();
    });
    let event_fibers: Vec<Fiber<(), ()>> = events::start(&world);
    // A peer whose coin said no never starts: its observations stay empty and unfinished.
    let consumers: Vec<Fiber<(), ()>> = (0..file.consumers.len())
        .filter(|&index| file.consumers[index].is_enabled())
        .map(|index| instance::start(&world, index))
        .collect();
    for fiber in &consumers {
        let _ = fiber.join().await;
    }
    if let Some(first) = world.observations.borrow_mut().first_mut() {
        first.group_rebalances = world.cluster.rebalance_history(GROUP);
    }
    // Events still waiting (for a time after every consumer closed, or a trigger that never
    // fired) will not happen.
    for fiber in event_fibers {
        let _ = fiber.interrupt().await;
    }
}
