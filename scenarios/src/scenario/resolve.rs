//! Resolving a scenario for one seed: every draw fixed, events that are off for the seed left
//! out, a swarm drawn into a fault plan. The result is again a [`ScenarioFile`], which fixtures
//! embed and `run` prints.

use std::time::Duration;

use rand_chacha::ChaCha8Rng;
use sim::kafka::{FaultPlan, GroupSwarmSpace, SwarmSpace};

use super::draw::{key_rng, Draw, Drawable};
use super::spec::ScenarioFile;

/// The consumer group of every scenario.
pub const GROUP: &str = "hangsim-group";

/// `file` as resolved for `seed`: every value fixed.
pub fn resolve(file: &ScenarioFile, seed: u64) -> ScenarioFile {
    let mut resolved = file.clone();
    let fix = |path: String, draw: &mut Draw<u64>| fix_draw(seed, &path, draw);
    if let Some(stop) = &mut resolved.run.final_stop_ms {
        fix("run.final_stop_ms".into(), stop);
    }
    for (t, topic) in resolved.topics.iter_mut().enumerate() {
        fix(format!("topic[{t}].partitions"), &mut topic.partitions);
        fix(
            format!("topic[{t}].records_per_partition"),
            &mut topic.records_per_partition,
        );
        fix(
            format!("topic[{t}].produce_every_ms"),
            &mut topic.produce_every_ms,
        );
    }
    fix_draw(
        seed,
        "group.rebalance_protocol",
        &mut resolved.group.rebalance_protocol,
    );
    for (c, consumer) in resolved.consumers.iter_mut().enumerate() {
        let at = |key: &str| format!("consumer[{c}].{key}");
        fix_option(seed, &at("protocol"), &mut consumer.protocol);
        fix_option(seed, &at("enabled"), &mut consumer.enabled);
        for (key, value) in [
            ("start_at_ms", &mut consumer.start_at_ms),
            ("poll_timeout_ms", &mut consumer.poll_timeout_ms),
            ("commit_timeout_ms", &mut consumer.commit_timeout_ms),
            ("close_timeout_ms", &mut consumer.close_timeout_ms),
            ("max_poll_interval_ms", &mut consumer.max_poll_interval_ms),
            ("session_timeout_ms", &mut consumer.session_timeout_ms),
            (
                "max_stream_pull_interval_ms",
                &mut consumer.max_stream_pull_interval_ms,
            ),
            (
                "max_rebalance_duration_ms",
                &mut consumer.max_rebalance_duration_ms,
            ),
            (
                "partition_prefetch_buffer_limit",
                &mut consumer.partition_prefetch_buffer_limit,
            ),
            ("auth_error_retries", &mut consumer.auth_error_retries),
            ("shutdown_timeout_ms", &mut consumer.shutdown_timeout_ms),
            (
                "empty_poll_count_to_meta_refresh",
                &mut consumer.empty_poll_count_to_meta_refresh,
            ),
        ] {
            fix_option(seed, &at(key), value);
        }
        fix_option(
            seed,
            &at("rebalance_safe_commits"),
            &mut consumer.rebalance_safe_commits,
        );
        fix_option(
            seed,
            &at("restart_streams_on_rebalancing"),
            &mut consumer.restart_streams_on_rebalancing,
        );
        for (n, consume) in consumer.consumptions.iter_mut().enumerate() {
            // The name is fixed before the API is drawn, so events keep finding it.
            consume.name = Some(consume.display_name());
            let at = |key: &str| format!("consumer[{c}].consume[{n}].{key}");
            fix_draw(seed, &at("api"), &mut consume.api);
            fix_option(seed, &at("handler_delay_ms"), &mut consume.handler_delay_ms);
            fix_option(
                seed,
                &at("commit_each_record"),
                &mut consume.commit_each_record,
            );
        }
    }
    let mut events = Vec::new();
    for (e, mut event) in resolved.events.into_iter().enumerate() {
        let at = |key: &str| format!("event[{e}].{key}");
        fix_option(seed, &at("enabled"), &mut event.enabled);
        if event
            .enabled
            .as_ref()
            .is_some_and(|enabled| !enabled.value())
        {
            continue;
        }
        event.enabled = None;
        for (key, value) in [
            ("at_ms", &mut event.at_ms),
            ("delay_ms", &mut event.delay_ms),
            ("ms", &mut event.ms),
            ("for_ms", &mut event.for_ms),
            ("times", &mut event.times),
            ("every_ms", &mut event.every_ms),
        ] {
            fix_option(seed, &at(key), value);
        }
        fix_option(seed, &at("mode"), &mut event.mode);
        fix_option(seed, &at("call"), &mut event.call);
        fix_option(seed, &at("error"), &mut event.error);
        events.push(event);
    }
    resolved.events = events;
    if let Some(swarm) = resolved.swarm.take() {
        let topics = swarm.topics.clone().unwrap_or_else(|| {
            resolved
                .topics
                .iter()
                .map(|topic| topic.name.clone())
                .collect()
        });
        let space = SwarmSpace {
            topics,
            group: GROUP.into(),
            horizon: Duration::from_millis(swarm.horizon_ms),
        };
        let group = GroupSwarmSpace {
            clients: resolved
                .consumers
                .iter()
                .filter(|consumer| consumer.is_enabled())
                .map(|consumer| consumer.name.clone())
                .collect(),
        };
        // The group's faults (rebalance callbacks failing, commitSync inside on_revoked, commit
        // latency, per-client denials) happen to one consumer as much as to several.
        let drawn = FaultPlan::swarm_group(seed, &space, &group);
        resolved.faults = merge_plans(std::mem::take(&mut resolved.faults), drawn);
    }
    resolved
}

fn fix_draw<T: Drawable>(seed: u64, path: &str, draw: &mut Draw<T>) {
    if !draw.is_fixed() {
        let mut rng: ChaCha8Rng = key_rng(seed, path);
        *draw = Draw::Fixed(draw.draw(&mut rng));
    }
}

fn fix_option<T: Drawable>(seed: u64, path: &str, draw: &mut Option<Draw<T>>) {
    if let Some(draw) = draw {
        fix_draw(seed, path, draw);
    }
}

/// A written-out plan and a drawn one together; the drawn plan's storm end holds for both.
fn merge_plans(mut written: FaultPlan, drawn: FaultPlan) -> FaultPlan {
    written.storm_end_ms = drawn.storm_end_ms.or(written.storm_end_ms);
    written.acl_changes.extend(drawn.acl_changes);
    written
        .authentication_outages
        .extend(drawn.authentication_outages);
    written.call_faults.extend(drawn.call_faults);
    written.poll_latency.extend(drawn.poll_latency);
    written.call_latency.extend(drawn.call_latency);
    written.peer_changes.extend(drawn.peer_changes);
    written.session_timeouts.extend(drawn.session_timeouts);
    written
}
