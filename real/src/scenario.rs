//! What a real run does: a small description of its own ([`RealScenario`]), independent of the
//! simulator's catalogue types, and the one mapping from today's catalogue
//! ([`from_resolved`], a scenario file resolved for a seed), which is all that changes when the catalogue does.

use std::time::Duration;

use scenarios::scenario::spec::{ApiName, DenyMode, EventKind, ScenarioFile, StartMode};

/// The consumer group of a real run (a suffix keeps runs apart on a shared broker).
pub const GROUP: &str = "hangsim-group";

/// The final stop comes this long after the scenario's last event, and never before
/// [`EARLIEST_FINAL_STOP`]. The catalogue's driver stops at 30 s of virtual time, which costs
/// nothing there; on the wall clock a run's hang is judged only a quiet window after the final
/// stop, so real runs stop as early as the scenario allows: after a denial, the crash (the
/// retry schedule, at most 5 x 500 ms) has happened by then.
pub const FINAL_STOP_AFTER_LAST_EVENT: Duration = Duration::from_secs(5);
/// See [`FINAL_STOP_AFTER_LAST_EVENT`].
pub const EARLIEST_FINAL_STOP: Duration = Duration::from_secs(8);

/// A consumer lifetime against a real broker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealScenario {
    /// Its name, for reports.
    pub name: String,
    /// One `consume_with` per topic, each its own fiber.
    pub topics: Vec<String>,
    pub partitions: i32,
    /// Records produced on every partition before the consumer starts.
    pub records_per_partition: u32,
    /// Processing time of one record.
    pub handler_delay: Duration,
    /// Whether the handler commits every record itself.
    pub commit_each_record: bool,
    /// The authorization retry schedule: `recurs(auth_retries) && spaced(500 ms)`.
    pub auth_retries: u8,
    pub max_poll_interval: Duration,
    /// What happens during the run, in time order.
    pub events: Vec<RealEvent>,
    /// When the driver stops consumption whatever happened.
    pub final_stop: Duration,
}

/// Something that happens at a time of a real run (wall clock since the consumer started).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RealEvent {
    pub at: Duration,
    pub action: RealAction,
}

/// What the driver or the broker does.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RealAction {
    /// READ on `topic` is denied: its fetches fail with TOPIC_AUTHORIZATION_FAILED.
    DenyRead {
        topic: String,
    },
    /// The user calls `stop_consumption`.
    StopConsumption,
    /// The user interrupts the `consume_with` of `topic`.
    InterruptConsume {
        topic: String,
    },
    /// A second real client joins the group as `peer`.
    PeerJoin {
        peer: String,
    },
    /// That client leaves.
    PeerLeave {
        peer: String,
    },
    /// Every broker goes down, or comes back.
    BrokersDown,
    BrokersUp,
    /// Every request to the brokers takes this long from now on.
    RoundTripDelay(Duration),
}

impl RealAction {
    /// The broker fault this action is, if it is one.
    pub fn fault(&self) -> Option<crate::broker::Fault> {
        use crate::broker::Fault;
        match self {
            RealAction::DenyRead { topic } => Some(Fault::DenyRead {
                topic: topic.clone(),
            }),
            RealAction::BrokersDown => Some(Fault::BrokersDown),
            RealAction::BrokersUp => Some(Fault::BrokersUp),
            RealAction::RoundTripDelay(delay) => Some(Fault::RoundTripDelay(*delay)),
            _ => None,
        }
    }
}

