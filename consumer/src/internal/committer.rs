//! The committer (zio-kafka's `Committer` / `LiveCommitter`).
//!
//! A user's commit is queued with a reply promise, the runloop is woken with
//! `CommitAvailable`, and the user waits at most the commit timeout (then `CommitTimeout`: after
//! a crash, commits fail rather than hang). Each runloop turn sends the queued commits in one
//! `commit_async`, merged to the highest offset per partition plus one. The client runs the
//! callback during a later poll; the callback forks a daemon that completes the promises, or
//! re-queues the commits on `RebalanceInProgress`. Pending commits keep the runloop polling.
//! A `commit_async` that throws fails the caller (the runloop's turn, or a revoke's wait for
//! commits) and leaves its commits pending, as zio-kafka's `LiveCommitter` does.

use std::cell::{Cell, RefCell};
use std::collections::BTreeSet;
use std::rc::Rc;
use std::time::Duration;

use super::command::RunloopCommand;
use super::diagnostics::{DiagnosticEvent, Diagnostics};
use super::error::{queue_failure, ConsumerError};
use super::protocol::RequestChannel;
use crate::kafka::{KafkaClient, KafkaError, Offset, Offsets, TopicPartition};
use crate::rt::{label, Cause, Exit, Promise, Queue, Rt};

/// One user commit: record offsets (not yet plus one) and the promise the user waits on.
#[derive(Clone)]
struct Commit {
    offsets: Offsets,
    reply: Promise<(), ConsumerError>,
}

/// The committer. Cloning shares it.
#[derive(Clone)]
pub struct Committer {
    inner: Rc<Inner>,
}

struct Inner {
    rt: Rt,
    channel: RequestChannel,
    diagnostics: Diagnostics,
    commit_queue: Queue<Commit>,
    commit_timeout: Duration,
    /// Commits sent, answered or not, until `cleanup_pending_commits` forgets the answered ones
    /// (`pendingCommits`).
    pending: RefCell<Vec<Commit>>,
    /// The highest record offset committed per partition by this consumer
    /// (`committedOffsetsRef`, a `CommitOffsets`).
    committed: RefCell<Offsets>,
    commits_made: Cell<u64>,
}

impl Committer {
    /// A committer that wakes the runloop through `channel`.
    pub fn new(
        rt: &Rt,
        channel: RequestChannel,
        diagnostics: Diagnostics,
        commit_timeout: Duration,
    ) -> Self {
        Committer {
            inner: Rc::new(Inner {
                rt: rt.clone(),
                commit_queue: Queue::new(rt, "commit_queue"),
                channel,
                diagnostics,
                commit_timeout,
                pending: RefCell::new(Vec::new()),
                committed: RefCell::new(Offsets::new()),
                commits_made: Cell::new(0),
            }),
        }
    }

