//! Candidates that make a resolved scenario smaller: fewer consumers, topics, consumptions,
//! events and faults; settings back to their defaults; fewer partitions and records; shorter
//! delays and values toward the low end of their bounds ([`crate::scenario::keys::KEYS`]).
//!
//! The typed passes remove a consumer, topic or consumption together with everything that names
//! it (otherwise no such removal would ever validate); the generic ones walk the scenario as a
//! TOML tree, so that every list, optional key and number is covered without naming each. Every
//! candidate returned has passed [`crate::scenario::validate::check`] and is strictly smaller
//! than the scenario it came from by [`ScenarioMeasure`], which is what makes shrinking end.

use toml::Value;

use super::StepKind;
use crate::scenario::keys::key_of;
use crate::scenario::{validate, ScenarioFile};

/// One smaller scenario to try, and what kind of step it is.
pub struct ScenarioCandidate {
    pub kind: StepKind,
    pub file: ScenarioFile,
}

/// A well-founded size of a scenario: how many values it holds (list entries and keys), then
/// the sum of its numbers (booleans count 1 for true). Every accepted step makes it strictly
/// smaller.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ScenarioMeasure {
    values: u64,
    sum: u128,
}

impl ScenarioMeasure {
    /// The measure of `file`, as it serializes.
    pub fn of(file: &ScenarioFile) -> ScenarioMeasure {
        let mut measure = ScenarioMeasure { values: 0, sum: 0 };
        if let Ok(tree) = Value::try_from(file) {
            measure.add(&tree);
        }
        measure
    }

    fn add(&mut self, value: &Value) {
        self.values += 1;
        match value {
            Value::Integer(number) => self.sum += number.unsigned_abs() as u128,
            Value::Boolean(true) => self.sum += 1,
            Value::Array(items) => items.iter().for_each(|item| self.add(item)),
            Value::Table(table) => table.values().for_each(|item| self.add(item)),
            _ => {}
        }
    }
}

/// Every candidate smaller than `file`, biggest steps first.
pub fn candidates(file: &ScenarioFile) -> Vec<ScenarioCandidate> {
    let measure = ScenarioMeasure::of(file);
    let mut found: Vec<(u8, ScenarioCandidate)> = Vec::new();
    let mut keep = |priority: u8, kind: StepKind, candidate: ScenarioFile| {
        if candidate.name == file.name
            && ScenarioMeasure::of(&candidate) < measure
            && validate::check(&candidate).is_ok()
        {
            found.push((
                priority,
                ScenarioCandidate {
                    kind,
                    file: candidate,
                },
            ));
        }
    };
    for (priority, kind, candidate) in typed_removals(file) {
        keep(priority, kind, candidate);
    }
    if let Ok(tree) = Value::try_from(file) {
        let mut edits = Vec::new();
        tree_edits(&tree, &mut Vec::new(), &mut edits);
        for edit in edits {
            let mut edited = tree.clone();
            if !apply(&mut edited, &edit.path, &edit.change) {
                continue;
            }
            if let Ok(candidate) = edited.try_into::<ScenarioFile>() {
                keep(edit.priority, edit.kind, candidate);
            }
        }
    }
    // A stable sort: within one priority, the order of the file.
    found.sort_by_key(|(priority, _)| *priority);
    found.into_iter().map(|(_, candidate)| candidate).collect()
}

/// Removals of a consumer, a topic or a consumption together with the events, faults and
/// subscriptions that name it.
fn typed_removals(file: &ScenarioFile) -> Vec<(u8, StepKind, ScenarioFile)> {
    let mut out = Vec::new();
    for (index, consumer) in file.consumers.iter().enumerate() {
        let mut smaller = file.clone();
        smaller.consumers.remove(index);
        let name = consumer.name.as_str();
        smaller
            .events
            .retain(|event| event.consumer.as_deref() != Some(name));
        remove_client_faults(&mut smaller, name);
        out.push((0, StepKind::RemoveConsumer, smaller));
    }
    for topic in &file.topics {
        let mut smaller = file.clone();
        let name = topic.name.as_str();
        smaller.topics.retain(|kept| kept.name != name);
        for consumer in &mut smaller.consumers {
            for consume in &mut consumer.consumptions {
                consume.topics.retain(|subscribed| subscribed != name);
            }
            consumer
                .consumptions
                .retain(|consume| !consume.topics.is_empty());
        }
        let consumptions = consumption_names(&smaller);
        smaller.events.retain(|event| {
            event.topic.as_deref() != Some(name)
                && event
                    .consume
                    .as_ref()
                    .is_none_or(|consume| consumptions.contains(consume))
        });
        smaller.faults.acl_changes.retain(|acl| acl.topic != name);
        out.push((1, StepKind::RemoveTopic, smaller));
    }
    for (consumer_index, consumer) in file.consumers.iter().enumerate() {
        for (index, consume) in consumer.consumptions.iter().enumerate() {
            let mut smaller = file.clone();
            smaller.consumers[consumer_index].consumptions.remove(index);
            let name = consume.display_name();
            if !consumption_names(&smaller).contains(&name) {
                smaller
                    .events
                    .retain(|event| event.consume.as_deref() != Some(name.as_str()));
            }
            out.push((2, StepKind::RemoveConsumption, smaller));
        }
    }
    out
}

fn consumption_names(file: &ScenarioFile) -> Vec<String> {
    file.consumers
        .iter()
        .flat_map(|consumer| consumer.consumptions.iter().map(|c| c.display_name()))
        .collect()
}

