//! The group-managed client's membership: what a client subscribed to topics or a pattern does
//! inside its polls, as Kafka's consumer coordinator does.
//!
//! Each poll round asks the [`Group`](super::super::coordinator::Group) what the client must do
//! next and does it, in Kafka's order and with the listener's callbacks: join (after an
//! expulsion, first report the old partitions lost), rejoin a rebalance (the eager protocol
//! revokes everything first), apply a completed rebalance's assignment (the cooperative protocol
//! revokes what moves away, then the assignment changes, then assigned), until nothing is left.
//! The poll timer (`max.poll.interval`) runs while the client is outside `poll`.

use std::collections::BTreeSet;

use consumer::kafka::{KafkaError, TopicPartition};

use super::super::coordinator::{ClientDuty, MemberKind};
use super::super::faults::ClientCall;
use super::{invalid_group_id, FakeConsumer};

/// Group duties one poll round performs at most (join, revoke, apply, follow-up rebalances).
const MAX_DUTIES_PER_ROUND: usize = 32;

impl FakeConsumer {
    /// Marks the client's member as polling or not, for `max.poll.interval`.
    pub(super) fn mark_polling(&self, polling: bool) {
        let (Some(group), Some(member)) = (self.group_id(), self.state.borrow().member.clone())
        else {
            return;
        };
        self.cluster
            .with_group(group, self.config.protocol, |group, now, _| {
                if let Some(record) = group.members.get_mut(&member) {
                    record.in_poll = polling;
                    record.last_poll = now;
                }
            });
    }

    /// Performs the group duties due now, with their callbacks, until none is left.
    pub(super) async fn group_duties(
        &self,
        first_error: &mut Option<KafkaError>,
    ) -> Result<(), KafkaError> {
        let Some(group) = self.group_id().map(str::to_string) else {
            return Err(invalid_group_id());
        };
        let protocol = self.config.protocol;
        for _ in 0..MAX_DUTIES_PER_ROUND {
            let member = self.state.borrow().member.clone();
            // A pattern may match new topics, a subscription may have changed.
            if let (Some(member), Some(subscription)) =
                (&member, self.state.borrow().subscription.clone())
            {
                let topics = self.cluster.resolve_topics(&subscription);
                self.cluster
                    .with_group(&group, protocol, |group, now, partitions| {
                        group.set_member_topics(member, topics, now, partitions)
                    });
            }
            let duty = self.cluster.group_duty(&group, member.as_deref());
            match duty {
                ClientDuty::Nothing => return Ok(()),
                ClientDuty::Join => {
                    if member.is_some() {
                        // Expelled: the partitions are lost, not revoked.
                        let lost = self.assignment_now();
                        if !lost.is_empty() {
                            let listener = self.listener();
                            self.callback(
                                ClientCall::OnLost,
                                listener.on_lost(self, lost),
                                first_error,
                            )
                            .await;
                        }
                        self.set_assignment(BTreeSet::new());
                        let mut state = self.state.borrow_mut();
                        state.member = None;
                        state.generation = -1;
                    }
                    let Some(subscription) = self.state.borrow().subscription.clone() else {
                        return Ok(());
                    };
                    let topics = self.cluster.resolve_topics(&subscription);
                    let (id, interval) = (self.id, self.config.max_poll_interval);
                    let member = self
                        .cluster
                        .with_group(&group, protocol, |group, now, parts| {
                            let member = group.add_member(
                                MemberKind::Client(id),
                                topics,
                                Some(interval),
                                now,
                                parts,
                            );
                            if let Some(record) = group.members.get_mut(&member) {
                                record.in_poll = true;
                            }
                            member
                        });
                    self.state.borrow_mut().member = Some(member);
                    self.cluster.ring_all();
                }
                ClientDuty::Rejoin { revoke_all } => {
                    let member = member.expect("a rejoin duty has a member");
                    if revoke_all {
                        // Eager: everything is revoked before rejoining, even nothing.
                        let revoked = self.assignment_now();
                        let listener = self.listener();
                        self.callback(
                            ClientCall::OnRevoked,
                            listener.on_revoked(self, revoked),
                            first_error,
                        )
                        .await;
                        self.set_assignment(BTreeSet::new());
                    }
                    self.cluster
                        .with_group(&group, protocol, |group, now, parts| {
                            group.rejoined(&member, now, parts)
                        });
                }
                ClientDuty::Apply {
                    generation,
                    assignment,
                } => {
                    let member = member.expect("an apply duty has a member");
                    let before = self.assignment_now();
                    let revoked: BTreeSet<TopicPartition> =
                        before.difference(&assignment).cloned().collect();
                    let added: BTreeSet<TopicPartition> =
                        assignment.difference(&before).cloned().collect();
                    let listener = self.listener();
                    // The client is in the new generation from here on, as Java's client is
                    // once its SyncGroup succeeded, before `onJoinComplete` runs the callbacks:
                    // a commit from `on_revoked` (rebalance-safe commits) is accepted.
                    self.state.borrow_mut().generation = generation;
                    self.cluster.with_group(&group, protocol, |group, _, _| {
                        group.enter_generation(&member, generation)
                    });
                    if !revoked.is_empty() {
                        // Cooperative: only what moves away (eager revoked all when rejoining).
                        self.callback(
                            ClientCall::OnRevoked,
                            listener.on_revoked(self, revoked),
                            first_error,
                        )
                        .await;
                    }
                    self.set_assignment(assignment.clone());
                    self.state.borrow_mut().generation = generation;
                    self.cluster
                        .with_group(&group, protocol, |group, now, parts| {
                            group.applied(&member, generation, assignment, now, parts)
                        });
                    self.callback(
                        ClientCall::OnAssigned,
                        listener.on_assigned(self, added),
                        first_error,
                    )
                    .await;
                    self.cluster.ring_all();
                }
            }
        }
        Ok(())
    }
}
