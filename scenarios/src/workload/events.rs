//! A scenario's events: faults at a time go into the fault plan at the start; every other event
//! (triggered faults, user actions) gets a fiber that waits for its time or trigger and acts.

use std::time::Duration;

use consumer::rt::{Cause, Exit, Fiber};
use sim::kafka::{
    AclChange, AuthenticationOutage, CallFault, CallLatency, ClientCall, FaultPlan, FaultTimes,
    InjectedError, PeerAction, PeerChange, PollLatency, ReadAccess, SessionTimeout,
};

use super::{Disturbance, World};
use crate::scenario::spec::{DenyMode, ErrorName, EventKind, EventSpec, ScenarioFile};
use crate::scenario::validate::target_consumer;
use crate::scenario::GROUP;

/// Whether an event is a fault of the cluster (planned), rather than a user action.
pub fn is_fault(kind: EventKind) -> bool {
    matches!(
        kind,
        EventKind::DenyRead
            | EventKind::AllowRead
            | EventKind::AuthenticationOutage
            | EventKind::CallFault
            | EventKind::PollLatency
            | EventKind::CommitLatency
            | EventKind::PeerJoin
            | EventKind::PeerLeave
            | EventKind::SessionTimeout
    )
}

/// The virtual time of an event at a time (`at_ms` + `delay_ms`).
fn timed_at_ms(event: &EventSpec) -> u64 {
    let at = event.at_ms.as_ref().map(|at| at.value()).unwrap_or(0);
    at + event
        .delay_ms
        .as_ref()
        .map(|delay| delay.value())
        .unwrap_or(0)
}

/// The file's written-out faults and its fault events at a time, as one plan.
pub fn timed_fault_plan(file: &ScenarioFile) -> FaultPlan {
    let mut plan = file.faults.clone();
    for event in file
        .events
        .iter()
        .filter(|event| event.after.is_none() && is_fault(event.kind))
    {
        add_fault(&mut plan, file, event, timed_at_ms(event));
    }
    plan
}

/// Adds the fault of `event`, starting at `at_ms`, to `plan`.
fn add_fault(plan: &mut FaultPlan, file: &ScenarioFile, event: &EventSpec, at_ms: u64) {
    let client = event.consumer.clone();
    let until_ms = event.for_ms.as_ref().map(|length| at_ms + length.value());
    let topic = || event.topic.clone().expect("checked: the event has a topic");
    match event.kind {
        EventKind::DenyRead => plan.acl_changes.push(AclChange {
            at_ms,
            topic: topic(),
            access: match event
                .mode
                .as_ref()
                .map(|mode| mode.value())
                .unwrap_or(DenyMode::Throw)
            {
                DenyMode::Throw => ReadAccess::DeniedEveryPollThrows,
                DenyMode::Silent => ReadAccess::DeniedSilentPollCommittedThrows,
                DenyMode::ThrowOnce => ReadAccess::DeniedThrownOnceThenSilent,
                DenyMode::ThrowOncePerPartition => {
                    ReadAccess::DeniedThrownOncePerPartitionThenSilent
                }
            },
            client,
        }),
        EventKind::AllowRead => plan.acl_changes.push(AclChange {
            at_ms,
            topic: topic(),
            access: ReadAccess::Allowed,
            client,
        }),
        EventKind::AuthenticationOutage => plan.authentication_outages.push(AuthenticationOutage {
            from_ms: at_ms,
            until_ms,
            client,
        }),
        EventKind::CallFault => {
            let first_topic = file
                .topics
                .first()
                .map(|t| t.name.clone())
                .unwrap_or_default();
            let error = match event
                .error
                .as_ref()
                .expect("checked: a call fault has an error")
                .value()
            {
                ErrorName::TopicAuthorization => InjectedError::TopicAuthorization(first_topic),
                ErrorName::GroupAuthorization => InjectedError::GroupAuthorization,
                ErrorName::Authentication => InjectedError::Authentication,
                ErrorName::RebalanceInProgress => InjectedError::RebalanceInProgress,
                ErrorName::CommitFailed => InjectedError::CommitFailed,
                ErrorName::IllegalState => InjectedError::IllegalState("injected".into()),
                ErrorName::Wakeup => InjectedError::Wakeup,
                ErrorName::InvalidTopic => InjectedError::InvalidTopic,
                ErrorName::Timeout => InjectedError::Timeout,
                ErrorName::Other => InjectedError::Other("injected".into()),
            };
            let times = match event.times.as_ref().map(|times| times.value()).unwrap_or(1) {
                0 => FaultTimes::Always,
                1 => FaultTimes::Once,
                n => FaultTimes::Times(n as u32),
            };
            plan.call_faults.push(CallFault {
                call: event
                    .call
                    .as_ref()
                    .expect("checked: a call fault has a call")
                    .value()
                    .0,
                error,
                from_ms: at_ms,
                times,
                client,
            });
        }
        EventKind::PollLatency => plan.poll_latency.push(PollLatency {
            from_ms: at_ms,
            until_ms,
            latency_ms: event.ms.as_ref().map(|ms| ms.value()).unwrap_or(0),
            client,
        }),
        EventKind::CommitLatency => plan.call_latency.push(CallLatency {
            call: event
                .call
                .as_ref()
                .map(|call| call.value().0)
                .unwrap_or(ClientCall::CommitAsync),
            from_ms: at_ms,
            until_ms,
            latency_ms: event.ms.as_ref().map(|ms| ms.value()).unwrap_or(0),
            client,
        }),
        EventKind::PeerJoin | EventKind::PeerLeave => plan.peer_changes.push(PeerChange {
            at_ms,
            group: GROUP.into(),
            peer: event
                .peer
                .clone()
                .expect("checked: a peer event names its peer"),
            action: if event.kind == EventKind::PeerJoin {
                PeerAction::Join
            } else {
                PeerAction::Leave
            },
        }),
        EventKind::SessionTimeout => plan.session_timeouts.push(SessionTimeout {
            at_ms,
            group: GROUP.into(),
        }),
        _ => {}
    }
}

