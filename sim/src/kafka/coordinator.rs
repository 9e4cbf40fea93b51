//! The group coordinator: members, generations, rebalances and committed offsets of one
//! consumer group.
//!
//! What it models of Kafka's classic group protocol:
//! - a membership change (join, leave, expulsion, a member's topics changing) starts a
//!   rebalance; it completes (the "sync") once every member has rejoined. Simulated peers rejoin
//!   at once; a client rejoins inside its next poll, so a rebalance is in progress from the
//!   change until the clients have polled;
//! - generations: each completed rebalance is a new generation; a client applies the
//!   assignment of a generation inside a poll (that is where its callbacks run);
//! - eager protocol with the range assignor: every member gives up everything when it rejoins,
//!   then each topic's partitions are split in ranges over the members sorted by id;
//! - cooperative protocol with a cooperative-sticky assignor: members keep what they own as far
//!   as balance allows; a partition that moves is first revoked by its owner in one generation
//!   and assigned to its new owner in the next (a member that revoked something rejoins, which
//!   starts the follow-up rebalance);
//! - expulsion: a member whose session timed out, or a client that did not poll within its
//!   `max.poll.interval`, is removed; its partitions are reassigned to the others and the client
//!   learns it on its next poll (`on_lost`), when it rejoins with a new member id;
//! - committed offsets per group, and which commits the coordinator refuses
//!   (`RebalanceInProgress` while the member has a rebalance to go through, `CommitFailed` once
//!   its generation is gone).
//!
//! Left out: the rebalance timeout as distinct from `max.poll.interval` (a client that polls
//! rejoins at once), static membership, KIP-848's consumer protocol, the sticky assignor's exact
//! tie-breaking (balance is computed over all members, which is exact when members subscribe to
//! the same topics and an approximation otherwise), and leader election: the coordinator
//! computes assignments itself.

use std::collections::{BTreeMap, BTreeSet};
use std::rc::Rc;
use std::time::Duration;

use consumer::kafka::{KafkaError, Offset, Offsets, TopicPartition};

/// How many of a group's latest rebalances it remembers (see [`Group::rebalance_history`]): what
/// happened near the end of a run is what is asked, and memory stays flat however long a run is.
pub const REBALANCE_HISTORY: usize = 64;

/// The rebalance protocol of a group (Kafka's `partition.assignment.strategy`).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum RebalanceProtocol {
    /// `RangeAssignor`: revoke everything, then assign ranges.
    EagerRange,
    /// `CooperativeStickyAssignor`: incremental, two rebalances to move a partition.
    CooperativeSticky,
}

/// Identifies a fake client within its cluster (creation order, from 0).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClientId(pub u32);

/// Who a member is.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum MemberKind {
    /// A fake client: it rejoins and applies assignments inside its polls.
    Client(ClientId),
    /// A simulated peer: it rejoins and applies assignments at once, and reads the topics the
    /// group's clients read.
    Peer(Rc<str>),
}

/// A member of the group, as the coordinator sees it.
#[derive(Clone, Debug)]
pub struct Member {
    pub kind: MemberKind,
    /// The topics the member subscribes to (resolved from its pattern, for clients).
    pub topics: BTreeSet<Rc<str>>,
    /// The partitions the member has applied and owns now.
    pub owned: BTreeSet<TopicPartition>,
    /// The generation whose assignment the member applied last, or -1.
    pub generation: i32,
    /// An assignment of a completed rebalance the member has not applied yet (clients only).
    pub pending: Option<(i32, BTreeSet<TopicPartition>)>,
    /// Whether the client has entered the pending assignment's generation (it is applying it,
    /// inside its poll): its commits are accepted then.
    pub entered: bool,
    /// Whether the member has rejoined the rebalance in progress.
    pub rejoined: bool,
    /// When the client last entered or left `poll`, for `max.poll.interval`.
    pub last_poll: Duration,
    /// Whether the client is inside `poll` now (its poll timer does not run out meanwhile).
    pub in_poll: bool,
    /// The client's `max.poll.interval`; `None` for peers.
    pub max_poll_interval: Option<Duration>,
}

