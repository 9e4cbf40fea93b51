//! The rule that tells a hang from a slow run (DESIGN 3.4), on the simulated runtime alone: a
//! run is stopped stuck when nothing but background loops could ever run again, or when a whole
//! quiet window passed without progress; a run that still progresses after its deadline is not, and one that went quiet before it
//! gets the rest of its quiet window.

use std::time::Duration;

use consumer::rt::{ObligationKind, Promise, Rt};
use sim::{run, Outcome, RunConfig};

/// A caller that opens a request and waits on a reply nobody will ever give.
async fn wait_forever_on_a_request(rt: &Rt) {
    let call = rt.obligation(ObligationKind::Request, "RemoveSubscription#1");
    let reply: Promise<(), ()> = Promise::new(rt, "promise:RemoveSubscription#1");
    let _ = reply.wait().await;
    call.close();
}

/// Forks a daemon that ticks every `every`, forever, completing nothing; as a background loop
/// (`Rt::background_sleep`) or as an ordinary one.
fn fork_ticker(rt: &Rt, every: Duration, background: bool) {
    let ticker = rt.clone();
    rt.fork_daemon::<(), (), _>("metrics", async move {
        loop {
            if background {
                ticker.background_sleep(every).await?;
            } else {
                ticker.sleep(every).await?;
            }
        }
    });
}

/// With only a background ticker left to run, the stuck caller is proven stuck the instant it
/// blocks: the run stops there, long before its deadline, and is a hang.
#[test]
fn stuck_is_proven_while_a_background_ticker_runs() {
    let config = RunConfig::new(1).with_deadline(Duration::from_secs(120));
    let result = run(&config, |rt| async move {
        fork_ticker(&rt, Duration::from_millis(500), true);
        rt.sleep(Duration::from_millis(1_200)).await.unwrap();
        wait_forever_on_a_request(&rt).await;
    });
    assert_eq!(
        result.outcome,
        Outcome::OnlyBackgroundLoopsLeft,
        "{}",
        result.report()
    );
    assert!(result.is_hang() && !result.timed_out());
    assert!(
        result.elapsed >= Duration::from_millis(1_200)
            && result.elapsed < Duration::from_millis(1_201),
        "stopped at {:?}",
        result.elapsed
    );
    assert_eq!(result.liveness.open_obligations.len(), 1);
}

/// The same ticker as an ordinary sleep could wake somebody, so nothing is proven: without a
/// quiet window the deadline stops the run, and that is a timeout, not a hang.
#[test]
fn an_ordinary_ticker_proves_nothing_and_the_deadline_is_a_timeout() {
    let config = RunConfig::new(2).with_deadline(Duration::from_secs(10));
    let result = run(&config, |rt| async move {
        fork_ticker(&rt, Duration::from_millis(500), false);
        wait_forever_on_a_request(&rt).await;
    });
    assert_eq!(result.outcome, Outcome::DeadlineReached);
    assert!(result.timed_out() && !result.is_hang());
}

/// With a quiet window, the same run is a hang once a whole window passed without progress,
/// and it stops at the first tick past the window's end, not at the deadline.
#[test]
fn a_whole_quiet_window_without_progress_is_a_hang() {
    let config = RunConfig::new(3)
        .with_deadline(Duration::from_secs(600))
        .with_quiet_window(Duration::from_secs(20));
    let result = run(&config, |rt| async move {
        fork_ticker(&rt, Duration::from_millis(700), false);
        for _ in 0..5 {
            rt.sleep(Duration::from_secs(1)).await.unwrap();
            rt.progress("a record reached its handler");
        }
        wait_forever_on_a_request(&rt).await;
    });
    assert_eq!(
        result.outcome,
        Outcome::QuietWindowElapsed,
        "{}",
        result.report()
    );
    assert!(result.is_hang());
    assert_eq!(result.progress.marks, 5);
    assert_eq!(result.progress.last, "a record reached its handler");
    let last = result.progress.last_at;
    assert!(last >= Duration::from_secs(5) && last < Duration::from_millis(5_001));
    assert!(
        result.elapsed >= last + Duration::from_secs(20)
            && result.elapsed < last + Duration::from_millis(20_701),
        "stopped at {:?}, last progress at {last:?}",
        result.elapsed
    );
}

/// A run whose only timer lies far beyond its quiet window stops when the clock gets there,
/// before the woken fiber runs: its progress then comes too late.
#[test]
fn the_quiet_window_stops_a_run_before_a_late_timer_runs() {
    let config = RunConfig::new(4)
        .with_deadline(Duration::from_secs(3_000))
        .with_quiet_window(Duration::from_secs(3));
    let result = run(&config, |rt| async move {
        let sleeper = rt.clone();
        rt.fork_daemon::<(), (), _>("far_sleeper", async move {
            sleeper.sleep(Duration::from_secs(2_000)).await?;
            sleeper.progress("a record reached its handler");
            Ok(())
        });
        wait_forever_on_a_request(&rt).await;
    });
    assert_eq!(result.outcome, Outcome::QuietWindowElapsed);
    assert!(result.elapsed >= Duration::from_secs(2_000));
    assert_eq!(result.progress.marks, 0, "{:?}", result.progress);
}

