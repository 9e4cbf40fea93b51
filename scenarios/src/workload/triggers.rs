//! The trigger board: events waiting for a named event of the run (`after = "..."`), and the
//! workload's reports of what happened.

use std::cell::RefCell;
use std::rc::Rc;

use consumer::rt::{Promise, Rt};

use crate::scenario::spec::ScenarioFile;
use crate::scenario::trigger::{Trigger, TriggerKind};

/// Something that happened in a run, as triggers name it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Happened {
    RebalanceStarted,
    PartitionsAssigned,
    PartitionsRevoked,
    PartitionsLost,
    RunloopCrashed,
    CommandOffered(&'static str),
    /// One more record reached a handler.
    RecordProcessed,
}

/// One awaited trigger: the promise its event's fiber waits on.
struct Waiting {
    trigger: Trigger,
    fired: Promise<(), ()>,
}

/// Every trigger of a run's events, each fired at most once. Cloning shares it.
#[derive(Clone)]
pub struct Board {
    waiting: Rc<RefCell<Vec<Waiting>>>,
    /// Records processed, by every consumer and per consumer (in the file's order).
    processed: Rc<RefCell<(u64, Vec<u64>)>>,
    consumers: Rc<Vec<String>>,
}

impl Board {
    /// A board with one entry per event of `file` that has a trigger, in event order.
    pub fn new(rt: &Rt, file: &ScenarioFile) -> Board {
        let waiting = file
            .events
            .iter()
            .filter_map(|event| event.after.as_deref())
            .map(|after| Waiting {
                trigger: Trigger::parse(after).expect("triggers are checked when a file is read"),
                fired: Promise::new(rt, format!("trigger:{after}")),
            })
            .collect();
        Board {
            waiting: Rc::new(RefCell::new(waiting)),
            processed: Rc::new(RefCell::new((0, vec![0; file.consumers.len()]))),
            consumers: Rc::new(file.consumers.iter().map(|c| c.name.clone()).collect()),
        }
    }

    /// The promise of the `index`-th triggered event (in event order).
    pub fn promise(&self, index: usize) -> Promise<(), ()> {
        self.waiting.borrow()[index].fired.clone()
    }

    /// Reports that `what` happened at consumer `consumer` (its index in the file); fires every
    /// trigger it matches.
    pub fn report(&self, consumer: usize, what: Happened) {
        let (total, own) = {
            let mut processed = self.processed.borrow_mut();
            if what == Happened::RecordProcessed {
                processed.0 += 1;
                processed.1[consumer] += 1;
            }
            (processed.0, processed.1[consumer])
        };
        let name = &self.consumers[consumer];
        for waiting in self.waiting.borrow().iter() {
            if waiting.fired.is_done_now() {
                continue;
            }
            let trigger = &waiting.trigger;
            if trigger
                .consumer
                .as_ref()
                .is_some_and(|target| target != name)
            {
                continue;
            }
            let count = if trigger.consumer.is_some() {
                own
            } else {
                total
            };
            let matches = match (&trigger.kind, &what) {
                (TriggerKind::RebalanceStarted, Happened::RebalanceStarted)
                | (TriggerKind::PartitionsAssigned, Happened::PartitionsAssigned)
                | (TriggerKind::PartitionsRevoked, Happened::PartitionsRevoked)
                | (TriggerKind::PartitionsLost, Happened::PartitionsLost)
                | (TriggerKind::RunloopCrashed, Happened::RunloopCrashed) => true,
                (TriggerKind::CommandOffered(wanted), Happened::CommandOffered(offered)) => {
                    wanted == offered
                }
                (TriggerKind::RecordsProcessed(wanted), Happened::RecordProcessed) => {
                    count >= *wanted
                }
                _ => false,
            };
            if matches {
                waiting.fired.complete_now(Ok(()));
            }
        }
    }
}