/// What the coordinator says a client must do next in its poll, in Kafka's order.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ClientDuty {
    /// The client has no member (never joined, or expelled): join.
    Join,
    /// Apply the assignment of generation `generation`.
    Apply {
        generation: i32,
        assignment: BTreeSet<TopicPartition>,
    },
    /// Rejoin the rebalance in progress; `revoke_all` with the eager protocol once the member has
    /// had a generation (the revoke callback comes first).
    Rejoin { revoke_all: bool },
    /// Nothing to do.
    Nothing,
}

/// One consumer group.
#[derive(Debug)]
pub struct Group {
    pub id: Rc<str>,
    pub protocol: RebalanceProtocol,
    /// The last completed generation (0 before the first).
    pub generation: i32,
    /// When the rebalance in progress started, if one is.
    pub rebalance_started: Option<Duration>,
    pub members: BTreeMap<Rc<str>, Member>,
    pub committed: Offsets,
    /// Members created so far, for member ids.
    next_member: u64,
    /// Rebalances completed so far.
    pub rebalances_completed: u64,
    /// The last [`REBALANCE_HISTORY`] rebalances: when each started and, once it did, completed.
    pub rebalance_history: Vec<(Duration, Option<Duration>)>,
    /// The topics peers read: the clients' topics when the group last had clients.
    peer_topics: BTreeSet<Rc<str>>,
}

impl Group {
    pub fn new(id: Rc<str>, protocol: RebalanceProtocol) -> Group {
        Group {
            id,
            protocol,
            generation: 0,
            rebalance_started: None,
            members: BTreeMap::new(),
            committed: Offsets::new(),
            next_member: 0,
            rebalances_completed: 0,
            rebalance_history: Vec::new(),
            peer_topics: BTreeSet::new(),
        }
    }

    /// Adds a member and starts a rebalance; returns its member id. Client ids sort before peer
    /// ids, so the range assignor gives clients the first ranges.
    pub fn add_member(
        &mut self,
        kind: MemberKind,
        topics: BTreeSet<Rc<str>>,
        max_poll_interval: Option<Duration>,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) -> Rc<str> {
        self.next_member += 1;
        let id: Rc<str> = match &kind {
            MemberKind::Client(client) => {
                format!("client{}-member{}", client.0, self.next_member).into()
            }
            MemberKind::Peer(name) => format!("peer-{name}-member{}", self.next_member).into(),
        };
        self.members.insert(
            id.clone(),
            Member {
                kind,
                topics,
                owned: BTreeSet::new(),
                generation: -1,
                pending: None,
                entered: false,
                rejoined: false,
                last_poll: now,
                in_poll: false,
                max_poll_interval,
            },
        );
        self.start_rebalance(now, partitions);
        id
    }

    /// The member id of a peer by name.
    pub fn peer_member(&self, name: &str) -> Option<Rc<str>> {
        self.members
            .iter()
            .find(|(_, member)| matches!(&member.kind, MemberKind::Peer(peer) if &**peer == name))
            .map(|(id, _)| id.clone())
    }

    /// Removes a member (it left, or was expelled) and starts a rebalance for the others.
    pub fn remove_member(
        &mut self,
        member: &str,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) {
        if self.members.remove(member).is_some() {
            self.start_rebalance(now, partitions);
        }
    }

    /// Updates a member's topics; a change starts a rebalance.
    pub fn set_member_topics(
        &mut self,
        member: &str,
        topics: BTreeSet<Rc<str>>,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) {
        let Some(record) = self.members.get_mut(member) else {
            return;
        };
        if record.topics != topics {
            record.topics = topics;
            self.start_rebalance(now, partitions);
        }
    }