    /// Commits record offsets (each committed as offset + 1) and waits for the outcome, at most
    /// the commit timeout.
    pub async fn commit(&self, offsets: Offsets) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let number = inner.commits_made.get() + 1;
        inner.commits_made.set(number);
        let mut digits = [0; 20];
        let number = label::decimal(number, &mut digits);
        let obligation = inner.rt.obligation(
            crate::rt::ObligationKind::Commit,
            label::join(&["Commit#", number]),
        );
        let reply: Promise<(), ConsumerError> =
            Promise::new(&inner.rt, label::join(&["promise:Commit#", number]));
        inner
            .commit_queue
            .offer(Commit {
                offsets,
                reply: reply.clone(),
            })
            .await
            .map_err(queue_failure)?;
        inner.channel.offer(RunloopCommand::CommitAvailable).await?;
        let waiting = async move { reply.wait().await };
        let result = inner
            .rt
            .timeout_fail(
                &label::join(&["commit_timeout:Commit#", number]),
                waiting,
                inner.commit_timeout,
                ConsumerError::CommitTimeout,
            )
            .await;
        obligation.close();
        result
    }

    /// Sends the queued commits in one `commit_async` (zio-kafka's `processQueuedCommits`).
    /// With `execute_on_empty` it calls the client even with nothing queued, so that earlier
    /// callbacks run.
    pub async fn process_queued_commits(
        &self,
        client: &dyn KafkaClient,
        execute_on_empty: bool,
    ) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        let commits = inner.commit_queue.take_all().await.map_err(queue_failure)?;
        if commits.is_empty() && !execute_on_empty {
            return Ok(());
        }
        let mut offsets = Offsets::new();
        for commit in &commits {
            for (tp, offset) in &commit.offsets {
                let next = Offset(offset.0 + 1);
                let entry = offsets.entry(tp.clone()).or_insert(next);
                *entry = (*entry).max(next);
            }
        }
        inner.pending.borrow_mut().extend(commits.iter().cloned());
        inner.diagnostics.emit(DiagnosticEvent::CommitStarted {
            partitions: offsets.keys().cloned().collect(),
        });
        let committer = self.clone();
        let in_callback = commits.clone();
        let callback = Box::new(move |_: &Offsets, outcome: Result<(), KafkaError>| {
            // The callback runs inside the client's poll, on the runloop's fiber; like
            // zio-kafka, it hands the outcome to a daemon fiber.
            let rt = committer.inner.rt.clone();
            rt.fork_daemon::<(), ConsumerError, _>("commit_callback", async move {
                committer.handle_outcome(in_callback, outcome).await
            });
        });
        // `getCommitResults <- commitAsync(offsets)` sits outside the `catchAllCause` of the
        // callback's handling: a commit_async that throws fails this call (and so the runloop's
        // turn, before any command of its chunk is handled), leaving the commits pending; their
        // users get `CommitTimeout` (LiveCommitter.processQueuedCommits).
        client
            .commit_async(offsets, callback)
            .map_err(|error| Cause::Fail(ConsumerError::Kafka(error)))
    }

    async fn handle_outcome(
        &self,
        commits: Vec<Commit>,
        outcome: Result<(), KafkaError>,
    ) -> Exit<(), ConsumerError> {
        let inner = &self.inner;
        match outcome {
            Ok(()) => {
                inner.rt.progress(super::labels::COMMIT_COMPLETED);
                add_commits(&mut inner.committed.borrow_mut(), &commits);
                for commit in &commits {
                    commit.reply.succeed(()).await?;
                }
            }
            Err(KafkaError::RebalanceInProgress) => {
                // Retriable: queue them again and wake the runloop.
                inner
                    .commit_queue
                    .offer_all(commits)
                    .await
                    .map_err(queue_failure)?;
                inner.channel.offer(RunloopCommand::CommitAvailable).await?;
            }
            Err(error) => fail_all(&commits, error).await?,
        }
        Ok(())
    }

    /// Commits sent and not forgotten yet (`pendingCommitCount`: answered ones count until the
    /// runloop's next cleanup); while there are any, the runloop keeps polling.
    pub fn pending_commit_count(&self) -> usize {
        self.inner.pending.borrow().len()
    }

    /// Forgets answered commits (`cleanupPendingCommits`).
    pub fn cleanup_pending_commits(&self) {
        self.inner
            .pending
            .borrow_mut()
            .retain(|commit| !commit.reply.is_done_now());
    }

    /// Keeps the committed offsets of these partitions only (`keepCommitsForPartitions`).
    pub fn keep_commits_for_partitions(&self, partitions: &BTreeSet<TopicPartition>) {
        self.inner
            .committed
            .borrow_mut()
            .retain(|tp, _| partitions.contains(tp));
    }

    /// The highest record offset this consumer committed for a partition (not plus one).
    pub fn committed_offset(&self, tp: &TopicPartition) -> Option<Offset> {
        self.inner.committed.borrow().get(tp).copied()
    }

    /// Whether this consumer committed `offset` (a record offset) or beyond for the partition
    /// (`CommitOffsets.contains`).
    pub fn has_committed(&self, tp: &TopicPartition, offset: Offset) -> bool {
        self.committed_offset(tp)
            .is_some_and(|committed| committed >= offset)
    }

    /// The highest record offset per partition over the commits sent and not forgotten yet,
    /// answered or not (`getPendingCommits`).
    pub fn pending_offsets(&self) -> Offsets {
        let mut offsets = Offsets::new();
        add_commits(&mut offsets, &self.inner.pending.borrow());
        offsets
    }

    /// Shuts the commit queue down (the committer's finalizer).
    pub async fn shutdown(&self) -> Exit<(), ConsumerError> {
        Ok(self.inner.commit_queue.shutdown().await?)
    }
}

/// Fails every commit's promise with the client's error.
async fn fail_all(commits: &[Commit], error: KafkaError) -> Exit<(), ConsumerError> {
    for commit in commits {
        commit
            .reply
            .fail(ConsumerError::Kafka(error.clone()))
            .await?;
    }
    Ok(())
}

/// Adds the record offsets of `commits` to `offsets`, keeping the highest per partition
/// (`CommitOffsets.addCommits`).
fn add_commits(offsets: &mut Offsets, commits: &[Commit]) {
    for commit in commits {
        for (tp, offset) in &commit.offsets {
            let entry = offsets.entry(tp.clone()).or_insert(*offset);
            *entry = (*entry).max(*offset);
        }
    }
}
