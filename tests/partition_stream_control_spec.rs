//! zio-kafka's `PartitionStreamControlSpec`, ported: the runloop's handle on one partition
//! stream (offers, end, halt, pulls, queue bookkeeping), on the simulated runtime. The halt test
//! runs for every protocol, since #1712 changed how a halt reaches a pulling stream.

mod common;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use common::{tp, Log};
use consumer::internal::committer::Committer;
use consumer::internal::protocol::RequestChannel;
use consumer::internal::{CommittableRecord, PartitionStreamControl, RunloopCommand};
use consumer::kafka::{Offset, Record};
use consumer::rt::{Cause, Exit, Promise, Queue, Rt};
use consumer::{ConsumerError, Diagnostics, ShutdownProtocol};
use sim::{run, RunConfig, StrategyChoice};

const PULL_INTERVAL: Duration = Duration::from_secs(5);

/// A stream control for `t-0` and its command queue, as the runloop would make them.
struct Fixture {
    rt: Rt,
    control: PartitionStreamControl,
    commands: Queue<RunloopCommand, Cause<ConsumerError>>,
    committer: Committer,
}

fn fixture(rt: &Rt, protocol: ShutdownProtocol) -> Fixture {
    let commands = Queue::new(rt, "command_queue");
    let diagnostics = Diagnostics::new(rt);
    let channel = RequestChannel {
        rt: rt.clone(),
        protocol,
        command_queue: commands.clone(),
        runloop_done: Promise::new(rt, "promise:runloop_done"),
        diagnostics: diagnostics.clone(),
    };
    let committer = Committer::new(
        rt,
        channel.clone(),
        diagnostics.clone(),
        Duration::from_secs(15),
    );
    let control = PartitionStreamControl::new(rt, tp("t", 0), channel, diagnostics, PULL_INTERVAL);
    Fixture {
        rt: rt.clone(),
        control,
        commands,
        committer,
    }
}

impl Fixture {
    fn records(&self, offsets: std::ops::Range<i64>) -> Vec<CommittableRecord> {
        offsets
            .map(|offset| {
                let record = Record {
                    topic: "t".into(),
                    partition: 0,
                    offset: Offset(offset),
                    key: None,
                    value: Some(format!("v{offset}").as_bytes().into()),
                    timestamp: Duration::ZERO,
                };
                CommittableRecord::new(record, None, self.committer.clone())
            })
            .collect()
    }
}

/// Runs `body` with a fresh fixture and returns what it logged; the run must complete.
fn spec<F, Fut>(protocol: ShutdownProtocol, body: F) -> Vec<String>
where
    F: FnOnce(Fixture, Log) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<(), ConsumerError>> + 'static,
{
    let log = Log::default();
    let seen = log.clone();
    let failure = Arc::new(Mutex::new(None));
    let failed = failure.clone();
    let config = RunConfig::new(1).with_strategy(StrategyChoice::Yields(0.0));
    let result = run(&config, move |rt| async move {
        if let Err(cause) = body(fixture(&rt, protocol), log).await {
            *failed.lock().unwrap() = Some(cause.to_string());
        }
    });
    assert!(sim::SIMULATED, "needs --cfg madsim");
    assert!(
        !result.is_hang() && result.panics.is_empty(),
        "{protocol}:\n{}",
        result.report()
    );
    assert_eq!(
        *failure.lock().unwrap(),
        None,
        "{protocol}: the body failed"
    );
    seen.lines()
}

/// Offering records adds them to the queue size; an empty offer counts an outstanding poll;
/// offers accumulate.
#[test]
fn offers_update_queue_size_and_outstanding_polls() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        f.control.offer_records(f.records(0..3)).await?;
        let info = f.control.queue_info().await?;
        log.push(format!(
            "size {} polls {}",
            info.size, info.outstanding_polls
        ));
        f.control.offer_records(Vec::new()).await?;
        f.control.offer_records(Vec::new()).await?;
        f.control.offer_records(f.records(3..5)).await?;
        let info = f.control.queue_info().await?;
        log.push(format!(
            "size {} polls {}",
            info.size, info.outstanding_polls
        ));
        Ok(())
    });
    assert_eq!(lines, vec!["size 3 polls 0", "size 5 polls 2"]);
}

/// Offered records end up in the stream, in order, chunk by chunk; pulling tracks the last
/// pulled offset and resets the outstanding polls.
#[test]
fn offered_records_end_up_in_the_stream_and_pulls_are_tracked() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        f.control.offer_records(Vec::new()).await?;
        f.control.offer_records(f.records(0..2)).await?;
        f.control.offer_records(f.records(2..3)).await?;
        let mut stream = f.control.stream();
        for _ in 0..2 {
            let chunk = stream.next_chunk().await?.expect("a chunk");
            let offsets: Vec<i64> = chunk.iter().map(|r| r.offset().0).collect();
            let info = f.control.queue_info().await?;
            log.push(format!(
                "{offsets:?} last {:?} size {} polls {}",
                info.last_pulled_offset, info.size, info.outstanding_polls
            ));
        }
        Ok(())
    });
    assert_eq!(
        lines,
        vec![
            "[0, 1] last Some(Offset(1)) size 1 polls 0",
            "[2] last Some(Offset(2)) size 0 polls 0"
        ]
    );
}