/// Starts a fiber for every event that is not a fault at a time.
pub fn start(world: &World) -> Vec<Fiber<(), ()>> {
    let mut fibers = Vec::new();
    let mut triggered = 0;
    for (index, event) in world.file.events.iter().enumerate() {
        let trigger = event.after.as_ref().map(|_| {
            triggered += 1;
            triggered - 1
        });
        if trigger.is_none() && is_fault(event.kind) {
            continue;
        }
        let (world, event) = (world.clone(), event.clone());
        let name = format!(
            "event:{index}:{}",
            crate::scenario::keys::event_use(event.kind).name
        );
        fibers.push(world.rt.clone().fork::<(), (), _>(name, async move {
            match trigger {
                Some(slot) => {
                    world.triggers.promise(slot).await_exit().await?.ok();
                }
                None => {
                    let at = Duration::from_millis(
                        event.at_ms.as_ref().map(|at| at.value()).unwrap_or(0),
                    );
                    world.rt.sleep(at.saturating_sub(world.rt.now())).await?;
                }
            }
            let delay = event
                .delay_ms
                .as_ref()
                .map(|delay| delay.value())
                .unwrap_or(0);
            world.rt.sleep(Duration::from_millis(delay)).await?;
            act(&world, &event).await
        }));
    }
    fibers
}

/// Does what `event` says, now.
async fn act(world: &World, event: &EventSpec) -> Exit<(), ()> {
    if is_fault(event.kind) {
        let mut plan = FaultPlan::default();
        add_fault(
            &mut plan,
            &world.file,
            event,
            world.rt.now().as_millis() as u64,
        );
        world.cluster.apply_faults(&plan);
        if let Some(first) = world.observations.borrow_mut().first_mut() {
            first.faults_added.extend(&plan);
        }
        return Ok(());
    }
    let Some(target) = target_consumer(&world.file, event) else {
        return Ok(());
    };
    let index = world
        .file
        .consumers
        .iter()
        .position(|consumer| consumer.name == target.name)
        .expect("the target is a consumer of the file");
    // A consumer not made yet, or closed already, does nothing.
    let Some(instance) = world.instances.borrow()[index].clone() else {
        return Ok(());
    };
    // A user action disturbs the group from when it starts until it is done (closing a
    // consumer may take as long as its revocation waits); a commit does not.
    let disturbance = (event.kind != EventKind::CommitProcessed).then(|| {
        let mut all = world.observations.borrow_mut();
        let list = &mut all[index].disturbances;
        list.push(Disturbance {
            from: world.rt.now(),
            until: None,
            what: crate::scenario::keys::event_use(event.kind)
                .name
                .to_string(),
            ends_consumptions: matches!(
                event.kind,
                EventKind::CloseConsumer | EventKind::StopConsumption | EventKind::InterruptConsume
            ),
        });
        list.len() - 1
    });
    let consume = event.consume.clone().unwrap_or_default();
    let result = match event.kind {
        EventKind::StopConsumption => instance.stop_consumption(world).await,
        EventKind::CloseConsumer => instance.close(world).await,
        EventKind::AddSubscription => {
            instance.add_consumption(world, &consume);
            Ok(())
        }
        EventKind::InterruptConsume => instance.interrupt(world, &consume).await,
        EventKind::CommitProcessed => {
            let every = event
                .every_ms
                .as_ref()
                .map(|every| Duration::from_millis(every.value()));
            let mut result = Ok(());
            // Bounded: every round sleeps at least 1 ms, and rounds end at the final stop.
            for _round in 0..1_000_000u32 {
                result = instance.commit_processed(world).await;
                match every {
                    Some(every)
                        if result.is_ok() && world.rt.now() + every < world.final_stop() =>
                    {
                        world.rt.sleep(every).await?;
                    }
                    _ => break,
                }
            }
            result
        }
        _ => Ok(()),
    };
    if let Some(at) = disturbance {
        world.observations.borrow_mut()[index].disturbances[at].until = Some(world.rt.now());
    }
    // A user action's failure is the consumer's business (it shows in the observations); only
    // an interruption of the event's own fiber ends it.
    match result {
        Err(Cause::Interrupt(by)) => Err(Cause::Interrupt(by)),
        _ => Ok(()),
    }
}