    /// The topics the peers read: those of the group's clients (a peer is another instance of
    /// the same application).
    fn client_topics(&self) -> BTreeSet<Rc<str>> {
        self.members
            .values()
            .filter(|member| matches!(member.kind, MemberKind::Client(_)))
            .flat_map(|member| member.topics.iter().cloned())
            .collect()
    }

    /// Starts a rebalance unless one is in progress. Peers rejoin at once (with the eager
    /// protocol they give up everything); clients rejoin in their next poll.
    pub fn start_rebalance(&mut self, now: Duration, partitions: &BTreeMap<Rc<str>, i32>) {
        if self.rebalance_started.is_none() {
            self.rebalance_started = Some(now);
            if self.rebalance_history.len() == REBALANCE_HISTORY {
                self.rebalance_history.remove(0);
            }
            self.rebalance_history.push((now, None));
            for member in self.members.values_mut() {
                member.rejoined = false;
            }
        }
        let eager = self.protocol == RebalanceProtocol::EagerRange;
        for member in self.members.values_mut() {
            if matches!(member.kind, MemberKind::Peer(_)) && !member.rejoined {
                member.rejoined = true;
                if eager {
                    member.owned.clear();
                }
            }
        }
        self.complete_rebalance_if_all_rejoined(now, partitions);
    }

    /// What the client with member id `member` must do next.
    pub fn duty(&self, member: Option<&str>) -> ClientDuty {
        let Some(record) = member.and_then(|member| self.members.get(member)) else {
            return ClientDuty::Join;
        };
        if let Some((generation, assignment)) = &record.pending {
            return ClientDuty::Apply {
                generation: *generation,
                assignment: assignment.clone(),
            };
        }
        if self.rebalance_started.is_some() && !record.rejoined {
            return ClientDuty::Rejoin {
                revoke_all: self.protocol == RebalanceProtocol::EagerRange
                    && record.generation >= 0,
            };
        }
        ClientDuty::Nothing
    }

    /// A client enters `generation` (its sync completed) and is about to apply its
    /// assignment: from now on its commits are of that generation. Its owned partitions change
    /// only when it has applied the assignment ([`Group::applied`]).
    pub fn enter_generation(&mut self, member: &str, generation: i32) {
        if let Some(record) = self.members.get_mut(member) {
            if record
                .pending
                .as_ref()
                .is_some_and(|(pending, _)| *pending == generation)
            {
                record.generation = generation;
                record.entered = true;
            }
        }
    }

    /// A client applied the assignment of `generation`. Returns whether it revoked something,
    /// in which case (cooperative) it rejoins: a follow-up rebalance starts.
    pub fn applied(
        &mut self,
        member: &str,
        generation: i32,
        assignment: BTreeSet<TopicPartition>,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) {
        let Some(record) = self.members.get_mut(member) else {
            return;
        };
        let revoked = record.owned.difference(&assignment).next().is_some();
        record.owned = assignment;
        record.generation = generation;
        record.pending = None;
        record.entered = false;
        if revoked && self.protocol == RebalanceProtocol::CooperativeSticky {
            self.start_rebalance(now, partitions);
        }
    }

    /// A client rejoined the rebalance in progress (after its eager revoke, if any).
    pub fn rejoined(&mut self, member: &str, now: Duration, partitions: &BTreeMap<Rc<str>, i32>) {
        let eager = self.protocol == RebalanceProtocol::EagerRange;
        if let Some(record) = self.members.get_mut(member) {
            record.rejoined = true;
            if eager {
                record.owned.clear();
            }
        }
        self.complete_rebalance_if_all_rejoined(now, partitions);
    }

