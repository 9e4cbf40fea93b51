//! A peer: a second real client in the group, so that a join or a leave makes the broker
//! rebalance. librdkafka assigns its partitions itself (the default rebalance handling); a
//! tokio task polls it until it leaves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use rdkafka::consumer::{BaseConsumer, Consumer};

use crate::client::consumer_config;

/// A member of the group until dropped; dropping it leaves the group (bounded).
pub struct Peer {
    leave: Arc<AtomicBool>,
}

impl Peer {
    /// Joins `group` on `bootstrap`, subscribed to `topics`. Must be called inside a
    /// `LocalSet` (its poller is a local task).
    pub fn join(bootstrap: &str, group: &str, topics: &[String]) -> Result<Peer, String> {
        let consumer: BaseConsumer = consumer_config(bootstrap, group)
            .create()
            .map_err(|error| format!("peer: {error}"))?;
        let names: Vec<&str> = topics.iter().map(String::as_str).collect();
        consumer
            .subscribe(&names)
            .map_err(|error| format!("peer: {error}"))?;
        let leave = Arc::new(AtomicBool::new(false));
        let stop = leave.clone();
        tokio::task::spawn_local(async move {
            // Bounded: a peer left behind by an abandoned run stops after ten minutes.
            for _ in 0..60_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                // Records are read and dropped; the peer only takes part in the group.
                while let Some(_message) = consumer.poll(Duration::ZERO) {}
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Leaving (librdkafka's close) blocks; it runs on a thread of its own, bounded.
            let (done, finished) = std::sync::mpsc::channel();
            let spawned = std::thread::Builder::new()
                .name("peer-leave".into())
                .spawn(move || {
                    drop(consumer);
                    let _ = done.send(());
                });
            if spawned.is_ok() {
                let _ = tokio::task::spawn_blocking(move || {
                    finished.recv_timeout(crate::client::DESTROY_BOUND)
                })
                .await;
            }
        });
        Ok(Peer { leave })
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.leave.store(true, Ordering::Relaxed);
    }
}
