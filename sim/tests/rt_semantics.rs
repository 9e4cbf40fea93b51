//! The semantics of `consumer::rt`, each checked on the simulated runtime. These are the ZIO
//! behaviours zio-kafka's hang depends on; a change that breaks one changes what every scenario
//! means.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use consumer::rt::{Cause, ExitKind, Interrupted, Promise, Queue, QueueError, Scope};
use sim::{run, Outcome, RunConfig, RunResult, StrategyChoice};

mod support;

use support::{calm, Log};

fn assert_completed(result: &RunResult) {
    assert!(
        sim::SIMULATED,
        "these tests need --cfg madsim (see .cargo/config.toml)"
    );
    assert_eq!(
        result.outcome,
        Outcome::Completed,
        "run did not complete:\n{}",
        result.report()
    );
    assert!(
        result.panics.is_empty(),
        "workload panicked:\n{}",
        result.report()
    );
    assert!(
        result.liveness.all_obligations_met(),
        "obligations left open:\n{}",
        result.report()
    );
}

const MS: Duration = Duration::from_millis(1);

/// An interruptible caller's race returns when the first side finishes; the loser is
/// interrupted at its await point and has terminated when the race returns.
#[test]
fn race_first_interrupts_loser_when_interruptible() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(1), move |rt| async move {
        let (left_rt, right_rt, right_log) = (rt.clone(), rt.clone(), log.clone());
        let winner = rt
            .race_first::<&str, (), _, _>(
                "race",
                async move {
                    left_rt.sleep(10 * MS).await?;
                    Ok("left")
                },
                async move {
                    match right_rt.sleep(1_000 * MS).await {
                        Ok(()) => right_log.write(&right_rt, "right finished"),
                        Err(_) => right_log.write(&right_rt, "right interrupted"),
                    }
                    Ok("right")
                },
            )
            .await;
        log.write(&rt, format!("race returned {winner:?}"));
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (10, "right interrupted".to_string()),
            (10, "race returned Ok(\"left\")".to_string())
        ]
    );
}

/// In an uninterruptible region the loser cannot be interrupted, so the race waits for it; a
/// loser awaiting a promise nobody completes makes the race, and its caller, wait forever. The
/// hang report names the stuck caller and the loser, and the promise at the end of the chain.
#[test]
fn race_first_waits_for_uninterruptible_loser() {
    let result = run(&calm(2), |rt| async move {
        let call = rt.obligation(
            consumer::rt::ObligationKind::UserCall,
            "remove_subscription from a finalizer",
        );
        let never: Promise<(), ()> = Promise::new(&rt, "promise:never");
        let left_rt = rt.clone();
        let _ = rt
            .uninterruptible(rt.race_first::<(), (), _, _>(
                "race",
                async move {
                    left_rt.sleep(MS).await?;
                    Ok(())
                },
                async move { never.wait().await },
            ))
            .await;
        call.close();
    });
    assert!(
        result.is_hang(),
        "the race should never return:\n{}",
        result.report()
    );
    assert_eq!(
        result.outcome,
        Outcome::BlockedForever,
        "{}",
        result.report()
    );
    let open = &result.liveness.open_obligations;
    assert_eq!(open.len(), 1, "{}", result.report());
    assert_eq!(open[0].label, "remove_subscription from a finalizer");
    let chain = result.liveness.wait_chain(open[0].fiber);
    assert_eq!(
        chain.len(),
        2,
        "caller waits on the loser, the loser on the promise:\n{}",
        result.report()
    );
    assert_eq!(chain[0].name, "main");
    assert!(
        !chain[0].waits_on.interruptible,
        "the caller waits uninterruptibly"
    );
    assert!(
        chain[0].waits_on.object.starts_with("fiber:race.right#"),
        "{}",
        result.report()
    );
    assert_eq!(chain[1].name, "race.right");
    assert_eq!(chain[1].waits_on.object, "promise:never");
    assert!(
        !chain[1].waits_on.interruptible,
        "the loser inherited the caller's region"
    );
    assert_eq!(
        chain[1].interrupt_requested_by,
        Some(chain[0].fiber),
        "the race asked the loser to stop"
    );
    let report = result.report();
    assert!(
        report.contains("race.right") && report.contains("promise:never"),
        "{report}"
    );
    assert!(report.contains("not deliverable"), "{report}");
}