    fn complete_rebalance_if_all_rejoined(
        &mut self,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) {
        if self.rebalance_started.is_none() || self.members.values().any(|m| !m.rejoined) {
            return;
        }
        self.rebalance_started = None;
        if let Some((_, completed)) = self.rebalance_history.last_mut() {
            *completed = Some(now);
        }
        self.generation += 1;
        self.rebalances_completed += 1;
        let generation = self.generation;
        // Peers read what the clients read; once the last client has left, what they read last.
        let client_topics = self.client_topics();
        if !client_topics.is_empty() {
            self.peer_topics = client_topics;
        }
        let peer_topics = self.peer_topics.clone();
        let subscriptions: BTreeMap<Rc<str>, BTreeSet<Rc<str>>> = self
            .members
            .iter()
            .map(|(id, member)| {
                let topics = match member.kind {
                    MemberKind::Client(_) => member.topics.clone(),
                    MemberKind::Peer(_) => peer_topics.clone(),
                };
                (id.clone(), topics)
            })
            .collect();
        let assignments = match self.protocol {
            RebalanceProtocol::EagerRange => assign_range(&subscriptions, partitions),
            RebalanceProtocol::CooperativeSticky => {
                let owned: BTreeMap<Rc<str>, BTreeSet<TopicPartition>> = self
                    .members
                    .iter()
                    .map(|(id, member)| (id.clone(), member.owned.clone()))
                    .collect();
                assign_cooperative_sticky(&subscriptions, &owned, partitions)
            }
        };
        let mut peer_revoked = false;
        for (id, member) in self.members.iter_mut() {
            let assignment = assignments.get(id).cloned().unwrap_or_default();
            match member.kind {
                MemberKind::Peer(_) => {
                    peer_revoked |= member.owned.difference(&assignment).next().is_some();
                    member.owned = assignment;
                    member.generation = generation;
                }
                MemberKind::Client(_) => {
                    member.pending = Some((generation, assignment));
                    member.entered = false;
                }
            }
        }
        // A peer that gave something up rejoins at once (cooperative); clients do so after
        // applying their assignment.
        if peer_revoked && self.protocol == RebalanceProtocol::CooperativeSticky {
            self.start_rebalance(now, partitions);
        }
    }

    /// Whether the coordinator accepts a commit from `member` now:
    /// - `CommitFailed` if the member is gone (its generation is lost);
    /// - `RebalanceInProgress` while the member is in the middle of a rebalance: it has rejoined
    ///   and waits for the others, or a newer generation's assignment awaits it and it has not
    ///   entered that generation yet (a client applying it, inside its callbacks, may commit);
    /// - accepted while a rebalance is only preparing and the member has not rejoined yet: its
    ///   generation is still the group's, and Kafka's coordinator accepts commits of the current
    ///   generation then. Commits from an eager `on_revoked` rely on this (zio-kafka's
    ///   `rebalanceSafeCommits`).
    pub fn check_commit(&self, member: Option<&str>) -> Result<(), KafkaError> {
        let Some(record) = member.and_then(|member| self.members.get(member)) else {
            return Err(KafkaError::CommitFailed);
        };
        let waiting_for_others = self.rebalance_started.is_some() && record.rejoined;
        let awaiting_sync = record.pending.is_some() && !record.entered;
        if awaiting_sync || waiting_for_others || record.generation < 0 {
            return Err(KafkaError::RebalanceInProgress);
        }
        Ok(())
    }

    /// Starts a rebalance if a member reads `topic` (its partitions changed).
    pub fn topic_changed(
        &mut self,
        topic: &str,
        now: Duration,
        partitions: &BTreeMap<Rc<str>, i32>,
    ) {
        let read = self.members.values().any(|member| {
            matches!(member.kind, MemberKind::Client(_)) && member.topics.contains(topic)
        });
        if read {
            self.start_rebalance(now, partitions);
        }
    }

    /// Stores committed offsets.
    pub fn store(&mut self, offsets: &Offsets) {
        for (partition, offset) in offsets {
            self.committed.insert(partition.clone(), *offset);
        }
    }

    /// The committed offset of a partition.
    pub fn committed(&self, partition: &TopicPartition) -> Option<Offset> {
        self.committed.get(partition).copied()
    }