/// The real scenario of a scenario file as resolved for a seed. Refused (with the reason) for
/// what a real run cannot do: faults a broker cannot produce on demand (a written-out or swarm
/// fault plan, call faults, latencies of single calls, authentication outages, session
/// timeouts), full peers (the real workload runs one consumer under test; passive peers are
/// real second clients), consumptions other than `consume_with` and
/// `run_with_graceful_shutdown` of one topic each, events after a trigger, user actions the real
/// driver does not have (`close-consumer`, `add-subscription`, `commit-processed`,
/// `kill-consumer`), and denial
/// modes other than "every poll throws" and librdkafka's own "once per partition" (the client,
/// not the scenario, decides how a denial surfaces). Every topic gets the most partitions and
/// records any topic of the file has, produced before the consumer starts; every handler takes
/// the longest handler delay.
pub fn from_resolved(file: &ScenarioFile) -> Result<RealScenario, String> {
    let refuse = |why: String| Err(format!("scenario {}: {why}", file.name));
    if !file.faults.is_calm() || file.swarm.is_some() {
        return refuse("its fault plan has faults a broker cannot produce on demand".into());
    }
    if file.consumers.iter().filter(|c| c.is_enabled()).count() != 1 {
        return refuse(
            "real runs have one consumer under test; full peers are not supported".into(),
        );
    }
    let consumer = &file.consumers[0];
    let ms = Duration::from_millis;
    let mut topics = Vec::new();
    let mut handler_delay = Duration::ZERO;
    let mut commit_each_record = false;
    for consume in &consumer.consumptions {
        if !matches!(
            consume.api.value(),
            ApiName::ConsumeWith | ApiName::RunWithGracefulShutdown
        ) {
            return refuse(format!(
                "{} uses {}; real runs have consume_with and run_with_graceful_shutdown",
                consume.display_name(),
                consume.api.value().name()
            ));
        }
        if consume.topics.len() != 1 || consume.start == Some(StartMode::OnEvent) {
            return refuse(format!(
                "{}: real runs start one consumption per topic, at the start",
                consume.display_name()
            ));
        }
        topics.push(consume.topics[0].clone());
        handler_delay = handler_delay.max(ms(consume
            .handler_delay_ms
            .as_ref()
            .map_or(0, |d| d.value())));
        commit_each_record |= consume
            .commit_each_record
            .as_ref()
            .is_some_and(|c| c.value());
    }
    let partitions = file
        .topics
        .iter()
        .map(|t| t.partitions.value())
        .max()
        .unwrap_or(1) as i32;
    let records = file
        .topics
        .iter()
        .map(|t| t.records_per_partition.value())
        .max()
        .unwrap_or(0) as u32;
    let topic_of = |name: &str| {
        consumer
            .consumptions
            .iter()
            .find(|consume| consume.display_name() == name)
            .map(|consume| consume.topics[0].clone())
    };
    let mut events = Vec::new();
    for event in &file.events {
        let kind = scenarios::scenario::keys::event_use(event.kind).name;
        if event.after.is_some() {
            return refuse(format!(
                "event {kind} follows a trigger; real runs have timed events only"
            ));
        }
        if event
            .consumer
            .as_deref()
            .is_some_and(|name| name != consumer.name)
        {
            return refuse(format!("event {kind} targets another consumer"));
        }
        let at = ms(event.at_ms.as_ref().map_or(0, |at| at.value())
            + event.delay_ms.as_ref().map_or(0, |delay| delay.value()));
        let action = match event.kind {
            EventKind::DenyRead => {
                let mode = event
                    .mode
                    .as_ref()
                    .map_or(DenyMode::Throw, |mode| mode.value());
                if !matches!(mode, DenyMode::Throw | DenyMode::ThrowOncePerPartition) {
                    return refuse(
                        "the real client decides how a denial surfaces; only throw and \
                         throw-once-per-partition map"
                            .into(),
                    );
                }
                RealAction::DenyRead {
                    topic: event.topic.clone().unwrap_or_default(),
                }
            }
            EventKind::StopConsumption => RealAction::StopConsumption,
            EventKind::InterruptConsume => RealAction::InterruptConsume {
                topic: topic_of(event.consume.as_deref().unwrap_or_default()).unwrap_or_default(),
            },
            EventKind::PeerJoin => RealAction::PeerJoin {
                peer: event.peer.clone().unwrap_or_default(),
            },
            EventKind::PeerLeave => RealAction::PeerLeave {
                peer: event.peer.clone().unwrap_or_default(),
            },
            _ => return refuse(format!("a broker cannot do {kind} on demand in a real run")),
        };
        events.push(RealEvent { at, action });
    }
    events.sort_by_key(|event| event.at);
    let last_event = events.last().map_or(Duration::ZERO, |event| event.at);
    let defaults = consumer::ConsumerSettings::default();
    Ok(RealScenario {
        name: file.name.clone(),
        topics,
        partitions,
        records_per_partition: records,
        handler_delay,
        commit_each_record,
        auth_retries: consumer
            .auth_error_retries
            .as_ref()
            .map_or(5, |r| r.value()) as u8,
        max_poll_interval: consumer
            .max_poll_interval_ms
            .as_ref()
            .map_or(defaults.max_poll_interval, |interval| ms(interval.value())),
        events,
        final_stop: (last_event + FINAL_STOP_AFTER_LAST_EVENT).max(EARLIEST_FINAL_STOP),
    })
}