/// An interruptible caller that waits for its race's loser stops waiting when it is interrupted
/// (ZIO's `interruptAs` awaits the loser with the caller's interruptibility): the race ends in
/// interruption at once, and the loser, the caller's child, still finishes before the caller's
/// fiber ends.
#[test]
fn interruptible_caller_stops_awaiting_a_race_loser_when_interrupted() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(3), move |rt| async move {
        let (caller_rt, caller_log) = (rt.clone(), log.clone());
        let caller = rt.fork::<(), (), _>("caller", async move {
            let (left_rt, loser_rt, loser_log) =
                (caller_rt.clone(), caller_rt.clone(), caller_log.clone());
            let raced = caller_rt
                .race_first::<(), (), _, _>(
                    "race",
                    async move {
                        left_rt.sleep(10 * MS).await?;
                        Ok(())
                    },
                    async move {
                        // The loser cannot be interrupted before it has slept its second.
                        let region = loser_rt.clone();
                        region
                            .uninterruptible(async {
                                loser_rt.sleep(1_000 * MS).await?;
                                loser_log.write(&loser_rt, "loser finished");
                                Ok::<(), Interrupted>(())
                            })
                            .await?;
                        Ok(())
                    },
                )
                .await;
            caller_log.write(
                &caller_rt,
                format!("race returned {}", ExitKind::of(&raced)),
            );
            raced
        });
        let _ = rt.sleep(20 * MS).await;
        let _ = caller.interrupt_fork().await;
        let ended = caller.await_exit().await.expect("main is not interrupted");
        log.write(&rt, format!("caller ended with {}", ExitKind::of(&ended)));
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (20, "race returned interruption".to_string()),
            (1_000, "loser finished".to_string()),
            (1_000, "caller ended with interruption".to_string()),
        ]
    );
}

/// An interruption requested while a fiber runs uninterruptibly waits for the region to end,
/// and is then delivered at once: the code after the region never runs.
#[test]
fn interrupt_is_deferred_until_uninterruptible_region_ends() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(3), move |rt| async move {
        let (child_rt, child_log) = (rt.clone(), log.clone());
        let child = rt.fork::<(), (), _>("worker", async move {
            child_rt
                .uninterruptible(async {
                    child_rt.sleep(100 * MS).await?;
                    child_log.write(&child_rt, "region done");
                    Ok::<(), Cause<()>>(())
                })
                .await?;
            child_log.write(&child_rt, "after region");
            Ok(())
        });
        rt.sleep(10 * MS).await.unwrap();
        log.write(&rt, "interrupting");
        let exit = child.interrupt().await.unwrap();
        log.write(&rt, format!("worker ended with {}", ExitKind::of(&exit)));
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (10, "interrupting".to_string()),
            (100, "region done".to_string()),
            (100, "worker ended with interruption".to_string()),
        ]
    );
}

/// Closing a scope runs its finalizers last-added first, each uninterruptibly: an interruption
/// of the closing fiber stops none of them.
#[test]
fn scope_runs_finalizers_in_reverse_order_uninterruptibly() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(4), move |rt| async move {
        let scope = Scope::new(&rt, "subscription_scope");
        for name in ["first", "second", "third"] {
            let (frt, flog) = (rt.clone(), log.clone());
            scope
                .add_finalizer(name, move |_exit| async move {
                    let region = if frt.is_interruptible() {
                        "interruptible"
                    } else {
                        "uninterruptible"
                    };
                    // A slow finalizer: the interruption below arrives while it sleeps.
                    frt.sleep(50 * MS).await?;
                    flog.write(&frt, format!("{name} ran {region}"));
                    Ok(())
                })
                .await
                .unwrap();
        }
        let closer_scope = scope.clone();
        let closer = rt.fork::<(), (), _>("closer", async move {
            closer_scope
                .close(ExitKind::Success)
                .await
                .map_err(|c| c.map(|never| match never {}))?;
            Ok(())
        });
        rt.sleep(10 * MS).await.unwrap();
        let exit = closer.interrupt().await.unwrap();
        log.write(&rt, format!("closer ended with {}", ExitKind::of(&exit)));
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (50, "third ran uninterruptible".to_string()),
            (100, "second ran uninterruptible".to_string()),
            (150, "first ran uninterruptible".to_string()),
            // The interruption, pending through the close, is delivered when the close ends.
            (150, "closer ended with interruption".to_string()),
        ]
    );
}

