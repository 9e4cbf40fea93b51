//! One hand-built step sequence per class.

use super::*;

const CALLER: u64 = 7;
const OTHER: u64 = 9;

fn offer(fiber: u64) -> Step {
    Step::Offer {
        fiber,
        accepted: true,
    }
}

fn check(fiber: u64, done: bool) -> Step {
    Step::Check { fiber, done }
}

const TAKE: Step = Step::Take { took: 1 };
const DRAIN: Step = Step::Drain { closes: false };

#[test]
fn a_command_handled_long_before_the_end_did_not_race_it() {
    let steps = [
        offer(CALLER),
        TAKE,
        offer(OTHER),
        TAKE,
        Step::Complete,
        DRAIN,
    ];
    assert_eq!(classify(&steps), vec![OrderingClass::InLastChunk]);
}

#[test]
fn dequeued_by_the_last_take_before_the_end_is_in_the_last_chunk() {
    let steps = [offer(CALLER), TAKE, Step::Complete];
    assert_eq!(classify(&steps), vec![OrderingClass::InLastChunk]);
}

#[test]
fn offered_before_done_and_drained() {
    let steps = [check(CALLER, false), offer(CALLER), Step::Complete, DRAIN];
    assert_eq!(classify(&steps), vec![OrderingClass::BeforeDoneDrained]);
}

#[test]
fn offered_between_done_and_drain() {
    let steps = [check(CALLER, false), Step::Complete, offer(OTHER), DRAIN];
    assert_eq!(classify(&steps), vec![OrderingClass::BetweenDoneAndDrain]);
}

#[test]
fn offered_after_the_last_drain_is_check_offer_drains_window() {
    let steps = [check(CALLER, false), Step::Complete, DRAIN, offer(OTHER)];
    assert_eq!(classify(&steps), vec![OrderingClass::AfterLastDrain]);
}

#[test]
fn offered_after_the_last_drain_then_seeing_done_is_offer_then_checks_path() {
    let steps = [Step::Complete, DRAIN, offer(CALLER), check(CALLER, true)];
    assert_eq!(classify(&steps), vec![OrderingClass::AfterLastDrainSawDone]);
}

#[test]
fn offered_before_done_with_no_drain() {
    let steps = [offer(CALLER), Step::Complete];
    assert_eq!(classify(&steps), vec![OrderingClass::BeforeDoneNoDrain]);
}

#[test]
fn offered_after_done_with_no_drain() {
    let steps = [Step::Complete, offer(CALLER)];
    assert_eq!(classify(&steps), vec![OrderingClass::AfterDoneNoDrain]);
}

#[test]
fn never_dequeued_with_no_end_step_is_masters_window() {
    let steps = [offer(OTHER), TAKE, offer(CALLER)];
    assert_eq!(classify(&steps), vec![OrderingClass::NoEndStep]);
}

#[test]
fn an_offer_to_a_closed_queue_is_refused() {
    let steps = [
        Step::Drain { closes: true },
        Step::Complete,
        Step::Offer {
            fiber: CALLER,
            accepted: false,
        },
    ];
    assert_eq!(classify(&steps), vec![OrderingClass::Refused]);
}

#[test]
fn a_check_that_saw_done_without_an_offer() {
    let steps = [Step::Complete, DRAIN, check(CALLER, true)];
    assert_eq!(classify(&steps), vec![OrderingClass::SawDoneNoOffer]);
}

#[test]
fn a_run_without_end_or_stray_offer_has_no_class() {
    assert!(classify(&[offer(CALLER), TAKE]).is_empty());
}

#[test]
fn tallies_count_runs_and_keep_the_first_seed() {
    let mut tally = CoverageTally::default();
    let after_drain = RunCoverage::of_classes(&[OrderingClass::AfterLastDrain]);
    tally.count(4, RunCoverage::default());
    tally.count(5, after_drain);
    tally.count(6, after_drain);
    assert_eq!(tally.of(OrderingClass::AfterLastDrain), (2, Some(5)));
    assert_eq!(tally.of(OrderingClass::Refused), (0, None));
    assert_eq!(tally.runs, 3);
    let table = tally.to_string();
    assert!(table.contains("never reached: in-last-chunk"), "{table}");
}

#[test]
fn a_take_after_the_reported_end_is_not_the_runloops() {
    // Master: the runloop crashed (reported before step 2) and left no step; a later take
    // does not answer the command offered at the instant it ended.
    let steps = [offer(OTHER), TAKE, offer(CALLER), TAKE];
    assert_eq!(
        classify_with_reported_end(&steps, Some(2)),
        vec![OrderingClass::InLastChunk, OrderingClass::NoEndStep]
    );
}
