//! Printed output pinned as snapshots (expect-test): `hangsim list`, the output of `run`, and
//! the hang report of committed fixtures. A change of wording shows up here as a reviewed diff;
//! to accept one, run `UPDATE_EXPECT=1 cargo test --test snapshots` and review the change.
//!
//! expect-test rather than insta: the snapshots live inline next to the test that makes them,
//! updating needs no extra tool (`cargo insta`), and it adds two small crates to the build
//! instead of insta's dozen.

use std::path::PathBuf;
use std::process::Command;

use expect_test::{expect, Expect};
use scenarios::fixture::{read_fixture, replay_fixture};

fn hangsim(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_hangsim"))
        .args(args)
        .output()
        .expect("hangsim runs");
    String::from_utf8(output.stdout).expect("UTF-8 output")
}

fn fixture(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(name)
}

/// The hang report a committed fixture replays to, as printed.
fn replayed_report(name: &str, expected: Expect) {
    sim::quiet_simulation_panics();
    let fixture = read_fixture(&fixture(name)).unwrap_or_else(|error| panic!("{error}"));
    let outcome = replay_fixture(&fixture);
    assert!(outcome.matched(), "{:?}", outcome.mismatches);
    expected.assert_eq(&outcome.record.report.to_string());
}

/// `hangsim list` names every scenario, protocol, strategy and invariant with what it is.
#[test]
fn list_output() {
    expect![[r#"
        scenarios:
          auth-crash                       consume_with on two subscriptions over four partitions; READ denied; the runloop crashes
          auth-crash-end-streams           auth-crash while the user interrupts a run_with_graceful_shutdown, whose graceful shutdown calls end
          auth-crash-idle-streams          auth-crash with partition streams idle on empty queues (zio-kafka #1705)
          graceful-shutdown                stop_consumption and consumer close with commits in flight
          rebalance-during-shutdown        peers join and leave, partitions revoked and reassigned, while subscriptions end
          pull-timeout                     a slow handler exceeds the stream pull interval while another runs
          commit-after-crash               commits issued after the crash fail with CommitTimeout in time
          chaos                            every fault and user operation the world supports, drawn per seed
          group-churn                      two or three consumers of one group; peers join, leave, time out and crash while commits are in flight
        protocols:
          master                           zio-kafka before #1712: offer, then await the reply
          check-then-race                  #1711: check runloop_done, else race the reply against it; done before halting
          race-only                        review of 2026-06-10: race runloop_done against the reply
          check-offer-drain                #1712 of 2026-06-15: check-then-race, and the runloop drains the queue at its end
          offer-then-check                 #1712 as merged: offer, check runloop_done, fail own promise if done
          daemon-race                      #1733-#1735: race reply and runloop_done on a daemon fiber
          closed-queue                     ours: offers fail once the queue is closed and drained
        strategies:
          yields                           forced yields with a probability drawn per seed (calm and stormy runs)
          yields:P                         forced yields with probability P at every scheduling point
          random                           a random ready fiber at every choice, plus forced yields
          pct:D                            PCT: random fiber priorities with D-1 priority change points
          log                              decisions from the fixture's log; past its end, no forced yield and the oldest ready fiber (what shrink writes for PCT)
          schedule                         decisions from the fixture's schedule keyed by fiber ("at 2.418s, after runloop step 6, caller runs"); elsewhere the defaults (what shrink writes when decisions are left)
        invariants:
          crash-cause-returned             a consume_with that returns after a runloop crash fails (with the crash's cause, or a failure of the same consumption at that moment)
          finalizer-order                  finalizers run in the order subscriptions, runloop, consumer
          no-records-after-end             no records are offered to a partition stream after it ended
          committed-offsets-processed      no consumer commits an offset beyond the highest record it processed itself
          at-least-once                    every record below the group's committed offset was processed by some consumer of the group (none skipped)
          settled-at-least-once            once the group has been undisturbed for run.settle_ms before the final stop (faults over, no rebalance, no user action) with a consumption of the topic live throughout, every record produced before then was processed by some consumer
          graceful-end-commits-everything  after consumption ends gracefully (every consume_with succeeded), every processed record is committed
          commit-answers-in-time           every commit returns within the commit timeout
        ordering classes (search --coverage):
          in-last-chunk                    dequeued by the runloop's last take; the runloop ended while handling that chunk
          before-done-drained              offered before runloop_done completed; the end's drain took it
          between-done-and-drain           offered after runloop_done completed, before the drain; the drain took it
          after-last-drain                 offered after the last drain, no check saw runloop_done after: never dequeued
          after-last-drain-saw-done        offered after the last drain, then the caller's check saw runloop_done done
          before-done-no-drain             offered before runloop_done completed; the end has no drain
          after-done-no-drain              offered after runloop_done completed; the end has no drain
          no-end-step                      offered after the runloop's last take; its end neither completed runloop_done nor drained
          refused                          offered after the queue was closed: the offer failed at once
          saw-done-no-offer                the caller's check saw runloop_done done; no offer
    "#]].assert_eq(&hangsim(&["list"]));
}

/// `hangsim run` of master's hang at seed 0: verdict, signature, trace hash and hang report.
#[test]
fn run_output_of_a_hang() {
    expect![[r#"
        scenario auth-crash as resolved for seed 0 (--no-scenario to leave it out):
          format = 1
          name = "auth-crash"
          description = "consume_with on two subscriptions over four partitions; READ denied; the runloop crashes"

          [[topic]]
          name = "topic0"
          partitions = 2
          records_per_partition = 18
          produce_every_ms = 0

          [[topic]]
          name = "topic1"
          partitions = 2
          records_per_partition = 9
          produce_every_ms = 200

          [group]
          rebalance_protocol = "eager-range"

          [[consumer]]
          name = "app-1"
          auth_error_retries = 3

          [[consumer.consume]]
          name = "consume_with:topic0"
          api = "consume_with"
          topics = ["topic0"]
          handler_delay_ms = 25
          commit_each_record = false

          [[consumer.consume]]
          name = "consume_with:topic1"
          api = "consume_with"
          topics = ["topic1"]
          handler_delay_ms = 11
          commit_each_record = true

          [[event]]
          do = "deny-read"
          at_ms = 2823
          topic = "topic0"
        verdict: hang
        signature: hang:RemoveSubscription#N@promise:RemoveSubscription#N
        trace hash: 0x1d0ec5aabbe3afc1
        auth-crash under master, seed 0 (yields scheduling): HANG
        at 30.000000s nothing but background loops (such as the runloop's metrics ticker) could ever run again: stuck, proven; last progress: a fiber ended at 30.000000s
        the runloop: crashed at 4.323000s (failure): failed: not authorized to access topics: [topic0]
        stuck:
        - user call `consumer scope close` opened by fiber#2 (consumer) at 0.001000s is still open
            fiber#2 (consumer, interruptible) waits on fiber `fiber:consume_with:topic0#3` since 0.001000s
            fiber#3 (consume_with:topic0, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.323000s
        - user call `consume_with:topic0` opened by fiber#3 (consume_with:topic0) at 0.001000s is still open
            fiber#3 (consume_with:topic0, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.323000s
        - user call `consume_with:topic1` opened by fiber#4 (consume_with:topic1) at 0.001000s is still open
            fiber#4 (consume_with:topic1, uninterruptible) waits on promise `promise:RemoveSubscription#4` since 4.323000s
        - request `RemoveSubscription#3` opened by fiber#3 (consume_with:topic0) at 4.323000s is still open
            fiber#3 (consume_with:topic0, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.323000s
        - request `RemoveSubscription#4` opened by fiber#4 (consume_with:topic1) at 4.323000s is still open
            fiber#4 (consume_with:topic1, uninterruptible) waits on promise `promise:RemoveSubscription#4` since 4.323000s
        history of `RemoveSubscription#3`:
          requested at 4.323000s by fiber#3 (consume_with:topic0)
          offered to command_queue at 4.323000s by fiber#3
          never dequeued: nothing took from command_queue after it was offered
        why: RemoveSubscription#3 was offered at 4.323000s, the instant the runloop ended; no live fiber takes from command_queue, so nothing will complete its promise
        history of `RemoveSubscription#4`:
          requested at 4.323000s by fiber#4 (consume_with:topic1)
          offered to command_queue at 4.323000s by fiber#4
          never dequeued: nothing took from command_queue after it was offered
        why: RemoveSubscription#4 was offered at 4.323000s, the instant the runloop ended; no live fiber takes from command_queue, so nothing will complete its promise
    "#]].assert_eq(&hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "master",
        "--seed",
        "0",
    ]));
}

/// `hangsim run` of a passing run.
#[test]
fn run_output_of_a_pass() {
    expect![[r#"
        scenario auth-crash as resolved for seed 0 (--no-scenario to leave it out):
          format = 1
          name = "auth-crash"
          description = "consume_with on two subscriptions over four partitions; READ denied; the runloop crashes"

          [[topic]]
          name = "topic0"
          partitions = 2
          records_per_partition = 18
          produce_every_ms = 0

          [[topic]]
          name = "topic1"
          partitions = 2
          records_per_partition = 9
          produce_every_ms = 200

          [group]
          rebalance_protocol = "eager-range"

          [[consumer]]
          name = "app-1"
          auth_error_retries = 3

          [[consumer.consume]]
          name = "consume_with:topic0"
          api = "consume_with"
          topics = ["topic0"]
          handler_delay_ms = 25
          commit_each_record = false

          [[consumer.consume]]
          name = "consume_with:topic1"
          api = "consume_with"
          topics = ["topic1"]
          handler_delay_ms = 11
          commit_each_record = true

          [[event]]
          do = "deny-read"
          at_ms = 2823
          topic = "topic0"
        verdict: pass
        signature: pass
        trace hash: 0x2a772a162d113989
        auth-crash under closed-queue, seed 0 (yields scheduling): PASS
        the workload ran to its end at 4.323000s
        the runloop: crashed at 4.323000s (failure): failed: not authorized to access topics: [topic0]
    "#]].assert_eq(&hangsim(&[
        "run",
        "--scenario",
        "auth-crash",
        "--protocol",
        "closed-queue",
        "--seed",
        "0",
    ]));
}

/// The hang report of check-offer-drain's narrow window: a command offered after the last
/// drain.
#[test]
fn hang_report_of_the_command_enqueued_after_drain() {
    replayed_report(
        "auth-crash.check-offer-drain.pct-3.hang-removesubscription-n-promise-remove-ec022b42.toml",
        expect![[r#"
            auth-crash under check-offer-drain, seed 33 (pct:3 scheduling): HANG
            at 30.000000s nothing but background loops (such as the runloop's metrics ticker) could ever run again: stuck, proven; last progress: a fiber ended at 30.000000s
            the runloop: crashed at 4.285000s (failure): failed: not authorized to access topics: [topic0]
            stuck:
            - user call `consumer scope close` opened by fiber#2 (consumer) at 0.001000s is still open
                fiber#2 (consumer, interruptible) waits on fiber `fiber:consume_with:topic0#3` since 0.001000s
                fiber#3 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#263` since 4.285000s
                fiber#263 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.285000s; interruption by fiber#3 pending, not deliverable here
            - user call `consume_with:topic0` opened by fiber#3 (consume_with:topic0) at 0.001000s is still open
                fiber#3 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#263` since 4.285000s
                fiber#263 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.285000s; interruption by fiber#3 pending, not deliverable here
            - request `RemoveSubscription#3` opened by fiber#3 (consume_with:topic0) at 4.285000s is still open
                fiber#3 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#263` since 4.285000s
                fiber#263 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:RemoveSubscription#3` since 4.285000s; interruption by fiber#3 pending, not deliverable here
            history of `RemoveSubscription#3`:
              requested at 4.285000s by fiber#3 (consume_with:topic0)
              offered to command_queue at 4.285000s by fiber#263
              never dequeued: nothing took from command_queue after it was offered
              drain: take_all of command_queue at 4.285000s by fiber#6 took 0
            why: at one instant (4.285000s): the runloop's last drain of command_queue, then RemoveSubscription#3 offered (the runloop ended at 4.285000s); no live fiber takes from command_queue, so nothing will complete its promise
        "#]],
    );
}

/// The hang report of a graceful shutdown under a racing protocol: the race's loser waits on
/// runloop_done.
#[test]
fn hang_report_of_a_race_loser_waiting_on_runloop_done() {
    replayed_report(
        "graceful-shutdown.race-only.yields.hang-removesubscription-n-promise-runloo-c6577821.toml",
        expect![[r#"
            graceful-shutdown under race-only, seed 0 (yields scheduling): HANG
            at 30.000000s nothing but background loops (such as the runloop's metrics ticker) could ever run again: stuck, proven; last progress: a fiber ended at 30.000000s
            the runloop: still running (or never started)
            stuck:
            - user call `consumer scope close` opened by fiber#3 (consumer) at 0.001000s is still open
                fiber#3 (consumer, interruptible) waits on fiber `fiber:consume_with:topic0#4` since 0.001000s
                fiber#4 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#318` since 5.250001s
                fiber#318 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:runloop_done` since 5.250001s; interruption by fiber#4 pending, not deliverable here
            - user call `consume_with:topic0` opened by fiber#4 (consume_with:topic0) at 0.001000s is still open
                fiber#4 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#318` since 5.250001s
                fiber#318 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:runloop_done` since 5.250001s; interruption by fiber#4 pending, not deliverable here
            - user call `consume_with:topic1` opened by fiber#5 (consume_with:topic1) at 0.001000s is still open
                fiber#5 (consume_with:topic1, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#4.left#320` since 5.250001s
                fiber#320 (offer_and_await:RemoveSubscription#4.left, uninterruptible) waits on promise `promise:runloop_done` since 5.250001s; interruption by fiber#5 pending, not deliverable here
            - request `RemoveSubscription#3` opened by fiber#4 (consume_with:topic0) at 5.250001s is still open
                fiber#4 (consume_with:topic0, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#3.left#318` since 5.250001s
                fiber#318 (offer_and_await:RemoveSubscription#3.left, uninterruptible) waits on promise `promise:runloop_done` since 5.250001s; interruption by fiber#4 pending, not deliverable here
            - request `RemoveSubscription#4` opened by fiber#5 (consume_with:topic1) at 5.250001s is still open
                fiber#5 (consume_with:topic1, uninterruptible) waits on fiber `fiber:offer_and_await:RemoveSubscription#4.left#320` since 5.250001s
                fiber#320 (offer_and_await:RemoveSubscription#4.left, uninterruptible) waits on promise `promise:runloop_done` since 5.250001s; interruption by fiber#5 pending, not deliverable here
            history of `RemoveSubscription#3`:
              requested at 5.250001s by fiber#4 (consume_with:topic0)
              offered to command_queue at 5.250001s by fiber#319
              dequeued at 5.250001s by fiber#7 (take, a chunk of 1 command)
            why: RemoveSubscription#3's caller races uninterruptibly and its race's loser waits on runloop_done, which completes only when the runloop stops; the runloop is stopped by the consumer scope, which closes only after this caller returns
            history of `RemoveSubscription#4`:
              requested at 5.250001s by fiber#5 (consume_with:topic1)
              offered to command_queue at 5.250001s by fiber#321
              dequeued at 5.250001s by fiber#7 (take, a chunk of 1 command)
            why: RemoveSubscription#4's caller races uninterruptibly and its race's loser waits on runloop_done, which completes only when the runloop stops; the runloop is stopped by the consumer scope, which closes only after this caller returns
        "#]],
    );
}
