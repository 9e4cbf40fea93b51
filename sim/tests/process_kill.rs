//! Killing a process (`Rt::kill_process`) on the simulated runtime: its fibers stop where they
//! are, without finalizers; their obligations are discharged, not a hang; a fiber outside
//! that joins one sees `Cause::Killed`; everything else goes on, and a survivor waiting on
//! something only the dead would have done stays stuck.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use consumer::rt::{Cause, ObligationKind, Promise};
use sim::{run, Outcome};

const MS: Duration = Duration::from_millis(1);

mod support;

use support::{calm, Log};

/// A killed process's fibers run no finalizer (scope, uninterruptible region, code after a
/// wait), its children and daemons die with it, and the fibers outside go on.
#[test]
fn a_killed_process_runs_no_finalizers_and_the_rest_goes_on() {
    assert!(sim::SIMULATED, "these tests need --cfg madsim");
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(1), move |rt| async move {
        let process = rt.new_process("app");
        let (inner_rt, inner_log) = (rt.clone(), log.clone());
        let app = rt.fork_in_process::<(), (), _>(&process, "app", async move {
            let (child_rt, child_log) = (inner_rt.clone(), inner_log.clone());
            inner_rt.fork::<(), (), _>("app-child", async move {
                child_rt.sleep(50 * MS).await?;
                child_log.write(&child_rt, "child woke");
                Ok(())
            });
            let (daemon_rt, daemon_log) = (inner_rt.clone(), inner_log.clone());
            inner_rt.fork_daemon::<(), (), _>("app-daemon", async move {
                daemon_rt.sleep(50 * MS).await?;
                daemon_log.write(&daemon_rt, "daemon woke");
                Ok(())
            });
            let (scope_rt, scope_log) = (inner_rt.clone(), inner_log.clone());
            inner_rt
                .scoped::<(), (), _, _>("app_scope", move |scope| async move {
                    let finalizer_log = scope_log.clone();
                    let finalizer_rt = scope_rt.clone();
                    scope
                        .add_finalizer("log", move |_| async move {
                            finalizer_log.write(&finalizer_rt, "scope finalizer ran");
                            Ok(())
                        })
                        .await?;
                    let _ = scope_rt
                        .uninterruptible::<(), Cause<()>, _>(async {
                            scope_rt.sleep(100 * MS).await?;
                            Ok(())
                        })
                        .await;
                    scope_log.write(&scope_rt, "uninterruptible region ended");
                    Ok(())
                })
                .await
        });
        let (bystander_rt, bystander_log) = (rt.clone(), log.clone());
        let bystander = rt.fork::<(), (), _>("bystander", async move {
            bystander_rt.sleep(200 * MS).await?;
            bystander_log.write(&bystander_rt, "bystander woke");
            Ok(())
        });
        rt.sleep(10 * MS).await.expect("not interrupted");
        let killed = rt.kill_process(&process).await.expect("not interrupted");
        log.write(&rt, format!("killed {killed} fibers"));
        let exit = app.join().await;
        log.write(&rt, format!("app joined: {:?}", exit.map_err(|c| c.kind())));
        let _ = bystander.join().await;
    });
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert_eq!(
        seen.lines(),
        vec![
            (10, "killed 3 fibers".to_string()),
            (10, "app joined: Err(Killed)".to_string()),
            (200, "bystander woke".to_string()),
        ],
        "nothing of the process ran after the kill: {}",
        result.report()
    );
}

/// The obligations a killed fiber opened are discharged, not a hang, even one whose guard
/// lives on outside the process; the run completes with every obligation met.
#[test]
fn a_killed_fibers_obligations_are_discharged_not_a_hang() {
    let result = run(&calm(2), |rt| async move {
        let process = rt.new_process("app");
        let kept_outside = Rc::new(RefCell::new(None));
        let (inner_rt, keeper) = (rt.clone(), kept_outside.clone());
        rt.fork_in_process::<(), (), _>(&process, "app", async move {
            let never: Promise<(), ()> = Promise::new(&inner_rt, "promise:never");
            let _call = inner_rt.obligation(ObligationKind::UserCall, "consume_with of app");
            *keeper.borrow_mut() =
                Some(inner_rt.obligation(ObligationKind::Request, "request kept outside"));
            never.wait().await
        });
        rt.sleep(10 * MS).await.expect("not interrupted");
        rt.kill_process(&process).await.expect("not interrupted");
        // The guard outside is still alive: only the kill can have discharged it.
        assert!(kept_outside.borrow().is_some());
        std::mem::forget(kept_outside.borrow_mut().take());
    });
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert!(
        result.liveness.all_obligations_met(),
        "a dead process owes nothing:\n{}",
        result.report()
    );
    let discharged: Vec<&str> = result
        .liveness
        .discharged_by_kill
        .iter()
        .map(|obligation| obligation.label.as_str())
        .collect();
    assert_eq!(
        discharged,
        vec!["consume_with of app", "request kept outside"]
    );
}