/// Drops the written-out faults aimed at one client.
fn remove_client_faults(file: &mut ScenarioFile, client: &str) {
    let aimed = |target: &Option<String>| target.as_deref() == Some(client);
    let faults = &mut file.faults;
    faults.acl_changes.retain(|fault| !aimed(&fault.client));
    faults.authentication_outages.retain(|f| !aimed(&f.client));
    faults.call_faults.retain(|fault| !aimed(&fault.client));
    faults.poll_latency.retain(|fault| !aimed(&fault.client));
    faults.call_latency.retain(|fault| !aimed(&fault.client));
}

/// One step into a TOML tree: a table's key or a list's index.
#[derive(Clone, Debug)]
enum Step {
    Key(String),
    Index(usize),
}

/// What an edit does at its path.
#[derive(Clone, Debug)]
enum Change {
    Remove,
    Set(Value),
}

struct Edit {
    priority: u8,
    kind: StepKind,
    path: Vec<Step>,
    change: Change,
}

/// The path of keys without list indices, as [`crate::scenario::keys::KEYS`] names them.
fn key_path(path: &[Step]) -> String {
    let names: Vec<&str> = path
        .iter()
        .filter_map(|step| match step {
            Step::Key(name) => Some(name.as_str()),
            Step::Index(_) => None,
        })
        .collect();
    names.join(".")
}

/// Every generic edit of the tree under `path`, in the tree's order.
fn tree_edits(value: &Value, path: &mut Vec<Step>, out: &mut Vec<Edit>) {
    let under_faults = matches!(path.first(), Some(Step::Key(key)) if key == "faults");
    match value {
        Value::Table(table) => {
            for (key, item) in table {
                path.push(Step::Key(key.clone()));
                // Numbers are lowered rather than removed: a default is often larger.
                if !matches!(item, Value::Integer(_)) {
                    let (priority, kind) = if under_faults && path.len() <= 2 {
                        (3, StepKind::RemoveFault)
                    } else {
                        (8, StepKind::ResetSetting)
                    };
                    out.push(Edit {
                        priority,
                        kind,
                        path: path.clone(),
                        change: Change::Remove,
                    });
                }
                tree_edits(item, path, out);
                path.pop();
            }
        }
        Value::Array(items) => {
            let list = key_path(path);
            let (priority, kind) = match list.as_str() {
                "event" => (4, StepKind::RemoveEvent),
                _ if under_faults => (5, StepKind::RemoveFault),
                "consumer.consume.topics" => (6, StepKind::RemoveSubscription),
                _ => (7, StepKind::RemoveListEntry),
            };
            for (index, item) in items.iter().enumerate() {
                path.push(Step::Index(index));
                out.push(Edit {
                    priority,
                    kind,
                    path: path.clone(),
                    change: Change::Remove,
                });
                tree_edits(item, path, out);
                path.pop();
            }
        }
        Value::Integer(number) => lowerings(*number, path, out),
        Value::Boolean(true) => out.push(Edit {
            priority: 12,
            kind: StepKind::LowerValue,
            path: path.clone(),
            change: Change::Set(Value::Boolean(false)),
        }),
        _ => {}
    }
}

/// Lower values for a number: its key's lower bound, then halfway there.
fn lowerings(number: i64, path: &[Step], out: &mut Vec<Edit>) {
    let key = key_path(path);
    let low = key_of(&key)
        .and_then(|key| key.bounds.as_ref())
        .map_or(0, |bounds| *bounds.start() as i64);
    if number <= low {
        return;
    }
    let leaf = key.rsplit('.').next().unwrap_or_default();
    let (priority, kind) = match leaf {
        "partitions" => (9, StepKind::FewerPartitions),
        "records_per_partition" => (10, StepKind::FewerRecords),
        _ if leaf.ends_with("_ms") || leaf.ends_with("_s") => (11, StepKind::ShorterDelay),
        _ => (12, StepKind::LowerValue),
    };
    let halfway = low + (number - low) / 2;
    let mut lower_values = vec![low];
    if halfway != low {
        lower_values.push(halfway);
    }
    for lower in lower_values {
        out.push(Edit {
            priority,
            kind,
            path: path.to_vec(),
            change: Change::Set(Value::Integer(lower)),
        });
    }
}

/// Applies `change` at `path`; false when the path is not there.
fn apply(tree: &mut Value, path: &[Step], change: &Change) -> bool {
    let Some((last, parents)) = path.split_last() else {
        return false;
    };
    let mut node = tree;
    for step in parents {
        node = match (step, node) {
            (Step::Key(key), Value::Table(table)) => match table.get_mut(key) {
                Some(child) => child,
                None => return false,
            },
            (Step::Index(index), Value::Array(items)) => match items.get_mut(*index) {
                Some(child) => child,
                None => return false,
            },
            _ => return false,
        };
    }
    match (last, node, change) {
        (Step::Key(key), Value::Table(table), Change::Remove) => table.remove(key).is_some(),
        (Step::Key(key), Value::Table(table), Change::Set(value)) => {
            table.insert(key.clone(), value.clone());
            true
        }
        (Step::Index(index), Value::Array(items), Change::Remove) if *index < items.len() => {
            items.remove(*index);
            true
        }
        (Step::Index(index), Value::Array(items), Change::Set(value)) if *index < items.len() => {
            items[*index] = value.clone();
            true
        }
        _ => false,
    }
}
