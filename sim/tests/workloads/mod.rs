//! Workloads the strategy and schedule tests share.

use consumer::rt::{Promise, Queue, Rt};

/// A busy workload: producers and consumers on a queue, a promise, random sleeps; enough
/// scheduling points and blocked fibers that every strategy has choices to make.
pub async fn busy_workload(rt: Rt) {
    let queue: Queue<u64> = Queue::new(&rt, "work_queue");
    let done: Promise<(), ()> = Promise::new(&rt, "promise:done");
    let mut workers = Vec::new();
    for worker in 0..3 {
        let (rt2, queue2) = (rt.clone(), queue.clone());
        workers.push(
            rt.fork::<u64, (), _>(format!("consumer{worker}"), async move {
                let mut sum = 0;
                while let Ok(item) = queue2.take().await {
                    sum += item;
                    if rt2.random_below(2) == 0 {
                        rt2.yield_now().await?;
                    }
                }
                Ok(sum)
            }),
        );
    }
    for item in 0..30 {
        queue.offer(item).await.expect("the queue is open");
        if rt.random_below(4) == 0 {
            rt.sleep(std::time::Duration::from_micros(rt.random_below(300)))
                .await
                .expect("the root is not interrupted");
        }
    }
    rt.sleep(std::time::Duration::from_millis(1))
        .await
        .expect("the root is not interrupted");
    queue.shutdown().await.expect("the root is not interrupted");
    for worker in workers {
        let _ = worker.join().await;
    }
    done.succeed(()).await.expect("the root is not interrupted");
}

/// The micro-model of the check-offer-drain race (the `CheckThenOffer` shape of the shutdown
/// protocols), reduced to two fibers and one command queue, beside `bystanders` fibers that only yield
/// (they have nothing to do with the race and make the schedule long):
/// - `runloop` serves `served_before_crash` commands (takes each and answers it), then crashes:
///   it completes `promise:runloop_done`, drains the queue with `take_all`, and answers every
///   drained command with a failure;
/// - `caller` checks `promise:runloop_done` (`is_done`), and if the runloop is not done offers
///   its command and waits for the answer.
///
/// The commands the runloop serves were offered before either fiber started, by callers the
/// model leaves out. The bug: the caller's check sees "not done", the crash and drain happen,
/// and only then is the command offered; nobody will ever answer it, and the run ends blocked
/// forever (a hang).
pub async fn check_offer_drain_micro_model(rt: Rt, served_before_crash: usize, bystanders: usize) {
    let commands: Queue<Promise<(), ()>> = Queue::new(&rt, "command_queue");
    let runloop_done: Promise<(), ()> = Promise::new(&rt, "promise:runloop_done");
    for earlier in 0..served_before_crash {
        let reply = Promise::new(&rt, format!("promise:reply#{earlier}"));
        commands.offer(reply).await.expect("the queue is open");
    }
    let bystanders: Vec<_> = (0..bystanders)
        .map(|bystander| {
            let rt2 = rt.clone();
            rt.fork::<(), (), _>(format!("bystander{bystander}"), async move {
                for _ in 0..6 {
                    rt2.yield_now().await?;
                }
                Ok(())
            })
        })
        .collect();
    let runloop = {
        let (commands, runloop_done) = (commands.clone(), runloop_done.clone());
        rt.fork::<(), (), _>("runloop", async move {
            for _ in 0..served_before_crash {
                let command = commands.take().await.expect("the queue is open");
                command.succeed(()).await?;
            }
            runloop_done.succeed(()).await?;
            let drained = commands.take_all().await.expect("the queue is open");
            for command in drained {
                command.fail(()).await?;
            }
            Ok(())
        })
    };
    let caller = {
        let rt2 = rt.clone();
        rt.fork::<(), (), _>("caller", async move {
            if runloop_done.is_done().await? {
                return Ok(());
            }
            let reply = Promise::new(&rt2, "promise:reply#caller");
            commands
                .offer(reply.clone())
                .await
                .expect("the queue is open");
            // Success or failure, an answer ends the call; only no answer at all is the bug.
            let _ = reply.wait().await;
            Ok(())
        })
    };
    for bystander in bystanders {
        let _ = bystander.join().await;
    }
    let _ = caller.join().await;
    let _ = runloop.join().await;
}