/// When a fiber's effect ends, its forked children are interrupted (and awaited), but a daemon
/// it forked runs on.
#[test]
fn fork_daemon_is_not_interrupted_with_parent() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(5), move |rt| async move {
        let (prt, plog) = (rt.clone(), log.clone());
        let parent = rt.fork::<(), (), _>("parent", async move {
            for (name, daemon) in [("child", false), ("daemon", true)] {
                let (crt, clog) = (prt.clone(), plog.clone());
                let effect = async move {
                    match crt.sleep(100 * MS).await {
                        Ok(()) => clog.write(&crt, format!("{name} finished")),
                        Err(_) => clog.write(&crt, format!("{name} interrupted")),
                    }
                    Ok(())
                };
                if daemon {
                    prt.fork_daemon::<(), (), _>(name, effect);
                } else {
                    prt.fork::<(), (), _>(name, effect);
                }
            }
            plog.write(&prt, "parent effect done");
            Ok(())
        });
        let exit = parent.join().await;
        log.write(&rt, format!("parent joined: {}", ExitKind::of(&exit)));
        rt.sleep(200 * MS).await.unwrap();
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (0, "parent effect done".to_string()),
            (0, "child interrupted".to_string()),
            (0, "parent joined: success".to_string()),
            (100, "daemon finished".to_string()),
        ]
    );
}

/// After `shutdown`, `offer` fails at once with interruption (by the fiber that shut it down),
/// as ZIO's does; nothing is enqueued.
#[test]
fn queue_offer_after_shutdown_fails_with_interruption() {
    let outcome = Rc::new(RefCell::new(None));
    let seen = outcome.clone();
    let result = run(&calm(6), move |rt| async move {
        let queue: Queue<u32> = Queue::new(&rt, "command_queue");
        queue.offer(1).await.unwrap();
        queue.shutdown().await.unwrap();
        let offered = queue.offer(2).await;
        let taken = queue.take_all().await;
        *outcome.borrow_mut() = Some((
            rt.current_fiber(),
            offered,
            taken.map(|items| items.len()),
            queue.len_now(),
        ));
    });
    assert_completed(&result);
    let (me, offered, taken, left) = seen.borrow_mut().take().expect("the workload ran");
    assert_eq!(
        offered,
        Err(QueueError::Interrupted(consumer::rt::Interrupted {
            by: me
        }))
    );
    assert!(
        matches!(taken, Err(QueueError::Interrupted(_))),
        "take_all after shutdown fails too"
    );
    assert_eq!(left, 0, "shutdown discards the elements");
}

/// A fiber waiting in `take` when the queue shuts down is woken with interruption.
#[test]
fn queue_shutdown_interrupts_waiting_taker() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(7), move |rt| async move {
        let queue: Queue<u32> = Queue::new(&rt, "command_queue");
        let (trt, tqueue, tlog) = (rt.clone(), queue.clone(), log.clone());
        let taker = rt.fork::<(), (), _>("runloop", async move {
            let taken = tqueue.take().await;
            tlog.write(
                &trt,
                format!(
                    "take returned {}",
                    if taken.is_ok() {
                        "an element"
                    } else {
                        "interruption"
                    }
                ),
            );
            Ok(())
        });
        rt.sleep(10 * MS).await.unwrap();
        queue.shutdown().await.unwrap();
        taker.join().await.unwrap();
        log.write(&rt, "taker done");
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (10, "take returned interruption".to_string()),
            (10, "taker done".to_string())
        ]
    );
}

