//! The checks of a scenario file beyond its types: bounds, names that must exist, keys an event
//! does not use, triggers that can never fire (a warning).

use std::collections::BTreeSet;

use sim::kafka::{ClientCall, FaultTimes};

use super::draw::{Draw, Drawable};
use super::keys::{self, event_use, EVENT_COMMON_KEYS};
use super::load::{KeyPath, Problem};
use super::spec::{ConsumerSpec, EventKind, EventSpec, ScenarioFile, StartMode, FORMAT};
use super::trigger::Trigger;

/// Checks `file`; the warnings on success, the first problem on failure.
pub fn check(file: &ScenarioFile) -> Result<Vec<String>, Problem> {
    let mut warnings = Vec::new();
    if file.format != FORMAT {
        return Err(Problem::new(
            KeyPath::root("format"),
            format!(
                "format {} is not known; this build reads format {FORMAT}",
                file.format
            ),
        ));
    }
    check_name(&KeyPath::root("name"), &file.name, true)?;
    let run = KeyPath::root("run");
    bound_plain(&run.key("deadline_s"), file.run.deadline_s)?;
    bound_plain(&run.key("quiet_window_s"), file.run.quiet_window_s)?;
    bound(&run.key("final_stop_ms"), &file.run.final_stop_ms)?;
    bound_plain(&run.key("settle_ms"), file.run.settle_ms)?;
    check_topics(file)?;
    check_shape(
        &KeyPath::root("group").key("rebalance_protocol"),
        &file.group.rebalance_protocol,
    )?;
    check_consumers(file)?;
    for (index, event) in file.events.iter().enumerate() {
        check_event(
            file,
            &KeyPath::root("event").index(index),
            event,
            &mut warnings,
        )?;
    }
    if file.events.len() > keys::MAX_EVENTS {
        return Err(Problem::new(
            KeyPath::root("event"),
            format!(
                "{} events; a scenario has at most {}",
                file.events.len(),
                keys::MAX_EVENTS
            ),
        ));
    }
    for (c, consumer) in file.consumers.iter().enumerate() {
        for (n, consume) in consumer.consumptions.iter().enumerate() {
            let started = file.events.iter().any(|event| {
                event.kind == EventKind::AddSubscription
                    && target_consumer(file, event)
                        .is_some_and(|target| target.name == consumer.name)
                    && event.consume.as_deref() == Some(consume.display_name().as_str())
            });
            if consume.start == Some(StartMode::OnEvent) && !started {
                warnings.push(format!(
                    "consumer[{c}].consume[{n}] starts on an event, but no add-subscription event starts it"
                ));
            }
        }
    }
    check_faults(file)?;
    if let Some(swarm) = &file.swarm {
        let path = KeyPath::root("swarm");
        bound_plain(&path.key("horizon_ms"), Some(swarm.horizon_ms))?;
        for topic in swarm.topics.iter().flatten() {
            if !file.topics.iter().any(|known| &known.name == topic) {
                return Err(Problem::new(
                    path.key("topics"),
                    format!("no topic is named {topic:?}"),
                ));
            }
        }
    }
    Ok(warnings)
}

fn check_name(path: &KeyPath, name: &str, scenario: bool) -> Result<(), Problem> {
    if name.is_empty() || name.len() > keys::MAX_NAME_BYTES {
        return Err(Problem::new(
            path.clone(),
            format!("a name has 1 to {} bytes", keys::MAX_NAME_BYTES),
        ));
    }
    let allowed =
        |c: char| c.is_ascii_alphanumeric() || c == '-' || (!scenario && "_.+:".contains(c));
    if !name.chars().all(allowed) {
        return Err(Problem::new(
            path.clone(),
            format!("{name:?} has characters a name cannot have"),
        ));
    }
    Ok(())
}

