//! What the runtime's semantic tests share: a log the workload writes and the test reads, and
//! the calm configuration they run under.

use std::cell::RefCell;
use std::rc::Rc;
use std::time::Duration;

use consumer::rt::Rt;
use sim::{RunConfig, StrategyChoice};

/// A log the workload writes to and the test reads: `(virtual millis, text)` lines.
#[derive(Clone, Default)]
pub struct Log(Rc<RefCell<Vec<(u128, String)>>>);

impl Log {
    pub fn write(&self, rt: &Rt, text: impl Into<String>) {
        self.0
            .borrow_mut()
            .push((rt.now().as_millis(), text.into()));
    }

    pub fn lines(&self) -> Vec<(u128, String)> {
        self.0.borrow().clone()
    }
}

/// A run of `seed` with no forced yield (the oldest ready fiber runs) and a 60 s deadline.
pub fn calm(seed: u64) -> RunConfig {
    RunConfig::new(seed)
        .with_strategy(StrategyChoice::Yields(0.0))
        .with_deadline(Duration::from_secs(60))
}
