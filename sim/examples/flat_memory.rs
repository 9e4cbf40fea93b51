//! Memory stays flat over many hanging runs: 100,000 seeds of a workload whose every run hangs
//! (a fiber awaits a promise nobody completes while a periodic timer keeps the simulation busy
//! until the deadline). madsim leaks the tasks still pending when `block_on` returns (madsim
//! issue #242); the simulated runtime must not.
//!
//! Run: `cargo run --release -p sim --example flat_memory`. The last line is
//! `rss_kib_after_1000=<n> rss_kib_after_100000=<m> seeds_per_s=<r>`; m - n must stay under
//! 65,536 KiB.

use std::time::{Duration, Instant};

use consumer::rt::{Promise, Rt};
use sim::{run, Outcome, RunConfig};

const SEEDS: u64 = 100_000;

async fn hanging_workload(rt: Rt) {
    let ticker = rt.clone();
    rt.fork_daemon::<(), (), _>("metrics", async move {
        loop {
            ticker.sleep(Duration::from_millis(100)).await?;
        }
    });
    let call = rt.obligation(
        consumer::rt::ObligationKind::Request,
        "RemoveSubscription#1",
    );
    let reply: Promise<(), ()> = Promise::new(&rt, "promise:RemoveSubscription#1");
    let _ = reply.wait().await;
    call.close();
}

fn main() {
    let started = Instant::now();
    let mut rss_after_1000 = 0;
    for seed in 0..SEEDS {
        let config = RunConfig::new(seed).with_deadline(Duration::from_secs(2));
        let result = run(&config, hanging_workload);
        assert_eq!(
            result.outcome,
            Outcome::DeadlineReached,
            "seed {seed}: every run must hang"
        );
        assert_eq!(
            result.liveness.open_obligations.len(),
            1,
            "seed {seed}: one open request"
        );
        let done = seed + 1;
        if done == 1_000 {
            rss_after_1000 = sim::memory::resident_kib().unwrap_or(0);
        }
        if done % 20_000 == 0 {
            eprintln!(
                "{done} seeds, rss {} KiB",
                sim::memory::resident_kib().unwrap_or(0)
            );
        }
    }
    let rss_after_all = sim::memory::resident_kib().unwrap_or(0);
    let seeds_per_s = SEEDS as f64 / started.elapsed().as_secs_f64();
    println!("rss_kib_after_1000={rss_after_1000} rss_kib_after_100000={rss_after_all} seeds_per_s={seeds_per_s:.0}");
}
