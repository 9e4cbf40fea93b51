//! Ctrl-C for real runs: the first SIGINT sets a flag that the running run's watchdog reads
//! (the run then ends, its consumer closed within the bounds of [`crate::client`]), and no
//! further run starts.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};

static STOP: OnceLock<Arc<AtomicBool>> = OnceLock::new();

/// The process's stop flag, set by SIGINT once this has been called.
pub fn stop_on_ctrl_c() -> Arc<AtomicBool> {
    STOP.get_or_init(|| {
        let flag = Arc::new(AtomicBool::new(false));
        let set = flag.clone();
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe {
            signal_hook_registry::register(libc::SIGINT, move || set.store(true, Ordering::Relaxed))
        };
        flag
    })
    .clone()
}