fn check_topics(file: &ScenarioFile) -> Result<(), Problem> {
    let path = KeyPath::root("topic");
    if file.topics.is_empty() || file.topics.len() > keys::MAX_TOPICS {
        return Err(Problem::new(
            path,
            format!(
                "a scenario has 1 to {} topics ([[topic]] tables)",
                keys::MAX_TOPICS
            ),
        ));
    }
    let mut seen = BTreeSet::new();
    for (index, topic) in file.topics.iter().enumerate() {
        let at = path.index(index);
        if !sim::kafka::is_valid_topic_name(&topic.name) || topic.name.len() > keys::MAX_NAME_BYTES
        {
            return Err(Problem::new(
                at.key("name"),
                format!("{:?} is not a valid topic name", topic.name),
            ));
        }
        if !seen.insert(topic.name.as_str()) {
            return Err(Problem::new(
                at.key("name"),
                format!("topic {:?} is declared twice", topic.name),
            ));
        }
        bound(&at.key("partitions"), &Some(topic.partitions.clone()))?;
        bound(
            &at.key("records_per_partition"),
            &Some(topic.records_per_partition.clone()),
        )?;
        bound(
            &at.key("produce_every_ms"),
            &Some(topic.produce_every_ms.clone()),
        )?;
    }
    Ok(())
}

fn check_consumers(file: &ScenarioFile) -> Result<(), Problem> {
    let path = KeyPath::root("consumer");
    if file.consumers.is_empty() || file.consumers.len() > keys::MAX_CONSUMERS {
        return Err(Problem::new(
            path,
            format!(
                "a scenario has 1 to {} consumers ([[consumer]] tables)",
                keys::MAX_CONSUMERS
            ),
        ));
    }
    let mut names = BTreeSet::new();
    for (index, consumer) in file.consumers.iter().enumerate() {
        let at = path.index(index);
        check_name(&at.key("name"), &consumer.name, false)?;
        if consumer.name.contains(':') {
            // Triggers name a consumer after a ':' (`partitions-revoked:app-1`).
            return Err(Problem::new(
                at.key("name"),
                format!("{:?}: a consumer's name cannot contain ':'", consumer.name),
            ));
        }
        if !names.insert(consumer.name.as_str()) {
            return Err(Problem::new(
                at.key("name"),
                format!("consumer {:?} is declared twice", consumer.name),
            ));
        }
        if index == 0 && consumer.protocol.is_some() {
            return Err(Problem::new(
                at.key("protocol"),
                "the first consumer is the one under test: its protocol is --protocol",
            ));
        }
        if let Some(protocol) = &consumer.protocol {
            check_shape(&at.key("protocol"), protocol)?;
        }
        if let Some(enabled) = &consumer.enabled {
            if index == 0 {
                return Err(Problem::new(
                    at.key("enabled"),
                    "the first consumer is the one under test: it always takes part",
                ));
            }
            check_shape(&at.key("enabled"), enabled)?;
        }
        check_settings(&at, consumer)?;
        if consumer.consumptions.len() > keys::MAX_CONSUMPTIONS {
            return Err(Problem::new(
                at.key("consume"),
                format!(
                    "a consumer has at most {} consumptions",
                    keys::MAX_CONSUMPTIONS
                ),
            ));
        }
        let mut consume_names = BTreeSet::new();
        for (n, consume) in consumer.consumptions.iter().enumerate() {
            let c = at.key("consume").index(n);
            if let Some(name) = &consume.name {
                check_name(&c.key("name"), name, false)?;
            }
            check_shape(&c.key("api"), &consume.api)?;
            if consume.topics.is_empty() {
                return Err(Problem::new(
                    c.key("topics"),
                    "a consumption subscribes to at least one topic",
                ));
            }
            for topic in &consume.topics {
                if !file.topics.iter().any(|known| &known.name == topic) {
                    return Err(Problem::new(
                        c.key("topics"),
                        format!("no topic is named {topic:?}"),
                    ));
                }
            }
            if !consume_names.insert(consume.display_name()) {
                return Err(Problem::new(
                    c.key("name"),
                    format!(
                        "two consumptions of {} are named {:?}; name them",
                        consumer.name,
                        consume.display_name()
                    ),
                ));
            }
            bound(&c.key("handler_delay_ms"), &consume.handler_delay_ms)?;
            if let Some(commit) = &consume.commit_each_record {
                check_shape(&c.key("commit_each_record"), commit)?;
            }
        }
    }
    Ok(())
}