/// Of several fibers completing one promise, exactly one wins, whatever the schedule; every
/// waiter sees the winner's value, and the promise never changes after.
#[test]
fn promise_completes_at_most_once() {
    for seed in 0..50 {
        let outcome = Rc::new(RefCell::new(Vec::new()));
        let seen = outcome.clone();
        let config = RunConfig::new(seed).with_strategy(StrategyChoice::Yields(0.5));
        let result = run(&config, move |rt| async move {
            let promise: Promise<u32, ()> = Promise::new(&rt, "promise:runloop_done");
            let mut fibers = Vec::new();
            for value in 0..4u32 {
                let (p, o) = (promise.clone(), outcome.clone());
                fibers.push(
                    rt.fork::<(), (), _>(format!("completer{value}"), async move {
                        let won = if value % 2 == 0 {
                            p.succeed(value).await?
                        } else {
                            p.fail(()).await?
                        };
                        o.borrow_mut().push(format!("completer{value} won={won}"));
                        let seen = p.wait().await;
                        o.borrow_mut()
                            .push(format!("completer{value} saw {seen:?}"));
                        Ok(())
                    }),
                );
            }
            for fiber in fibers {
                fiber.join().await.unwrap();
            }
            let late = promise.succeed(99).await.unwrap();
            outcome
                .borrow_mut()
                .push(format!("late won={late} value={:?}", promise.poll_now()));
        });
        assert_completed(&result);
        let lines = seen.borrow().clone();
        let winners: Vec<&String> = lines
            .iter()
            .filter(|line| line.ends_with("won=true"))
            .collect();
        assert_eq!(
            winners.len(),
            1,
            "seed {seed}: exactly one winner in {lines:?}"
        );
        let winner_digit = winners[0]
            .strip_prefix("completer")
            .and_then(|rest| rest.chars().next());
        let winner_value = winner_digit
            .and_then(|digit| digit.to_digit(10))
            .expect("completer number");
        let expected = if winner_value % 2 == 0 {
            format!("Ok({winner_value})")
        } else {
            "Err(Fail(()))".to_string()
        };
        let saw: Vec<&String> = lines.iter().filter(|line| line.contains(" saw ")).collect();
        assert_eq!(saw.len(), 4, "seed {seed}: {lines:?}");
        assert!(
            saw.iter().all(|line| line.ends_with(&expected)),
            "seed {seed}: all see {expected}: {lines:?}"
        );
        assert!(
            lines.last().unwrap().starts_with("late won=false"),
            "seed {seed}: {lines:?}"
        );
    }
}

/// What offerers saw, and what the closer drained, in one run of the close race.
struct CloseRace {
    accepted: Vec<u32>,
    rejected_with_cause: Vec<u32>,
    drained: Vec<u32>,
}

/// Four fibers offer while a closer closes the queue, either atomically (`close_and_drain`) or
/// in two steps (`take_all`, then `shutdown`) with a scheduling point between them.
fn close_race(seed: u64, atomic: bool) -> CloseRace {
    let state = Rc::new(RefCell::new(CloseRace {
        accepted: vec![],
        rejected_with_cause: vec![],
        drained: vec![],
    }));
    let seen = state.clone();
    let config = RunConfig::new(seed).with_strategy(StrategyChoice::Yields(0.5));
    let result = run(&config, move |rt| async move {
        let queue: Queue<u32, &'static str> = Queue::new(&rt, "command_queue");
        let mut offerers = Vec::new();
        for item in 0..4u32 {
            let (q, s) = (queue.clone(), state.clone());
            offerers.push(rt.fork::<(), (), _>(format!("caller{item}"), async move {
                match q.offer(item).await {
                    Ok(()) => s.borrow_mut().accepted.push(item),
                    Err(QueueError::Closed("runloop crashed")) => {
                        s.borrow_mut().rejected_with_cause.push(item)
                    }
                    Err(_) => {}
                }
                Ok(())
            }));
        }
        let drained = if atomic {
            queue.close_and_drain("runloop crashed").await.unwrap()
        } else {
            let drained = queue.take_all().await.unwrap_or_default();
            queue.shutdown().await.unwrap();
            drained
        };
        state.borrow_mut().drained = drained;
        for offerer in offerers {
            offerer.join().await.unwrap();
        }
    });
    assert_completed(&result);
    let mut outcome = seen.borrow_mut();
    outcome.accepted.sort();
    outcome.drained.sort();
    std::mem::replace(
        &mut *outcome,
        CloseRace {
            accepted: vec![],
            rejected_with_cause: vec![],
            drained: vec![],
        },
    )
}

/// `close_and_drain` closes and drains in one step: every offer either was accepted before the
/// close and is drained, or fails with the close's cause. Done in two steps, the same race
/// loses accepted offers on some schedules, which is why the `ClosedQueue` protocol needs it.
#[test]
fn close_and_drain_rejects_offers_atomically() {
    let mut atomic_rejections = 0;
    for seed in 0..200 {
        let race = close_race(seed, true);
        assert_eq!(
            race.accepted, race.drained,
            "seed {seed}: an accepted offer was not drained"
        );
        assert_eq!(
            race.accepted.len() + race.rejected_with_cause.len(),
            4,
            "seed {seed}: every offer is answered"
        );
        atomic_rejections += race.rejected_with_cause.len();
    }
    assert!(
        atomic_rejections > 0,
        "the schedules never put an offer after the close: the test is too weak"
    );
    let lost = (0..200).find(|&seed| {
        let race = close_race(seed, false);
        race.accepted != race.drained
    });
    assert!(
        lost.is_some(),
        "the two-step close never lost an offer: the schedules do not reach the window"
    );
}

