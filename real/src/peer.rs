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
        let consumer = LeaveOnDrop(Some(consumer));
        tokio::task::spawn_local(async move {
            // Bounded: a peer left behind by an abandoned run stops after ten minutes.
            for _ in 0..60_000 {
                if stop.load(Ordering::Relaxed) {
                    break;
                }
                if let Some(peer) = &consumer.0 {
                    // Records are read and dropped; the peer only takes part in the group.
                    while let Some(_message) = peer.poll(Duration::ZERO) {}
                }
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            drop(consumer);
        });
        Ok(Peer { leave })
    }
}

/// Leaving the group (librdkafka's close and destroy) blocks, possibly for ever (reference
/// notes, 2.5): it runs on a thread of its own, left behind if it never ends. Also when the
/// poller task is dropped with its run.
struct LeaveOnDrop(Option<BaseConsumer>);

impl Drop for LeaveOnDrop {
    fn drop(&mut self) {
        if let Some(consumer) = self.0.take() {
            let _ = std::thread::Builder::new()
                .name("peer-leave".into())
                .spawn(move || drop(consumer));
        }
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.leave.store(true, Ordering::Relaxed);
    }
}