fn check_settings(at: &KeyPath, consumer: &ConsumerSpec) -> Result<(), Problem> {
    let numbers = [
        ("start_at_ms", &consumer.start_at_ms),
        ("poll_timeout_ms", &consumer.poll_timeout_ms),
        ("commit_timeout_ms", &consumer.commit_timeout_ms),
        ("close_timeout_ms", &consumer.close_timeout_ms),
        ("max_poll_interval_ms", &consumer.max_poll_interval_ms),
        (
            "max_stream_pull_interval_ms",
            &consumer.max_stream_pull_interval_ms,
        ),
        (
            "max_rebalance_duration_ms",
            &consumer.max_rebalance_duration_ms,
        ),
        (
            "partition_prefetch_buffer_limit",
            &consumer.partition_prefetch_buffer_limit,
        ),
        ("auth_error_retries", &consumer.auth_error_retries),
        ("shutdown_timeout_ms", &consumer.shutdown_timeout_ms),
        (
            "empty_poll_count_to_meta_refresh",
            &consumer.empty_poll_count_to_meta_refresh,
        ),
    ];
    for (key, value) in numbers {
        bound(&at.key(key), value)?;
    }
    for (key, value) in [
        ("rebalance_safe_commits", &consumer.rebalance_safe_commits),
        (
            "restart_streams_on_rebalancing",
            &consumer.restart_streams_on_rebalancing,
        ),
    ] {
        if let Some(value) = value {
            check_shape(&at.key(key), value)?;
        }
    }
    Ok(())
}

/// The consumer an event targets: its `consumer`, else the first.
pub fn target_consumer<'f>(file: &'f ScenarioFile, event: &EventSpec) -> Option<&'f ConsumerSpec> {
    match &event.consumer {
        Some(name) => file
            .consumers
            .iter()
            .find(|consumer| &consumer.name == name),
        None => file.consumers.first(),
    }
}

/// Which keys of an event are set, by name.
fn set_keys(event: &EventSpec) -> Vec<&'static str> {
    let present = [
        ("consumer", event.consumer.is_some()),
        ("consume", event.consume.is_some()),
        ("topic", event.topic.is_some()),
        ("mode", event.mode.is_some()),
        ("ms", event.ms.is_some()),
        ("for_ms", event.for_ms.is_some()),
        ("call", event.call.is_some()),
        ("error", event.error.is_some()),
        ("times", event.times.is_some()),
        ("peer", event.peer.is_some()),
        ("every_ms", event.every_ms.is_some()),
    ];
    present
        .into_iter()
        .filter(|(_, set)| *set)
        .map(|(key, _)| key)
        .collect()
}

fn check_event(
    file: &ScenarioFile,
    at: &KeyPath,
    event: &EventSpec,
    warnings: &mut Vec<String>,
) -> Result<(), Problem> {
    let usage = event_use(event.kind);
    for key in set_keys(event) {
        if !usage.keys.contains(&key) && !EVENT_COMMON_KEYS.contains(&key) {
            return Err(Problem::new(
                at.key(key),
                format!(
                    "do = \"{}\" does not use {key} (it uses: {})",
                    usage.name,
                    usage.keys.join(", ")
                ),
            ));
        }
    }
    for key in usage.required {
        if !set_keys(event).contains(key) {
            return Err(Problem::new(
                at.key("do"),
                format!("do = \"{}\" needs {key}", usage.name),
            ));
        }
    }
    if event.at_ms.is_some() && event.after.is_some() {
        return Err(Problem::new(
            at.key("after"),
            "an event has at_ms or after, not both",
        ));
    }
    for (key, value) in [
        ("at_ms", &event.at_ms),
        ("delay_ms", &event.delay_ms),
        ("ms", &event.ms),
        ("for_ms", &event.for_ms),
        ("times", &event.times),
        ("every_ms", &event.every_ms),
    ] {
        bound(&at.key(key), value)?;
    }
    if let Some(enabled) = &event.enabled {
        check_shape(&at.key("enabled"), enabled)?;
    }
    if let Some(mode) = &event.mode {
        check_shape(&at.key("mode"), mode)?;
    }
    if let Some(error) = &event.error {
        check_shape(&at.key("error"), error)?;
    }
    if let Some(call) = &event.call {
        check_shape(&at.key("call"), call)?;
        if event.kind == EventKind::CommitLatency
            && call.any(|call| !matches!(call.0, ClientCall::CommitAsync | ClientCall::CommitSync))
        {
            return Err(Problem::new(
                at.key("call"),
                "commit-latency delays commit_async or commit_sync",
            ));
        }
    }
    if let Some(name) = &event.consumer {
        if !file.consumers.iter().any(|consumer| &consumer.name == name) {
            return Err(Problem::new(
                at.key("consumer"),
                format!("no consumer is named {name:?}"),
            ));
        }
    }
    if let Some(topic) = &event.topic {
        if !file.topics.iter().any(|known| &known.name == topic) {
            return Err(Problem::new(
                at.key("topic"),
                format!("no topic is named {topic:?}"),
            ));
        }
    }
    if let Some(peer) = &event.peer {
        check_name(&at.key("peer"), peer, false)?;
        if file.consumers.iter().any(|consumer| &consumer.name == peer) {
            return Err(Problem::new(
                at.key("peer"),
                format!("{peer:?} is a full consumer; a passive peer needs a name of its own"),
            ));
        }
    }
    if let Some(name) = &event.consume {
        let consumer = target_consumer(file, event).expect("the consumer was checked");
        let Some(consume) = consumer
            .consumptions
            .iter()
            .find(|c| &c.display_name() == name)
        else {
            let known: Vec<String> = consumer
                .consumptions
                .iter()
                .map(|c| c.display_name())
                .collect();
            return Err(Problem::new(
                at.key("consume"),
                format!(
                    "{} has no consumption named {name:?} (it has: {})",
                    consumer.name,
                    known.join(", ")
                ),
            ));
        };
        if event.kind == EventKind::AddSubscription && consume.start != Some(StartMode::OnEvent) {
            return Err(Problem::new(
                at.key("consume"),
                format!("{name:?} starts at the start; add-subscription starts only consumptions with start = \"on-event\""),
            ));
        }
    }
    if let Some(after) = &event.after {
        let trigger =
            Trigger::parse(after).map_err(|message| Problem::new(at.key("after"), message))?;
        if let Some(consumer) = &trigger.consumer {
            if !file.consumers.iter().any(|known| &known.name == consumer) {
                return Err(Problem::new(
                    at.key("after"),
                    format!("no consumer is named {consumer:?}"),
                ));
            }
        }
        if let Some(reason) = trigger.never_fires(file) {
            warnings.push(format!("{}.after = {after:?} can never fire: {reason}", at));
        }
    }
    Ok(())
}

