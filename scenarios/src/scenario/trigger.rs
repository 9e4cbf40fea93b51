//! Triggers: the named events of a run that an event can follow (`after = "..."`).

use std::fmt;

use super::spec::{EventKind, ScenarioFile};

/// The commands a `command-offered:<Kind>` trigger may name (the runloop's commands that
/// callers offer).
pub const OFFERED_COMMANDS: &[&str] = &[
    "AddSubscription",
    "RemoveSubscription",
    "EndStreamsBySubscription",
    "StopAllStreams",
    "RemoveAllSubscriptions",
    "Request",
    "CommitAvailable",
    "StopRunloop",
    "Poll",
];

/// What a trigger waits for.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TriggerKind {
    RebalanceStarted,
    PartitionsAssigned,
    PartitionsRevoked,
    PartitionsLost,
    RunloopCrashed,
    CommandOffered(String),
    RecordsProcessed(u64),
}

/// A trigger, for one consumer or (without one) any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Trigger {
    pub kind: TriggerKind,
    pub consumer: Option<String>,
}

impl Trigger {
    /// Reads `name[:argument][:consumer]`.
    pub fn parse(text: &str) -> Result<Trigger, String> {
        let mut parts = text.split(':');
        let name = parts.next().unwrap_or_default();
        let rest: Vec<&str> = parts.collect();
        let (kind, rest) = match name {
            "rebalance-started" => (TriggerKind::RebalanceStarted, &rest[..]),
            "partitions-assigned" => (TriggerKind::PartitionsAssigned, &rest[..]),
            "partitions-revoked" => (TriggerKind::PartitionsRevoked, &rest[..]),
            "partitions-lost" => (TriggerKind::PartitionsLost, &rest[..]),
            "runloop-crashed" => (TriggerKind::RunloopCrashed, &rest[..]),
            "command-offered" => {
                let command = rest.first().ok_or("command-offered needs a command: command-offered:<Kind>")?;
                if !OFFERED_COMMANDS.contains(command) {
                    return Err(format!(
                        "{command:?} is not a runloop command (one of {})",
                        OFFERED_COMMANDS.join(", ")
                    ));
                }
                (TriggerKind::CommandOffered(command.to_string()), &rest[1..])
            }
            "records-processed" => {
                let count = rest
                    .first()
                    .and_then(|count| count.parse::<u64>().ok())
                    .filter(|count| (1..=1_000_000).contains(count))
                    .ok_or("records-processed needs a count from 1 to 1000000: records-processed:<N>")?;
                (TriggerKind::RecordsProcessed(count), &rest[1..])
            }
            other => {
                return Err(format!(
                    "{other:?} is not a trigger (rebalance-started, partitions-assigned, partitions-revoked, partitions-lost, runloop-crashed, command-offered:<Kind>, records-processed:<N>, each with :<consumer>)"
                ))
            }
        };
        match rest {
            [] => Ok(Trigger {
                kind,
                consumer: None,
            }),
            [consumer] if !consumer.is_empty() => Ok(Trigger {
                kind,
                consumer: Some(consumer.to_string()),
            }),
            _ => Err(format!("{text:?} has too many parts")),
        }
    }

    /// Why the trigger can never fire in `file`, when that is certain from the file alone.
    pub fn never_fires(&self, file: &ScenarioFile) -> Option<String> {
        let has_event =
            |kinds: &[EventKind]| file.events.iter().any(|event| kinds.contains(&event.kind));
        let faults = file.swarm.is_some() || !file.faults.is_calm();
        match &self.kind {
            TriggerKind::RunloopCrashed
                if !faults
                    && !has_event(&[EventKind::DenyRead, EventKind::AuthenticationOutage, EventKind::CallFault]) =>
            {
                Some("nothing in the scenario fails a runloop (no deny-read, authentication-outage, call-fault or swarm)".into())
            }
            TriggerKind::PartitionsLost if !faults && !has_event(&[EventKind::SessionTimeout]) => {
                Some("partitions are lost only after a session timeout".into())
            }
            TriggerKind::RecordsProcessed(count) => {
                let most: u64 = file
                    .topics
                    .iter()
                    .map(|topic| {
                        let partitions = topic.partitions.extremes().into_iter().copied().max().unwrap_or(0);
                        let records = topic.records_per_partition.extremes().into_iter().copied().max().unwrap_or(0);
                        partitions * records
                    })
                    .sum();
                (*count > most).then(|| format!("the topics hold at most {most} records"))
            }
            _ => None,
        }
    }
}

impl fmt::Display for TriggerKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TriggerKind::RebalanceStarted => f.write_str("rebalance-started"),
            TriggerKind::PartitionsAssigned => f.write_str("partitions-assigned"),
            TriggerKind::PartitionsRevoked => f.write_str("partitions-revoked"),
            TriggerKind::PartitionsLost => f.write_str("partitions-lost"),
            TriggerKind::RunloopCrashed => f.write_str("runloop-crashed"),
            TriggerKind::CommandOffered(command) => write!(f, "command-offered:{command}"),
            TriggerKind::RecordsProcessed(count) => write!(f, "records-processed:{count}"),
        }
    }
}
