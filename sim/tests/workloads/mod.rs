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