/// The most entries of each kind in a written-out fault plan (a swarm draws far fewer).
const MAX_FAULTS_PER_KIND: usize = 64;

/// A fault plan written out in full (as a resolved scenario writes it) is held to the bounds of
/// the events it stands for: times as `event.at_ms`, latencies as `event.ms`, counts as
/// `event.times`; its topics, clients and group must exist, and peers are not consumers.
fn check_faults(file: &ScenarioFile) -> Result<(), Problem> {
    let faults = &file.faults;
    let root = KeyPath::root("faults");
    let counts = [
        ("acl_changes", faults.acl_changes.len()),
        (
            "authentication_outages",
            faults.authentication_outages.len(),
        ),
        ("call_faults", faults.call_faults.len()),
        ("poll_latency", faults.poll_latency.len()),
        ("call_latency", faults.call_latency.len()),
        ("peer_changes", faults.peer_changes.len()),
        ("session_timeouts", faults.session_timeouts.len()),
    ];
    for (list, count) in counts {
        if count > MAX_FAULTS_PER_KIND {
            return Err(Problem::new(
                root.key(list),
                format!(
                    "{count} entries; a fault plan has at most {MAX_FAULTS_PER_KIND} of each kind"
                ),
            ));
        }
    }
    let time = |path: KeyPath, value: Option<u64>| bound_as(&path, value, "event.at_ms");
    let latency = |path: KeyPath, value: u64| bound_as(&path, Some(value), "event.ms");
    let client = |path: KeyPath, client: &Option<String>| match client {
        Some(name) if !file.consumers.iter().any(|consumer| &consumer.name == name) => {
            Err(Problem::new(path, format!("no consumer is named {name:?}")))
        }
        _ => Ok(()),
    };
    time(root.key("storm_end_ms"), faults.storm_end_ms)?;
    for (index, change) in faults.acl_changes.iter().enumerate() {
        let at = root.key("acl_changes").index(index);
        time(at.key("at_ms"), Some(change.at_ms))?;
        if !file.topics.iter().any(|topic| topic.name == change.topic) {
            return Err(Problem::new(
                at.key("topic"),
                format!("no topic is named {:?}", change.topic),
            ));
        }
        client(at.key("client"), &change.client)?;
    }
    for (index, outage) in faults.authentication_outages.iter().enumerate() {
        let at = root.key("authentication_outages").index(index);
        time(at.key("from_ms"), Some(outage.from_ms))?;
        time(at.key("until_ms"), outage.until_ms)?;
        client(at.key("client"), &outage.client)?;
    }
    for (index, fault) in faults.call_faults.iter().enumerate() {
        let at = root.key("call_faults").index(index);
        time(at.key("from_ms"), Some(fault.from_ms))?;
        if let FaultTimes::Times(times) = fault.times {
            bound_as(&at.key("times"), Some(times.into()), "event.times")?;
        }
        client(at.key("client"), &fault.client)?;
    }
    for (index, slow) in faults.poll_latency.iter().enumerate() {
        let at = root.key("poll_latency").index(index);
        time(at.key("from_ms"), Some(slow.from_ms))?;
        time(at.key("until_ms"), slow.until_ms)?;
        latency(at.key("latency_ms"), slow.latency_ms)?;
        client(at.key("client"), &slow.client)?;
    }
    for (index, slow) in faults.call_latency.iter().enumerate() {
        let at = root.key("call_latency").index(index);
        time(at.key("from_ms"), Some(slow.from_ms))?;
        time(at.key("until_ms"), slow.until_ms)?;
        latency(at.key("latency_ms"), slow.latency_ms)?;
        client(at.key("client"), &slow.client)?;
    }
    for (index, change) in faults.peer_changes.iter().enumerate() {
        let at = root.key("peer_changes").index(index);
        time(at.key("at_ms"), Some(change.at_ms))?;
        check_group(at.key("group"), &change.group)?;
        check_name(&at.key("peer"), &change.peer, false)?;
        if file
            .consumers
            .iter()
            .any(|consumer| consumer.name == change.peer)
        {
            return Err(Problem::new(
                at.key("peer"),
                format!(
                    "{:?} is a full consumer; a passive peer needs a name of its own",
                    change.peer
                ),
            ));
        }
    }
    for (index, timeout) in faults.session_timeouts.iter().enumerate() {
        let at = root.key("session_timeouts").index(index);
        time(at.key("at_ms"), Some(timeout.at_ms))?;
        check_group(at.key("group"), &timeout.group)?;
    }
    Ok(())
}

