//! One real run: a broker set up, the workload on tokio with a real client, the watchdog's
//! verdict on the wall clock, and the consumer closed (bounded) whatever happened.

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use consumer::internal::labels::COMMAND_QUEUE;
use consumer::rt::Rt;
use consumer::ShutdownProtocol;
use sim::{DecisionLog, Outcome, RunResult};

use crate::broker::Broker;
use crate::client::RdKafkaClient;
use crate::runtime::TokioRuntime;
use crate::scenario::{RealScenario, GROUP};
use crate::workload::{workload, RealObservations};

/// Which broker a run uses.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BrokerChoice {
    /// librdkafka's mock cluster, in this process (fresh for every run).
    Mock,
    /// A Kafka-compatible broker at HOST:PORT.
    At(String),
}

/// How to run a real scenario once.
#[derive(Clone, Debug)]
pub struct RealRunConfig {
    pub scenario: RealScenario,
    pub protocol: ShutdownProtocol,
    pub broker: BrokerChoice,
    /// A run with open obligations and no progress for this long has hung.
    pub quiet_window: Duration,
    /// A run still making progress at this time is a timeout (wall clock).
    pub deadline: Duration,
    /// Seeds the consumer core's randomness.
    pub seed: u64,
    /// Names this run's topics and group apart from other runs on a shared broker.
    pub run_id: String,
}

/// How a real run ended, beyond the simulator's outcomes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RealEnding {
    /// The workload finished.
    Completed,
    /// Obligations open and no progress for the quiet window.
    Quiet,
    /// Still making progress at the deadline.
    Deadline,
    /// Stopped by the user (Ctrl-C).
    Stopped,
}

/// What a real run produced: the simulator's result type (so reports are the same), the
/// workload's observations, and how it ended.
pub struct RealRun {
    pub result: RunResult,
    /// The wall-clock deadline and quiet window the run was held to.
    pub limits: scenarios::runner::RunLimits,
    pub seen: RealObservations,
    pub ending: RealEnding,
}

/// Runs `config` once. `stop` is polled by the watchdog (Ctrl-C). Errors are setup failures
/// (no broker, a fault the broker cannot produce), never findings.
pub fn run_real(config: &RealRunConfig, stop: &AtomicBool) -> Result<RealRun, String> {
    let broker = match &config.broker {
        BrokerChoice::Mock => Broker::mock()?,
        BrokerChoice::At(address) => Broker::external(address)?,
    };
    let (scenario, group) = match config.broker {
        // Each mock run has a fresh cluster: the catalogue's names as they are.
        BrokerChoice::Mock => (config.scenario.clone(), GROUP.to_string()),
        BrokerChoice::At(_) => (
            config
                .scenario
                .with_topic_suffix(&format!("-{}", config.run_id)),
            format!("{GROUP}-{}", config.run_id),
        ),
    };
    broker.check_faults(
        scenario
            .events
            .iter()
            .filter_map(|event| event.action.fault())
            .collect::<Vec<_>>()
            .iter(),
    )?;
    for (index, topic) in scenario.topics.iter().enumerate() {
        broker.create_topic(topic, index, scenario.partitions, &group)?;
        broker.produce(topic, scenario.partitions, scenario.records_per_partition)?;
    }
    let client = Rc::new(
        RdKafkaClient::new(broker.bootstrap(), &group, &[])
            .map_err(|error| format!("cannot create the consumer: {error}"))?,
    );
    let tokio = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| format!("cannot start tokio: {error}"))?;
    let local = tokio::task::LocalSet::new();
    let runtime = Rc::new(TokioRuntime::new(config.seed, vec![COMMAND_QUEUE]));
    let progress_runtime = runtime.clone();
    client.set_on_progress(Rc::new(move || progress_runtime.note_progress()));
    let rt = Rt::new(runtime.clone());
    let seen = Rc::new(RefCell::new(RealObservations::default()));
    let broker = Rc::new(broker);
    let scenario = Rc::new(scenario);
    let watchdog = runtime.watchdog();
    let ending = local.block_on(&tokio, {
        let (rt, runtime, seen) = (rt.clone(), runtime.clone(), seen.clone());
        let protocol = config.protocol;
        async move {
            let root_workload = workload(
                rt.clone(),
                runtime.clone(),
                scenario,
                protocol,
                broker,
                group,
                client,
                seen,
            );
            let _root = rt.spawn_root::<(), (), _>("main", async move {
                root_workload.await;
                Ok(())
            });
            watch(&runtime, config, stop).await
        }
    });
    let now = runtime.now_for_report();
    let result = {
        let watchdog = watchdog.borrow();
        RunResult {
            seed: config.seed,
            outcome: match ending {
                RealEnding::Completed => Outcome::Completed,
                RealEnding::Quiet => Outcome::QuietWindowElapsed,
                // The simulator's closest outcome: the run was cut off while it went on.
                RealEnding::Deadline | RealEnding::Stopped => Outcome::DeadlineReached,
            },
            panics: watchdog.panics.clone(),
            trace_hash: 0,
            decisions: DecisionLog::default(),
            replay_divergence: None,
            strategy_disagreement: None,
            fiber_schedule: None,
            schedule_divergence: None,
            liveness: watchdog.liveness.snapshot(now),
            elapsed: now,
            steps: 0,
            events: None,
            watched: watchdog.watched.clone(),
            // The watchdog judges progress itself (its quiet window); the report's figures come
            // from the simulator's tracker, which a real run does not have.
            progress: sim::Progress::default(),
        }
    };
    let seen_now = seen.borrow().clone();
    // Nothing of the run is polled again: break its cycles, then drop its tasks (the client's
    // drop closes librdkafka's consumer, bounded) and the runtime.
    rt.release_all();
    drop(local);
    drop(tokio);
    Ok(RealRun {
        result,
        limits: scenarios::runner::RunLimits {
            deadline: config.deadline,
            quiet_window: config.quiet_window,
        },
        seen: seen_now,
        ending,
    })
}

/// The watchdog loop: how the run ends.
async fn watch(runtime: &TokioRuntime, config: &RealRunConfig, stop: &AtomicBool) -> RealEnding {
    loop {
        tokio::time::sleep(Duration::from_millis(20)).await;
        let now = runtime.now_for_report();
        let watchdog = runtime.watchdog();
        let watchdog = watchdog.borrow();
        if watchdog.root_done {
            return RealEnding::Completed;
        }
        if stop.load(Ordering::Relaxed) {
            return RealEnding::Stopped;
        }
        // The driver's final stop is scheduled work: quiet before it proves nothing.
        let quiet_since = watchdog.last_progress.max(config.scenario.final_stop);
        if now.saturating_sub(quiet_since) >= config.quiet_window {
            return RealEnding::Quiet;
        }
        if now >= config.deadline {
            return RealEnding::Deadline;
        }
    }
}
