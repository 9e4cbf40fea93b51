//! The scripted client: Kafka's `MockConsumer`, for ports of zio-kafka's specs that drive the
//! client by hand ([`AssignmentSource::Scripted`](super::AssignmentSource::Scripted)).
//!
//! What it models of `MockConsumer`: each poll first runs one scheduled task (its rebalances
//! run in that poll), then throws a pending wakeup, then a poll exception set with
//! `setPollException` (once); `rebalance(partitions)` replaces the assignment with the
//! listener's callbacks; records are added to a partition directly; end offsets can be set by
//! hand. A scripted client joins no group: its assignment changes only by script.

use std::collections::{BTreeMap, BTreeSet, VecDeque};

use consumer::kafka::{KafkaError, Offset, TopicPartition};

use super::super::faults::ClientCall;
use super::FakeConsumer;

/// Scripted rebalances one poll performs at most.
const MAX_SCRIPTED_REBALANCES: usize = 64;

/// A step of a scripted rebalance.
pub(super) enum ScriptedRebalance {
    /// `MockConsumer.rebalance(partitions)`.
    Assign(BTreeSet<TopicPartition>),
    /// A direct call of the listener's `on_lost`, as zio-kafka's RunloopSpec makes.
    Lost(BTreeSet<TopicPartition>),
}

/// A task run at the start of a poll (MockConsumer's `schedulePollTask`).
type PollTask = Box<dyn FnOnce(&FakeConsumer)>;

/// What a script has queued for the client.
#[derive(Default)]
pub(super) struct ScriptState {
    pub(super) poll_tasks: VecDeque<PollTask>,
    pub(super) poll_exception: Option<KafkaError>,
    pub(super) rebalances: VecDeque<ScriptedRebalance>,
    /// End offsets set by hand, over the logs' own ends.
    pub(super) end_offsets: BTreeMap<TopicPartition, Offset>,
}

impl ScriptState {
    /// Forgets the tasks and rebalances not run yet (the client closed).
    pub(super) fn clear_pending(&mut self) {
        self.poll_tasks.clear();
        self.rebalances.clear();
    }
}

impl FakeConsumer {
    /// Runs `task` at the start of a later poll, one task per poll, in order
    /// (`MockConsumer.schedulePollTask`).
    pub fn schedule_poll_task(&self, task: impl FnOnce(&FakeConsumer) + 'static) {
        self.state
            .borrow_mut()
            .script
            .poll_tasks
            .push_back(Box::new(task));
    }

    /// A poll task that does nothing (`MockConsumer.scheduleNopPollTask`).
    pub fn schedule_nop_poll_task(&self) {
        self.schedule_poll_task(|_| {});
    }

    /// Makes the next poll throw `error` once, after that poll's scheduled task has run
    /// (`MockConsumer.setPollException`); a task can set it for its own poll.
    pub fn set_poll_exception(&self, error: KafkaError) {
        self.state.borrow_mut().script.poll_exception = Some(error);
    }

    /// Replaces the assignment with `partitions` (`MockConsumer.rebalance`): within the current
    /// poll if called from a poll task, else in the next poll. The listener sees `on_revoked`
    /// for the partitions that go (if any), then the change, then `on_assigned` for those that
    /// come (always). Calls made in one task all run in that task's poll.
    pub fn rebalance(&self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let partitions = partitions.into_iter().collect();
        self.state
            .borrow_mut()
            .script
            .rebalances
            .push_back(ScriptedRebalance::Assign(partitions));
    }

    /// Calls the listener's `on_lost` with `partitions` in the current or next poll, without
    /// changing the assignment: what zio-kafka's RunloopSpec does with a captured listener.
    pub fn invoke_on_lost(&self, partitions: impl IntoIterator<Item = TopicPartition>) {
        let partitions = partitions.into_iter().collect();
        self.state
            .borrow_mut()
            .script
            .rebalances
            .push_back(ScriptedRebalance::Lost(partitions));
    }

    /// Appends a record to `partition` now, creating the topic if needed
    /// (`MockConsumer.addRecord`); returns its offset.
    pub fn add_record(&self, partition: &TopicPartition, key: &str, value: &str) -> Offset {
        self.cluster.ensure_partition(partition);
        self.cluster.produce(partition, key, value)
    }

    /// Sets the end offsets `end_offsets` reports and `Latest` resets use
    /// (`MockConsumer.updateEndOffsets`), over the logs' own ends.
    pub fn update_end_offsets(&self, offsets: impl IntoIterator<Item = (TopicPartition, Offset)>) {
        self.state.borrow_mut().script.end_offsets.extend(offsets);
    }

    /// Runs the next scheduled poll task, if any (the start of every poll).
    pub(super) fn run_next_poll_task(&self) {
        let task = self.state.borrow_mut().script.poll_tasks.pop_front();
        if let Some(task) = task {
            task(self);
        }
    }

    /// The poll exception set for this poll, cleared as it is thrown.
    pub(super) fn take_poll_exception(&self) -> Option<KafkaError> {
        self.state.borrow_mut().script.poll_exception.take()
    }

    /// Runs the scripted rebalances queued so far (MockConsumer parity).
    pub(super) async fn scripted_rebalances(&self, first_error: &mut Option<KafkaError>) {
        for _ in 0..MAX_SCRIPTED_REBALANCES {
            let Some(step) = self.state.borrow_mut().script.rebalances.pop_front() else {
                return;
            };
            let listener = self.listener();
            match step {
                ScriptedRebalance::Assign(assignment) => {
                    let before = self.assignment_now();
                    let revoked: BTreeSet<TopicPartition> =
                        before.difference(&assignment).cloned().collect();
                    let added: BTreeSet<TopicPartition> =
                        assignment.difference(&before).cloned().collect();
                    if !revoked.is_empty() {
                        self.callback(
                            ClientCall::OnRevoked,
                            listener.on_revoked(self, revoked),
                            first_error,
                        )
                        .await;
                    }
                    self.set_assignment(assignment);
                    self.callback(
                        ClientCall::OnAssigned,
                        listener.on_assigned(self, added),
                        first_error,
                    )
                    .await;
                }
                ScriptedRebalance::Lost(partitions) => {
                    self.callback(
                        ClientCall::OnLost,
                        listener.on_lost(self, partitions),
                        first_error,
                    )
                    .await;
                }
            }
        }
    }
}