/// Every scenario's consumers share one group; a fault of another would never happen.
fn check_group(path: KeyPath, group: &str) -> Result<(), Problem> {
    if group == super::GROUP {
        Ok(())
    } else {
        Err(Problem::new(
            path,
            format!("the scenario's group is {:?}, not {group:?}", super::GROUP),
        ))
    }
}

/// A number held to the bounds of the key `like`.
fn bound_as(path: &KeyPath, value: Option<u64>, like: &str) -> Result<(), Problem> {
    let bounds = keys::key_of(like)
        .and_then(|key| key.bounds.clone())
        .expect("the key has bounds");
    match value {
        Some(value) if !bounds.contains(&value) => Err(Problem::new(
            path.clone(),
            format!(
                "{value} is outside its bounds {}..={}",
                bounds.start(),
                bounds.end()
            ),
        )),
        _ => Ok(()),
    }
}

/// A number's bounds, from the key table.
fn bound(path: &KeyPath, value: &Option<Draw<u64>>) -> Result<(), Problem> {
    let Some(value) = value else {
        return Ok(());
    };
    check_shape(path, value)?;
    let key = keys::key_of(&path.pattern()).expect("every numeric key is in KEYS");
    let bounds = key.bounds.clone().expect("every numeric key has bounds");
    for extreme in value.extremes() {
        if !bounds.contains(extreme) {
            return Err(Problem::new(
                path.clone(),
                format!(
                    "{extreme} is outside its bounds {}..={}",
                    bounds.start(),
                    bounds.end()
                ),
            ));
        }
    }
    Ok(())
}

fn bound_plain(path: &KeyPath, value: Option<u64>) -> Result<(), Problem> {
    bound(path, &value.map(Draw::Fixed))
}

fn check_shape<T: Drawable>(path: &KeyPath, value: &Draw<T>) -> Result<(), Problem> {
    if let Draw::OneOf(values) = value {
        if values.len() > keys::MAX_CHOICES {
            return Err(Problem::new(
                path.clone(),
                format!("one_of lists at most {} values", keys::MAX_CHOICES),
            ));
        }
    }
    match value.shape_error() {
        Some(message) => Err(Problem::new(path.clone(), message)),
        None => Ok(()),
    }
}
