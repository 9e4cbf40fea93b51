//! What a real run does: a small description of its own ([`RealScenario`]), independent of the
//! simulator's catalogue types, and the one mapping from today's catalogue
//! ([`from_catalogue`]), which is all that changes when the catalogue does.

use std::time::Duration;

use scenarios::catalogue::ScenarioName;
use scenarios::params::ScenarioParams;
use sim::kafka::ReadAccess;

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

/// The real scenario of a catalogue scenario with its drawn parameters. Refused (with the
/// reason) for what a real run cannot do: `chaos` (its fault plan has faults no broker
/// produces on demand), `commit-after-crash` (a user loop the real workload does not have), a
/// denial mode other than "every poll throws" and librdkafka's own "once per partition" (the
/// client, not the scenario, decides how a denial surfaces), and fault plans.
pub fn from_catalogue(
    scenario: ScenarioName,
    params: &ScenarioParams,
) -> Result<RealScenario, String> {
    let refuse = |why: &str| Err(format!("scenario {}: {why}", scenario.name()));
    if params.faults != sim::kafka::FaultPlan::default() {
        return refuse("its fault plan has faults a broker cannot produce on demand");
    }
    // A denial is a denial for a real broker; how it surfaces is the client's (librdkafka:
    // once per partition). The modes that say something else about the broker do not map.
    let maps = matches!(
        params.deny_mode,
        ReadAccess::DeniedEveryPollThrows | ReadAccess::DeniedThrownOncePerPartitionThenSilent
    );
    if scenario.denies_read() && !maps {
        return refuse(
            "the real client decides how a denial surfaces; only every-poll-throws and \
             thrown-once-per-partition map",
        );
    }
    let ms = Duration::from_millis;
    let topics = params.topics();
    let mut events = Vec::new();
    let deny = |events: &mut Vec<RealEvent>| {
        events.push(RealEvent {
            at: ms(params.deny_at_ms),
            action: RealAction::DenyRead {
                topic: "topic0".into(),
            },
        })
    };
    match scenario {
        ScenarioName::AuthCrash | ScenarioName::AuthCrashIdleStreams => deny(&mut events),
        ScenarioName::AuthCrashEndStreams => {
            deny(&mut events);
            if let Some(last) = topics.last() {
                events.push(RealEvent {
                    at: ms(params.stop_at_ms),
                    action: RealAction::InterruptConsume {
                        topic: last.clone(),
                    },
                });
            }
        }
        ScenarioName::GracefulShutdown => events.push(RealEvent {
            at: ms(params.stop_at_ms),
            action: RealAction::StopConsumption,
        }),
        ScenarioName::RebalanceDuringShutdown => {
            for peer in 0..params.peers {
                events.push(RealEvent {
                    at: ms(params.deny_at_ms / (peer as u64 + 1)),
                    action: RealAction::PeerJoin {
                        peer: format!("peer{peer}"),
                    },
                });
            }
            let stop_at = ms(params.stop_at_ms).max(ms(params.deny_at_ms));
            if let Some(first) = topics.first() {
                events.push(RealEvent {
                    at: stop_at,
                    action: RealAction::InterruptConsume {
                        topic: first.clone(),
                    },
                });
            }
            if params.peers > 0 {
                events.push(RealEvent {
                    at: stop_at,
                    action: RealAction::PeerLeave {
                        peer: "peer0".into(),
                    },
                });
            }
            if let Some(second) = topics.get(1) {
                events.push(RealEvent {
                    at: stop_at + ms(params.handler_delay_ms * 10),
                    action: RealAction::InterruptConsume {
                        topic: second.clone(),
                    },
                });
            }
        }
        ScenarioName::PullTimeout => {}
        ScenarioName::CommitAfterCrash => {
            return refuse("its user's commit loop is not part of the real workload")
        }
        ScenarioName::Chaos => return refuse("its fault plan has faults a broker cannot produce"),
    }
    events.sort_by_key(|event| event.at);
    let last_event = events.last().map_or(Duration::ZERO, |event| event.at);
    Ok(RealScenario {
        name: scenario.name().to_string(),
        topics,
        partitions: params.partitions_per_topic as i32,
        records_per_partition: params.records_per_partition as u32,
        // pull-timeout's other topics are fast in the catalogue; here every handler is slow.
        handler_delay: ms(params.handler_delay_ms),
        commit_each_record: params.commit_each_record,
        auth_retries: params.auth_retries,
        max_poll_interval: ms(params.max_poll_interval_ms),
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
    use scenarios::params::draw;

    /// auth-crash maps to one READ denial of topic0 at the drawn time, with the final stop
    /// after it and after the retry schedule's worst case.
    #[test]
    fn auth_crash_maps_to_a_denial_and_a_late_final_stop() {
        for seed in 0..20 {
            let params = draw(ScenarioName::AuthCrash, seed);
            let real = from_catalogue(ScenarioName::AuthCrash, &params).expect("maps");
            assert_eq!(
                real.events,
                vec![RealEvent {
                    at: Duration::from_millis(params.deny_at_ms),
                    action: RealAction::DenyRead {
                        topic: "topic0".into()
                    },
                }]
            );
            let worst_crash = Duration::from_millis(params.deny_at_ms + 5 * 500);
            assert!(real.final_stop > worst_crash, "seed {seed}");
            assert_eq!(real.topics, vec!["topic0", "topic1"]);
        }
    }

    /// rebalance-during-shutdown's peers join, the first subscription ends, peer0 leaves, then
    /// the second subscription ends, in that order.
    #[test]
    fn rebalance_during_shutdown_keeps_the_catalogue_order() {
        let params = draw(ScenarioName::RebalanceDuringShutdown, 0);
        let real = from_catalogue(ScenarioName::RebalanceDuringShutdown, &params).expect("maps");
        let kinds: Vec<&str> = real
            .events
            .iter()
            .map(|event| match &event.action {
                RealAction::PeerJoin { .. } => "join",
                RealAction::PeerLeave { .. } => "leave",
                RealAction::InterruptConsume { topic } if topic == "topic0" => "end0",
                RealAction::InterruptConsume { .. } => "end1",
                _ => "other",
            })
            .collect();
        let joins = params.peers as usize;
        assert_eq!(kinds[..joins], vec!["join"; joins][..]);
        assert_eq!(kinds[joins..], ["end0", "leave", "end1"]);
    }

    /// Suffixed topics keep their events pointing at them.
    #[test]
    fn a_topic_suffix_renames_events_too() {
        let params = draw(ScenarioName::AuthCrash, 0);
        let real = from_catalogue(ScenarioName::AuthCrash, &params)
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
