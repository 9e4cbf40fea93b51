//! `RunloopCommand` (zio-kafka's `RunloopCommand.scala`): what callers put on the command queue.
//!
//! `Poll`, `CommitAvailable` and `StopRunloop` are control commands: they only wake the loop,
//! and the command handler never sees them. The others are stream commands, handled in order.
//! Commands with a reply carry a promise the caller waits on; the protocol decides how.

use std::fmt;

use super::error::ConsumerError;
use crate::kafka::{Subscription, TopicPartition};
use crate::rt::Promise;

/// The reply promise of a command.
pub type Reply = Promise<(), ConsumerError>;

/// One command for the runloop.
#[derive(Clone)]
pub enum RunloopCommand {
    /// Control: poll again (the runloop's self-clock).
    Poll,
    /// Control: the committer has commits queued.
    CommitAvailable,
    /// Control: stop the loop; the rest of its chunk is not handled.
    StopRunloop,
    /// End every stream, publish the end on the partitions hub, forget pending requests.
    StopAllStreams,
    /// A partition stream wants data.
    Request(TopicPartition),
    /// Add a subscription; the reply is completed before the client subscribes.
    AddSubscription {
        subscription: Subscription,
        reply: Reply,
    },
    /// Remove a subscription; the reply is completed even when the change fails.
    RemoveSubscription {
        subscription: Subscription,
        reply: Reply,
    },
    /// End the streams of a subscription (`StreamControl.end`).
    EndStreamsBySubscription {
        subscription: Subscription,
        reply: Reply,
    },
    /// Unsubscribe from everything (the runloop's `shutdown`).
    RemoveAllSubscriptions,
}

impl RunloopCommand {
    /// Whether this is a control command (`Poll`, `CommitAvailable`, `StopRunloop`).
    pub fn is_control(&self) -> bool {
        matches!(
            self,
            RunloopCommand::Poll | RunloopCommand::CommitAvailable | RunloopCommand::StopRunloop
        )
    }

    /// The reply promise, for commands that carry one.
    pub fn reply(&self) -> Option<&Reply> {
        match self {
            RunloopCommand::AddSubscription { reply, .. }
            | RunloopCommand::RemoveSubscription { reply, .. }
            | RunloopCommand::EndStreamsBySubscription { reply, .. } => Some(reply),
            _ => None,
        }
    }

    /// The command's name, as reports show it.
    pub fn name(&self) -> &'static str {
        match self {
            RunloopCommand::Poll => "Poll",
            RunloopCommand::CommitAvailable => "CommitAvailable",
            RunloopCommand::StopRunloop => "StopRunloop",
            RunloopCommand::StopAllStreams => "StopAllStreams",
            RunloopCommand::Request(_) => "Request",
            RunloopCommand::AddSubscription { .. } => "AddSubscription",
            RunloopCommand::RemoveSubscription { .. } => "RemoveSubscription",
            RunloopCommand::EndStreamsBySubscription { .. } => "EndStreamsBySubscription",
            RunloopCommand::RemoveAllSubscriptions => "RemoveAllSubscriptions",
        }
    }
}

impl fmt::Debug for RunloopCommand {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            RunloopCommand::Request(tp) => write!(f, "Request({tp})"),
            RunloopCommand::AddSubscription { subscription, .. }
            | RunloopCommand::RemoveSubscription { subscription, .. }
            | RunloopCommand::EndStreamsBySubscription { subscription, .. } => {
                write!(f, "{}({subscription:?})", self.name())
            }
            other => f.write_str(other.name()),
        }
    }
}