/// A joiner outside the process sees the kill: `join` returns `Cause::Killed` by the killer,
/// even when it was already waiting before the kill; a race inside the process dies whole.
#[test]
fn a_joiner_waiting_outside_sees_the_kill() {
    let exits = Rc::new(RefCell::new(Vec::new()));
    let seen = exits.clone();
    let result = run(&calm(3), move |rt| async move {
        let process = rt.new_process("app");
        let inner_rt = rt.clone();
        let app = rt.fork_in_process::<(), (), _>(&process, "app", async move {
            let (left, right) = (inner_rt.clone(), inner_rt.clone());
            inner_rt
                .race_first::<(), (), _, _>(
                    "race",
                    async move {
                        left.sleep(1_000 * MS).await?;
                        Ok(())
                    },
                    async move {
                        right.sleep(2_000 * MS).await?;
                        Ok(())
                    },
                )
                .await
        });
        let (joiner_app, joiner_exits) = (app.clone(), exits.clone());
        let joiner = rt.fork::<(), (), _>("joiner", async move {
            let exit = joiner_app.join().await;
            joiner_exits.borrow_mut().push(exit);
            Ok(())
        });
        rt.sleep(10 * MS).await.expect("not interrupted");
        let killer = rt.current_fiber();
        rt.kill_process(&process).await.expect("not interrupted");
        let _ = joiner.join().await;
        let later = app.join().await;
        exits.borrow_mut().push(later);
        exits.borrow_mut().push(Err(Cause::Killed { by: killer }));
    });
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    let exits = seen.borrow();
    assert_eq!(exits.len(), 3);
    assert_eq!(exits[0], exits[2], "the waiting joiner sees the killer");
    assert_eq!(exits[1], exits[2], "a later join sees it too");
    assert!(
        result.elapsed < Duration::from_millis(1_000),
        "nobody waited for the race"
    );
}

/// A survivor waiting on a promise that only the killed process would have completed stays
/// blocked: that is a hang of the survivor, with its own obligation open.
#[test]
fn a_survivor_waiting_on_the_dead_stays_stuck() {
    let result = run(&calm(4), |rt| async move {
        let process = rt.new_process("app");
        let reply: Promise<(), ()> = Promise::new(&rt, "promise:reply-from-app");
        let (inner_rt, answer) = (rt.clone(), reply.clone());
        rt.fork_in_process::<(), (), _>(&process, "app", async move {
            inner_rt.sleep(100 * MS).await?;
            answer.succeed(()).await?;
            Ok(())
        });
        let (survivor_rt, awaited) = (rt.clone(), reply.clone());
        let survivor = rt.fork::<(), (), _>("survivor", async move {
            let call = survivor_rt.obligation(ObligationKind::UserCall, "survivor awaits app");
            let _ = awaited.wait().await;
            call.close();
            Ok(())
        });
        rt.sleep(10 * MS).await.expect("not interrupted");
        rt.kill_process(&process).await.expect("not interrupted");
        let _ = survivor.join().await;
    });
    assert_eq!(
        result.outcome,
        Outcome::BlockedForever,
        "{}",
        result.report()
    );
    let open: Vec<&str> = result
        .liveness
        .open_obligations
        .iter()
        .map(|obligation| obligation.label.as_str())
        .collect();
    assert_eq!(open, vec!["survivor awaits app"], "{}", result.report());
    assert!(result.liveness.discharged_by_kill.is_empty());
}

/// A fiber inside an `in_process` region dies with the process; one that has left its region
/// does not. The kill is one trace event naming the killed fibers in id order.
#[test]
fn a_user_call_in_the_process_dies_with_it_and_the_kill_is_traced() {
    let log = Log::default();
    let seen = log.clone();
    let result = run(&calm(5).recording(), move |rt| async move {
        let process = rt.new_process("app");
        let inner_rt = rt.clone();
        rt.fork_in_process::<(), (), _>(&process, "app", async move {
            inner_rt.sleep(1_000 * MS).await?;
            Ok(())
        });
        let (visitor_rt, visitor_process, visitor_log) = (rt.clone(), process.clone(), log.clone());
        let visitor = rt.fork::<(), (), _>("user-call", async move {
            visitor_rt
                .in_process(&visitor_process, visitor_rt.sleep(100 * MS))
                .await?;
            visitor_log.write(&visitor_rt, "user call returned");
            Ok(())
        });
        let (passer_rt, passer_process, passer_log) = (rt.clone(), process.clone(), log.clone());
        let passer = rt.fork::<(), (), _>("passer-by", async move {
            passer_rt
                .in_process(&passer_process, passer_rt.sleep(MS))
                .await?;
            passer_rt.sleep(50 * MS).await?;
            passer_log.write(&passer_rt, "passer-by went on");
            Ok(())
        });
        rt.sleep(10 * MS).await.expect("not interrupted");
        assert!(!rt.is_killed(&process));
        rt.kill_process(&process).await.expect("not interrupted");
        assert!(rt.is_killed(&process));
        let visited = visitor.join().await;
        log.write(
            &rt,
            format!("user call: {:?}", visited.map_err(|c| c.kind())),
        );
        let _ = passer.join().await;
    });
    assert_eq!(result.outcome, Outcome::Completed, "{}", result.report());
    assert_eq!(
        seen.lines(),
        vec![
            (10, "user call: Err(Killed)".to_string()),
            (51, "passer-by went on".to_string()),
        ]
    );
    let events = result.events.as_ref().expect("recorded");
    let kills: Vec<&str> = events
        .iter()
        .map(|event| event.what.as_str())
        .filter(|what| what.starts_with("killed process"))
        .collect();
    assert_eq!(
        kills,
        vec!["killed process `app` (process#1): fiber#2, fiber#3 ended without finalizers"]
    );
}
