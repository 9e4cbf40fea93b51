//! `hangsim demo`: zio-kafka's hang in miniature, on the real runtime layer and simulator.
//!
//! A runloop fiber serves a command queue and keeps itself polling with a self-offered `Poll`
//! command. At a random virtual time its poll fails (an authorization failure that exhausted its
//! retries) and the runloop dies. At another random time the user ends its subscription: the
//! subscription scope closes, and its finalizer, uninterruptible like every finalizer, sends
//! `RemoveSubscription` the way zio-kafka's `Master` protocol did: offer the command with a
//! reply promise, then wait on the promise. When the runloop died first, nobody will ever
//! complete that promise.

use std::cell::RefCell;
use std::process::ExitCode;
use std::rc::Rc;
use std::time::Duration;

use clap::Args;
use consumer::internal::labels::{promise_label, COMMAND_QUEUE};
use consumer::rt::{Cause, ObligationKind, Promise, Queue, Rt};
use sim::trace::format_virtual_time;
use sim::{run, RunConfig, RunResult};

use crate::output::say;

/// What `hangsim demo` takes.
#[derive(Args, Clone, Debug)]
pub struct DemoArgs {
    /// The first seed to run.
    #[arg(long, default_value_t = 0)]
    pub seed: u64,
    /// How many seeds to run, from `--seed` on (the last must be at most 2^64-1).
    #[arg(long, default_value_t = 1_000, value_parser = clap::value_parser!(u64).range(1..=10_000_000))]
    pub seeds: u64,
    /// Print every event of the first hanging run, stamped with virtual time.
    #[arg(long)]
    pub trace: bool,
}

const POLL_TIMEOUT: Duration = Duration::from_millis(5);

enum Command {
    Poll,
    Request { reply: Promise<(), String> },
}

/// What the workload tells the report about itself, beyond the runtime's events.
#[derive(Clone, Default)]
struct Story {
    crash_at: Option<Duration>,
    stop_at: Option<Duration>,
}

/// Offers a command with a reply promise and waits for the reply (zio-kafka's `Master`).
async fn offer_and_await(rt: &Rt, queue: &Queue<Command>, name: &str) -> Result<(), Cause<String>> {
    let call = rt.obligation(ObligationKind::Request, name);
    let reply = Promise::new(rt, promise_label(name));
    queue
        .offer(Command::Request {
            reply: reply.clone(),
        })
        .await
        .map_err(|_| Cause::Fail("command queue shut down".to_string()))?;
    let answer = reply.wait().await;
    call.close();
    answer
}

async fn runloop(rt: Rt, queue: Queue<Command>, crash_at: Duration) -> Result<(), Cause<String>> {
    // A runloop lives until it crashes or is interrupted; the bound is far beyond any demo run.
    for _chunk in 0..1_000_000 {
        let commands = queue
            .take_chunk(64)
            .await
            .map_err(|_| Cause::Fail("queue shut down".to_string()))?;
        for command in commands {
            match command {
                Command::Poll => {
                    rt.sleep(POLL_TIMEOUT).await?;
                    if rt.now() >= crash_at {
                        return Err(Cause::Fail(
                            "TopicAuthorizationException: READ denied on `orders`".into(),
                        ));
                    }
                    let _ = queue.offer(Command::Poll).await;
                }
                Command::Request { reply } => {
                    reply.succeed(()).await?;
                }
            }
        }
    }
    Ok(())
}