    /// The earliest time a client member's `max.poll.interval` runs out, with its member id.
    pub fn next_poll_expiry(&self) -> Option<(Duration, Rc<str>)> {
        self.members
            .iter()
            .filter(|(_, member)| !member.in_poll)
            .filter_map(|(id, member)| {
                member
                    .max_poll_interval
                    .map(|interval| (member.last_poll + interval, id.clone()))
            })
            .min()
    }
}

/// All partitions of `topics` that exist.
fn partitions_of<'a>(
    topics: impl IntoIterator<Item = &'a Rc<str>>,
    partitions: &BTreeMap<Rc<str>, i32>,
) -> BTreeSet<TopicPartition> {
    topics
        .into_iter()
        .flat_map(|topic| {
            let count = partitions.get(topic).copied().unwrap_or(0);
            (0..count).map(move |partition| TopicPartition::new(topic.clone(), partition))
        })
        .collect()
}

/// Kafka's `RangeAssignor`: for each topic, its partitions split in contiguous ranges over the
/// members subscribed to it, sorted by member id; the first members get one more when the
/// division has a remainder.
pub fn assign_range(
    subscriptions: &BTreeMap<Rc<str>, BTreeSet<Rc<str>>>,
    partitions: &BTreeMap<Rc<str>, i32>,
) -> BTreeMap<Rc<str>, BTreeSet<TopicPartition>> {
    let mut assignments: BTreeMap<Rc<str>, BTreeSet<TopicPartition>> = subscriptions
        .keys()
        .map(|member| (member.clone(), BTreeSet::new()))
        .collect();
    let topics: BTreeSet<&Rc<str>> = subscriptions.values().flatten().collect();
    for topic in topics {
        let count = partitions.get(topic).copied().unwrap_or(0).max(0) as usize;
        let members: Vec<&Rc<str>> = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(topic))
            .map(|(member, _)| member)
            .collect();
        if members.is_empty() {
            continue;
        }
        let per_member = count / members.len();
        let with_extra = count % members.len();
        let mut next = 0;
        for (index, member) in members.iter().enumerate() {
            let share = per_member + usize::from(index < with_extra);
            let owned = assignments
                .get_mut(*member)
                .expect("every member has an entry");
            for partition in next..next + share {
                owned.insert(TopicPartition::new(topic.clone(), partition as i32));
            }
            next += share;
        }
    }
    assignments
}

/// A cooperative-sticky assignment: each member keeps the partitions it owns (still subscribed,
/// still existing) up to its balanced share, the rest go to the least-loaded eligible members;
/// then, as the cooperative protocol requires, a partition still owned by another member is
/// withheld from its new owner until that owner has revoked it (the next generation).
pub fn assign_cooperative_sticky(
    subscriptions: &BTreeMap<Rc<str>, BTreeSet<Rc<str>>>,
    owned: &BTreeMap<Rc<str>, BTreeSet<TopicPartition>>,
    partitions: &BTreeMap<Rc<str>, i32>,
) -> BTreeMap<Rc<str>, BTreeSet<TopicPartition>> {
    let mut target: BTreeMap<Rc<str>, BTreeSet<TopicPartition>> = subscriptions
        .keys()
        .map(|member| (member.clone(), BTreeSet::new()))
        .collect();
    if subscriptions.is_empty() {
        return target;
    }
    let all = partitions_of(subscriptions.values().flatten(), partitions);
    let share = all.len() / subscriptions.len();
    let mut extra_slots = all.len() % subscriptions.len();
    // Members that own more keep their extra partition first, so that fewer partitions move.
    let mut by_owned: Vec<(&Rc<str>, usize)> = subscriptions
        .keys()
        .map(|member| (member, owned.get(member).map_or(0, BTreeSet::len)))
        .collect();
    by_owned.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let mut taken: BTreeSet<TopicPartition> = BTreeSet::new();
    for (member, _) in by_owned {
        let topics = &subscriptions[member];
        let keepable: Vec<&TopicPartition> = owned
            .get(member)
            .into_iter()
            .flatten()
            .filter(|tp| all.contains(*tp) && topics.contains(&tp.topic) && !taken.contains(*tp))
            .collect();
        let mut cap = share;
        if keepable.len() > share && extra_slots > 0 {
            extra_slots -= 1;
            cap += 1;
        }
        for tp in keepable.into_iter().take(cap) {
            taken.insert(tp.clone());
            target.get_mut(member).expect("entry").insert(tp.clone());
        }
    }
    for tp in all.iter().filter(|tp| !taken.contains(*tp)) {
        let receiver = subscriptions
            .iter()
            .filter(|(_, topics)| topics.contains(&tp.topic))
            .map(|(member, _)| member)
            .min_by_key(|member| (target[*member].len(), (*member).clone()));
        if let Some(receiver) = receiver {
            target.get_mut(receiver).expect("entry").insert(tp.clone());
        }
    }
    // Withhold what another member still owns.
    for (member, assignment) in target.iter_mut() {
        assignment.retain(|tp| {
            !owned
                .iter()
                .any(|(other, owned)| other != member && owned.contains(tp))
        });
    }
    target
}