/// `end` discards the records still queued and ends the stream; a later offer is a defect.
#[test]
fn end_discards_queued_records_then_offers_fail() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        f.control.offer_records(f.records(0..3)).await?;
        f.control.end().await?;
        let mut stream = f.control.stream();
        log.push(format!(
            "pulled {:?}",
            stream.next_chunk().await?.map(|c| c.len())
        ));
        log.push(format!("ended {}", f.control.has_ended().await?));
        match f.control.offer_records(f.records(3..4)).await {
            Err(Cause::Die(text)) => log.push(format!(
                "offer after end: defect ({})",
                text.contains("already ended")
            )),
            other => log.push(format!("offer after end: {:?}", other.is_ok())),
        }
        Ok(())
    });
    assert_eq!(
        lines,
        vec![
            "pulled None",
            "ended true",
            "offer after end: defect (true)"
        ]
    );
}

/// `halt` fails a stream waiting for data with the pull timeout, under every protocol (under
/// `CheckThenRace` and `RaceOnly` the failure also travels on the data queue).
#[test]
fn halt_fails_the_stream_with_the_pull_timeout() {
    for protocol in ShutdownProtocol::ALL {
        let lines = spec(protocol, |f, log| async move {
            let mut stream = f.control.stream();
            let (rt, control) = (f.rt.clone(), f.control.clone());
            f.rt.fork::<(), ConsumerError, _>("halter", async move {
                rt.sleep(Duration::from_millis(10)).await?;
                control.halt_pull_timeout().await
            });
            match stream.next_chunk().await {
                Err(Cause::Fail(ConsumerError::StreamPullTimeout(text))) => log.push(format!(
                    "failed: {}",
                    text.starts_with("No records were pulled for more than 5000 ms")
                )),
                other => log.push(format!(
                    "unexpected: {:?}",
                    other.map(|c| c.map(|v| v.len()))
                )),
            }
            Ok(())
        });
        assert_eq!(lines, vec!["failed: true"], "{protocol}");
    }
}

/// The stream's finalizer completes it with the last pulled offset.
#[test]
fn finishing_the_stream_completes_it_with_the_last_pulled_offset() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        log.push(format!("completed {}", f.control.is_completed()));
        f.control.offer_records(f.records(0..2)).await?;
        let mut stream = f.control.stream();
        stream.next_chunk().await?;
        stream.finish().await?;
        log.push(format!(
            "completed {} at {:?}",
            f.control.is_completed(),
            f.control.completed_offset()
        ));
        Ok(())
    });
    assert_eq!(
        lines,
        vec!["completed false", "completed true at Some(Some(Offset(1)))"]
    );
}

/// Pulling from an empty queue asks the runloop for data with `Request(tp)`.
#[test]
fn pulling_from_an_empty_queue_requests_data() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        let mut stream = f.control.stream();
        let (rt, control) = (f.rt.clone(), f.control.clone());
        let records = f.records(0..1);
        f.rt.fork::<(), ConsumerError, _>("runloop", async move {
            rt.sleep(Duration::from_millis(10)).await?;
            control.offer_records(records).await
        });
        let chunk = stream.next_chunk().await?.expect("a chunk");
        let requests: Vec<String> = f
            .commands
            .take_all()
            .await
            .map_err(|_| Cause::Die("queue".into()))?
            .iter()
            .map(|c| format!("{c:?}"))
            .collect();
        log.push(format!("{} record(s) after {requests:?}", chunk.len()));
        Ok(())
    });
    assert_eq!(lines, vec!["1 record(s) after [\"Request(t-0)\"]"]);
}

/// The pull deadline: not exceeded with an empty queue or in time, exceeded when data waits
/// unpulled for longer than the interval.
#[test]
fn pull_interval_is_exceeded_only_after_the_deadline() {
    let lines = spec(ShutdownProtocol::Master, |f, log| async move {
        log.push(format!(
            "empty {}",
            f.control.pull_interval_exceeded().await?
        ));
        f.control.offer_records(f.records(0..1)).await?;
        f.rt.sleep(PULL_INTERVAL - Duration::from_millis(1)).await?;
        log.push(format!(
            "in time {}",
            f.control.pull_interval_exceeded().await?
        ));
        f.rt.sleep(Duration::from_millis(2)).await?;
        log.push(format!(
            "late {}",
            f.control.pull_interval_exceeded().await?
        ));
        Ok(())
    });
    assert_eq!(lines, vec!["empty false", "in time false", "late true"]);
}