async fn workload(rt: Rt, story: Rc<RefCell<Story>>) {
    let queue: Queue<Command> = Queue::new(&rt, COMMAND_QUEUE);
    let crash_at = Duration::from_micros(rt.random_below(20_000));
    let stop_at = Duration::from_micros(rt.random_below(20_000));
    *story.borrow_mut() = Story {
        crash_at: Some(crash_at),
        stop_at: Some(stop_at),
    };
    let runloop_fiber = rt.fork("runloop", runloop(rt.clone(), queue.clone(), crash_at));
    queue
        .offer(Command::Poll)
        .await
        .expect("a new queue is open");
    let _ = rt
        .scoped::<(), String, _, _>("subscription_scope", |scope| {
            let (rt, queue) = (rt.clone(), queue.clone());
            async move {
                let (frt, fqueue) = (rt.clone(), queue.clone());
                scope
                    .add_finalizer("remove_subscription", move |_exit| async move {
                        let _ = offer_and_await(&frt, &fqueue, "RemoveSubscription#1").await;
                        Ok(())
                    })
                    .await?;
                rt.sleep(stop_at).await?;
                Ok(())
            }
        })
        .await;
    // The consumer scope: stop the runloop and shut the queue down.
    let _ = runloop_fiber.interrupt().await;
    let _ = queue.shutdown().await;
}

fn explain(result: &RunResult, story: &Story) -> String {
    let mut out = format!("seed {}: HANG\n", result.seed);
    if let (Some(crash), Some(stop)) = (story.crash_at, story.stop_at) {
        out.push_str(&format!(
            "the runloop's poll fails at its first poll after {}; the user ends its subscription at {}\n",
            format_virtual_time(crash),
            format_virtual_time(stop)
        ));
    }
    out.push_str(&result.report());
    let runloop_end = result.liveness.ended_fiber("runloop");
    let offered = result
        .liveness
        .open_obligations
        .first()
        .map(|call| call.opened_at);
    let why = match (runloop_end, offered) {
        (Some(end), Some(offered)) if offered >= end.at => format!(
            "RemoveSubscription was offered at {}, after the runloop ended with a {} at {}",
            format_virtual_time(offered),
            end.exit,
            format_virtual_time(end.at)
        ),
        (Some(end), Some(offered)) => format!(
            "RemoveSubscription was offered at {} while the runloop was polling; the poll failed and \
             the runloop ended with a {} at {} without taking it",
            format_virtual_time(offered),
            end.exit,
            format_virtual_time(end.at)
        ),
        _ => "a request was never answered".to_string(),
    };
    out.push_str(&format!(
        "why: {why}; nothing takes from command_queue any more, and the finalizer waits \
         uninterruptibly on its promise, so nothing can stop it\n"
    ));
    out
}

/// Runs seeds `first..first + count`; prints the first hang's report and a summary.
pub fn run_demo(demo_args: DemoArgs) -> ExitCode {
    let DemoArgs {
        seed: first,
        seeds: count,
        trace,
    } = demo_args;
    let Some(last) = first.checked_add(count - 1) else {
        return crate::bad_input(&format!(
            "--seed {first} with --seeds {count} runs past the last seed, 2^64-1: at most {} seeds \
             start at {first}",
            u64::MAX - first + 1
        ));
    };
    sim::quiet_simulation_panics();
    let mut hangs = 0u64;
    let mut first_hang: Option<u64> = None;
    for seed in first..=last {
        let story = Rc::new(RefCell::new(Story::default()));
        let story_in = story.clone();
        let config = RunConfig::new(seed).with_deadline(Duration::from_secs(60));
        let result = run(&config, move |rt| workload(rt, story_in));
        if result.is_hang() || !result.panics.is_empty() {
            hangs += 1;
            if first_hang.is_none() {
                first_hang = Some(seed);
                let story = story.borrow().clone();
                let mut text = explain(&result, &story);
                if trace {
                    let story_in = Rc::new(RefCell::new(Story::default()));
                    let recorded = run(&config.clone().recording(), move |rt| {
                        workload(rt, story_in)
                    });
                    for event in recorded.events.unwrap_or_default() {
                        text.push_str(&format!("{event}\n"));
                    }
                }
                say(&text);
            }
        }
    }
    say(&format!(
        "ran {count} seeds from {first}: {hangs} hung{}\n",
        first_hang.map_or(String::new(), |seed| format!(" (first: seed {seed})"))
    ));
    if hangs > 0 {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}