#[cfg(test)]
mod tests {
    use super::*;

    fn topics(names: &[&str]) -> BTreeSet<Rc<str>> {
        names.iter().map(|name| Rc::from(*name)).collect()
    }

    fn partitions(spec: &[(&str, i32)]) -> BTreeMap<Rc<str>, i32> {
        spec.iter().map(|(t, n)| (Rc::from(*t), *n)).collect()
    }

    fn tps(spec: &[(&str, i32)]) -> BTreeSet<TopicPartition> {
        spec.iter()
            .map(|(t, p)| TopicPartition::new(*t, *p))
            .collect()
    }

    /// The range assignor splits each topic in contiguous ranges, the first member getting the
    /// remainder.
    #[test]
    fn range_assignor_splits_each_topic_in_ranges() {
        let subs: BTreeMap<Rc<str>, _> =
            [("a".into(), topics(&["t"])), ("b".into(), topics(&["t"]))]
                .into_iter()
                .collect();
        let result = assign_range(&subs, &partitions(&[("t", 3)]));
        assert_eq!(result[&Rc::from("a")], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(result[&Rc::from("b")], tps(&[("t", 2)]));
    }

    /// The cooperative-sticky assignor keeps what members own and withholds a moving partition
    /// from its new owner until it is revoked.
    #[test]
    fn cooperative_sticky_withholds_moving_partitions() {
        let subs: BTreeMap<Rc<str>, _> =
            [("a".into(), topics(&["t"])), ("b".into(), topics(&["t"]))]
                .into_iter()
                .collect();
        let owned: BTreeMap<Rc<str>, _> = [
            ("a".into(), tps(&[("t", 0), ("t", 1), ("t", 2), ("t", 3)])),
            ("b".into(), BTreeSet::new()),
        ]
        .into_iter()
        .collect();
        let first = assign_cooperative_sticky(&subs, &owned, &partitions(&[("t", 4)]));
        assert_eq!(first[&Rc::from("a")], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(
            first[&Rc::from("b")],
            BTreeSet::new(),
            "withheld until revoked"
        );
        let owned: BTreeMap<Rc<str>, _> = [
            ("a".into(), tps(&[("t", 0), ("t", 1)])),
            ("b".into(), BTreeSet::new()),
        ]
        .into_iter()
        .collect();
        let second = assign_cooperative_sticky(&subs, &owned, &partitions(&[("t", 4)]));
        assert_eq!(second[&Rc::from("a")], tps(&[("t", 0), ("t", 1)]));
        assert_eq!(second[&Rc::from("b")], tps(&[("t", 2), ("t", 3)]));
    }
}