/// A slow run that keeps progressing (one record every 400 ms, a window of 1 s) is never
/// stopped by its quiet window: it is a timeout, stopped at its first progress after the
/// deadline, with its progress counted.
#[test]
fn a_run_still_progressing_at_its_deadline_is_a_timeout() {
    let config = RunConfig::new(5)
        // Not a multiple of 400 ms: madsim's clock gains a few nanoseconds per task run.
        .with_deadline(Duration::from_millis(8_200))
        .with_quiet_window(Duration::from_secs(1));
    let result = run(&config, |rt| async move {
        let call = rt.obligation(ObligationKind::UserCall, "consume_with:topic0");
        for _ in 0..1_000 {
            rt.sleep(Duration::from_millis(400)).await.unwrap();
            rt.progress("a record reached its handler");
        }
        call.close();
    });
    assert_eq!(
        result.outcome,
        Outcome::DeadlineReached,
        "{}",
        result.report()
    );
    assert!(result.timed_out() && !result.is_hang());
    assert_eq!(result.progress.marks, 21);
    assert!(
        result.elapsed >= Duration::from_millis(8_400)
            && result.elapsed < Duration::from_millis(8_401),
        "stopped at {:?}",
        result.elapsed
    );
}

/// A run that went quiet shortly before its deadline is not cut short by it: the deadline
/// starts a grace that ends with the quiet window since the last progress, and the run is a
/// hang (here: progress until 9 s, a deadline at 10 s, a window of 5 s: stuck at 14 s).
#[test]
fn a_hang_whose_quiet_window_ends_after_the_deadline_is_a_hang() {
    let config = RunConfig::new(7)
        .with_deadline(Duration::from_secs(10))
        .with_quiet_window(Duration::from_secs(5));
    let result = run(&config, |rt| async move {
        fork_ticker(&rt, Duration::from_millis(700), false);
        for _ in 0..9 {
            rt.sleep(Duration::from_secs(1)).await.unwrap();
            rt.progress("a record reached its handler");
        }
        wait_forever_on_a_request(&rt).await;
    });
    assert_eq!(
        result.outcome,
        Outcome::QuietWindowElapsed,
        "{}",
        result.report()
    );
    assert!(result.is_hang() && !result.timed_out());
    assert_eq!(result.progress.marks, 9);
    assert!(
        result.elapsed >= Duration::from_secs(14) && result.elapsed < Duration::from_millis(14_701),
        "stopped at {:?}",
        result.elapsed
    );
}

/// The grace after the deadline ends at the first progress: a run that was quiet for a while
/// before its deadline (longer than nothing, shorter than its window) and then progresses
/// again is a timeout, stopped at that progress.
#[test]
fn progress_during_the_grace_is_a_timeout() {
    let config = RunConfig::new(8)
        .with_deadline(Duration::from_secs(10))
        .with_quiet_window(Duration::from_secs(5));
    let result = run(&config, |rt| async move {
        let call = rt.obligation(ObligationKind::UserCall, "consume_with:topic0");
        for _ in 0..3 {
            rt.sleep(Duration::from_secs(3)).await.unwrap();
            rt.progress("a record reached its handler");
        }
        // Quiet across the deadline, then progress 4 s later, within the window.
        rt.sleep(Duration::from_secs(4)).await.unwrap();
        rt.progress("a commit completed");
        rt.sleep(Duration::from_secs(100)).await.unwrap();
        call.close();
    });
    assert_eq!(
        result.outcome,
        Outcome::DeadlineReached,
        "{}",
        result.report()
    );
    assert!(result.timed_out());
    assert_eq!(result.progress.last, "a commit completed");
    assert!(
        result.elapsed >= Duration::from_secs(13) && result.elapsed < Duration::from_millis(13_001),
        "stopped at {:?}",
        result.elapsed
    );
}

/// Closing an obligation, ending a fiber and completing a promise are progress too; waiting,
/// ticking and a promise completed a second time are not.
#[test]
fn progress_is_what_answers_somebody() {
    let config = RunConfig::new(6).with_deadline(Duration::from_secs(5));
    let result = run(&config, |rt| async move {
        let reply: Promise<(), ()> = Promise::new(&rt, "promise:reply");
        let call = rt.obligation(ObligationKind::Request, "Commit#1");
        rt.sleep(Duration::from_millis(10)).await.unwrap();
        assert!(reply.complete_now(Ok(())));
        assert!(!reply.complete_now(Ok(())));
        call.close();
        let child = rt.fork::<(), (), _>("child", async { Ok(()) });
        let _ = child.join().await;
    });
    assert_eq!(result.outcome, Outcome::Completed);
    // The promise, the obligation, the child and the root: four marks.
    assert_eq!(result.progress.marks, 4, "{:?}", result.progress);
}
