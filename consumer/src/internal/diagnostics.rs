//! Diagnostic events (zio-kafka's `DiagnosticEvent`), recorded with their virtual time. Tests
//! and invariants read them; emitting one is not a scheduling point (zio-kafka's diagnostics
//! queue is not where its races are).

use std::cell::RefCell;
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use crate::kafka::TopicPartition;
use crate::rt::{ExitKind, Rt};

/// One diagnostic event.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiagnosticEvent {
    /// A poll returned: which partitions were requested, which returned records.
    Poll {
        requested: BTreeSet<TopicPartition>,
        with_records: BTreeSet<TopicPartition>,
    },
    /// A partition stream asked for data.
    Request(TopicPartition),
    /// The rebalance callbacks of one poll, accumulated (`RebalanceCallback.append`).
    Rebalance {
        revoked: BTreeSet<TopicPartition>,
        assigned: BTreeSet<TopicPartition>,
        lost: BTreeSet<TopicPartition>,
        ended: BTreeSet<TopicPartition>,
    },
    /// A commit was sent (`commitAsync`) for these offsets.
    CommitStarted {
        partitions: BTreeSet<TopicPartition>,
    },
    /// The runloop ended: how, and the cause's text.
    RunloopExited {
        exit: ExitKind,
        cause: Option<String>,
    },
    /// A `consume_with`'s processing ended (before its subscription's finalizers run), with
    /// how; `topics` names its subscription. Not in zio-kafka: invariants need the moment.
    ConsumptionEnded { topics: Vec<String>, exit: ExitKind },
    /// A subscription's finalizer ran.
    SubscriptionFinalized,
    /// The runloop's finalizers ran.
    RunloopFinalized,
    /// The consumer's scope closed.
    ConsumerFinalized,
}

/// Called with every event as it is emitted.
pub type DiagnosticListener = Rc<dyn Fn(Duration, &DiagnosticEvent)>;

/// A sink of diagnostic events. Cloning shares it.
#[derive(Clone)]
pub struct Diagnostics {
    rt: Rt,
    events: Rc<RefCell<Vec<(Duration, DiagnosticEvent)>>>,
    listener: Option<DiagnosticListener>,
    /// Told the name of every command offered to the runloop. Not one of zio-kafka's
    /// diagnostic events: scenario triggers (`command-offered:<Kind>`) need the moment.
    command_listener: Option<CommandListener>,
}

/// Called with the name of every command offered to the runloop, as it is offered.
pub type CommandListener = Rc<dyn Fn(&'static str)>;

impl Diagnostics {
    /// An empty recorder.
    pub fn new(rt: &Rt) -> Diagnostics {
        Diagnostics {
            rt: rt.clone(),
            events: Rc::new(RefCell::new(Vec::new())),
            listener: None,
            command_listener: None,
        }
    }

    /// An empty recorder that also tells `listener` of each event as it happens (so that what a
    /// run that never ends saw is not lost with it).
    pub fn with_listener(rt: &Rt, listener: DiagnosticListener) -> Diagnostics {
        Diagnostics {
            listener: Some(listener),
            ..Diagnostics::new(rt)
        }
    }

    /// This recorder, also telling `listener` of every command offered to the runloop.
    pub fn with_command_listener(mut self, listener: CommandListener) -> Diagnostics {
        self.command_listener = Some(listener);
        self
    }

    /// Tells the command listener, if any, that a command named `name` is being offered.
    pub fn command_offered(&self, name: &'static str) {
        if let Some(listener) = &self.command_listener {
            listener(name);
        }
    }

    /// Records an event at the current virtual time.
    pub fn emit(&self, event: DiagnosticEvent) {
        let now = self.rt.now();
        if let Some(listener) = &self.listener {
            listener(now, &event);
        }
        self.events.borrow_mut().push((now, event));
    }

    /// Every event so far, with its time.
    pub fn events(&self) -> Vec<(Duration, DiagnosticEvent)> {
        self.events.borrow().clone()
    }

    /// The finalization events so far, in order (the finalizer-order invariant reads these).
    pub fn finalizations(&self) -> Vec<DiagnosticEvent> {
        self.events
            .borrow()
            .iter()
            .map(|(_, event)| event)
            .filter(|event| {
                matches!(
                    event,
                    DiagnosticEvent::SubscriptionFinalized
                        | DiagnosticEvent::RunloopFinalized
                        | DiagnosticEvent::ConsumerFinalized
                )
            })
            .cloned()
            .collect()
    }
}