/// An interruption request reaches a fiber's children at once, even while the fiber itself runs
/// uninterruptibly (ZIO 2 signals children when the signal arrives), but never a daemon.
#[test]
fn interrupt_request_reaches_children_at_once() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(8), move |rt| async move {
        let (prt, plog) = (rt.clone(), log.clone());
        let parent = rt.fork::<(), (), _>("parent", async move {
            for (name, daemon) in [("child", false), ("daemon", true)] {
                let (crt, clog) = (prt.clone(), plog.clone());
                let effect = async move {
                    match crt.sleep(100 * MS).await {
                        Ok(()) => clog.write(&crt, format!("{name} finished")),
                        Err(_) => clog.write(&crt, format!("{name} interrupted")),
                    }
                    Ok(())
                };
                if daemon {
                    prt.fork_daemon::<(), (), _>(name, effect);
                } else {
                    prt.fork::<(), (), _>(name, effect);
                }
            }
            prt.uninterruptible(async {
                prt.sleep(50 * MS).await?;
                plog.write(&prt, "parent region done");
                Ok::<(), Cause<()>>(())
            })
            .await
        });
        rt.sleep(10 * MS).await.unwrap();
        let exit = parent.interrupt().await.unwrap();
        log.write(&rt, format!("parent ended with {}", ExitKind::of(&exit)));
        rt.sleep(100 * MS).await.unwrap();
    });
    assert_completed(&result);
    assert_eq!(
        seen.lines(),
        vec![
            (10, "child interrupted".to_string()),
            (50, "parent region done".to_string()),
            (50, "parent ended with interruption".to_string()),
            (100, "daemon finished".to_string()),
        ]
    );
}

/// An interruptible caller interrupted while its race is undecided leaves the race at once with
/// the interruption; the interruption reaches both sides, which are its children.
#[test]
fn race_first_ends_at_once_when_caller_is_interrupted() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(9), move |rt| async move {
        let (crt, clog) = (rt.clone(), log.clone());
        let caller = rt.fork::<(), (), _>("caller", async move {
            let side = |name: &'static str| {
                let (srt, slog) = (crt.clone(), clog.clone());
                async move {
                    if srt.sleep(100 * MS).await.is_err() {
                        slog.write(&srt, format!("{name} interrupted"));
                    }
                    Ok(())
                }
            };
            let raced = crt.race_first("race", side("left"), side("right")).await;
            clog.write(&crt, format!("race returned {}", ExitKind::of(&raced)));
            raced
        });
        rt.sleep(10 * MS).await.unwrap();
        let exit = caller.interrupt().await.unwrap();
        log.write(&rt, format!("caller ended with {}", ExitKind::of(&exit)));
    });
    assert_completed(&result);
    let mut lines = seen.lines();
    lines[..2].sort();
    assert_eq!(
        lines,
        vec![
            (10, "left interrupted".to_string()),
            (10, "right interrupted".to_string()),
            (10, "race returned interruption".to_string()),
            (10, "caller ended with interruption".to_string()),
        ]
    );
}

/// The first side to terminate wins the race even when, by the time the caller looks, both
/// have: the right side terminates first and the left one just after, before the caller runs.
#[test]
fn race_first_winner_is_the_first_to_terminate() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(10), move |rt| async move {
        let gate: Promise<(), ()> = Promise::new(&rt, "promise:gate");
        let handoff: Promise<(), ()> = Promise::new(&rt, "promise:handoff");
        let (left_gate, right_gate) = (gate.clone(), gate.clone());
        let (left_handoff, right_handoff) = (handoff.clone(), handoff.clone());
        let caller_rt = rt.clone();
        let racing = rt.fork::<&str, (), _>("caller", async move {
            caller_rt
                .race_first(
                    "race",
                    async move {
                        left_gate.wait().await?;
                        left_handoff.wait().await?;
                        Ok("left")
                    },
                    async move {
                        right_gate.wait().await?;
                        // Wakes the left side, then terminates before it runs.
                        right_handoff.succeed(()).await?;
                        Ok("right")
                    },
                )
                .await
        });
        rt.sleep(MS).await.unwrap();
        gate.succeed(()).await.unwrap();
        log.write(&rt, format!("{:?}", racing.join().await));
    });
    assert_completed(&result);
    assert_eq!(seen.lines(), vec![(1, "Ok(\"right\")".to_string())]);
}