impl RealScenario {
    /// The same scenario with `suffix` appended to every topic name (runs on a shared broker
    /// must not see each other's records).
    pub fn with_topic_suffix(&self, suffix: &str) -> RealScenario {
        let rename = |topic: &str| format!("{topic}{suffix}");
        let mut renamed = self.clone();
        renamed.topics = self.topics.iter().map(|topic| rename(topic)).collect();
        for event in &mut renamed.events {
            match &mut event.action {
                RealAction::DenyRead { topic } | RealAction::InterruptConsume { topic } => {
                    *topic = rename(topic)
                }
                _ => {}
            }
        }
        renamed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use scenarios::catalogue::Scenario;

    fn resolved(name: &str, seed: u64) -> ScenarioFile {
        Scenario::builtin(name)
            .expect("a catalogue scenario")
            .resolve(seed)
    }

    /// auth-crash maps to one READ denial of topic0 at the resolved time, with the final stop
    /// after it and after the retry schedule's worst case.
    #[test]
    fn auth_crash_maps_to_a_denial_and_a_late_final_stop() {
        for seed in 0..20 {
            let file = resolved("auth-crash", seed);
            let real = from_resolved(&file).expect("maps");
            let deny_at = file.events[0]
                .at_ms
                .as_ref()
                .expect("a timed denial")
                .value();
            assert_eq!(
                real.events,
                vec![RealEvent {
                    at: Duration::from_millis(deny_at),
                    action: RealAction::DenyRead {
                        topic: "topic0".into()
                    },
                }]
            );
            let worst_crash = Duration::from_millis(deny_at + 5 * 500);
            assert!(real.final_stop > worst_crash, "seed {seed}");
            assert_eq!(real.topics, vec!["topic0", "topic1"]);
        }
    }

    /// The scenarios whose faults a real client can see map; the others are refused, saying
    /// what a real run cannot do.
    #[test]
    fn catalogue_scenarios_map_or_are_refused_with_the_reason() {
        for (name, refusal) in [
            ("auth-crash", None),
            ("auth-crash-end-streams", None),
            ("auth-crash-idle-streams", None),
            ("graceful-shutdown", None),
            ("rebalance-during-shutdown", None),
            ("pull-timeout", None),
            ("commit-after-crash", Some("commit-processed")),
            ("chaos", Some("fault plan")),
            ("group-churn", Some("full peers")),
        ] {
            for seed in 0..10 {
                match (from_resolved(&resolved(name, seed)), refusal) {
                    (Ok(_), None) => {}
                    (Err(error), Some(words)) => {
                        assert!(error.contains(words), "{name}: {error}")
                    }
                    (other, _) => panic!("{name} seed {seed}: {other:?}"),
                }
            }
        }
    }

    /// rebalance-during-shutdown's peers are real clients that join and leave; both
    /// subscriptions end by interruption.
    #[test]
    fn rebalance_during_shutdown_has_peers_and_two_interruptions() {
        let real = from_resolved(&resolved("rebalance-during-shutdown", 0)).expect("maps");
        let count = |wanted: fn(&RealAction) -> bool| {
            real.events
                .iter()
                .filter(|event| wanted(&event.action))
                .count()
        };
        assert!(count(|action| matches!(action, RealAction::PeerJoin { .. })) >= 1);
        assert_eq!(
            count(|action| matches!(action, RealAction::PeerLeave { .. })),
            1
        );
        assert_eq!(
            count(|action| matches!(action, RealAction::InterruptConsume { .. })),
            2
        );
    }

    /// Suffixed topics keep their events pointing at them.
    #[test]
    fn a_topic_suffix_renames_events_too() {
        let real = from_resolved(&resolved("auth-crash", 0))
            .expect("maps")
            .with_topic_suffix("-x");
        assert_eq!(real.topics, vec!["topic0-x", "topic1-x"]);
        assert_eq!(
            real.events[0].action,
            RealAction::DenyRead {
                topic: "topic0-x".into()
            }
        );
    }
}
