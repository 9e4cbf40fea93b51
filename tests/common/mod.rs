//! Shared harness for the ported zio-kafka specs: a consumer on the simulated runtime against
//! the fake cluster, and helpers to read runs.

#![allow(dead_code)]

use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use consumer::internal::{PartitionsTake, Runloop};
use consumer::kafka::{KafkaClient, TopicPartition};
use consumer::rt::{Cause, Exit, ExitKind, Hub, Rt, Scope};
use consumer::{Consumer, ConsumerError, ConsumerSettings, Diagnostics, ShutdownProtocol};
use sim::kafka::{AutoOffsetReset, ClientConfig, FakeCluster, FakeConsumer};
use sim::{run, RunConfig, RunResult, StrategyChoice};

/// Lines a workload writes and a test reads.
#[derive(Clone, Default)]
pub struct Log(Arc<Mutex<Vec<String>>>);

impl Log {
    pub fn push(&self, line: impl Into<String>) {
        self.0.lock().unwrap().push(line.into());
    }

    pub fn lines(&self) -> Vec<String> {
        self.0.lock().unwrap().clone()
    }
}

pub fn tp(topic: &str, partition: i32) -> TopicPartition {
    TopicPartition::new(topic, partition)
}

/// What a spec body gets: the runtime, the mock-consumer-like client, the consumer, the
/// runloop (started), its partitions hub, and the consumer scope.
#[derive(Clone)]
pub struct Spec {
    pub rt: Rt,
    pub cluster: FakeCluster,
    pub client: Rc<FakeConsumer>,
    pub consumer: Consumer,
    pub diagnostics: Diagnostics,
    pub scope: Scope,
}

impl Spec {
    /// Starts the runloop (as `Runloop.make` in RunloopSpec's `withRunloop`) and returns it.
    pub async fn runloop(&self) -> Exit<Runloop, ConsumerError> {
        let access = self.consumer.runloop_access();
        access.with_runloop(true, |_| async { Ok(()) }).await?;
        access
            .runloop()
            .ok_or_else(|| Cause::Die("the runloop did not start".into()))
    }

    /// The partitions hub.
    pub fn hub(&self) -> Hub<PartitionsTake> {
        self.consumer.runloop_access().partitions_hub().clone()
    }
}

/// The simulated run's configuration for specs: calm scheduling (the specs are about
/// behaviour, not interleavings), a deadline of ten virtual minutes, and a quiet window of two
/// (longer than any wait a spec's settings allow), so that a hang among the fake group's
/// periodic work is proven stuck rather than cut off by the deadline, which is a timeout.
pub fn spec_config(seed: u64) -> RunConfig {
    RunConfig::new(seed)
        .with_strategy(StrategyChoice::Yields(0.0))
        .with_deadline(Duration::from_secs(600))
        .with_quiet_window(Duration::from_secs(120))
}

/// Runs `body` in a consumer scope with a MockConsumer-like client (`new
/// MockConsumer("latest")`) under `protocol`, as RunloopSpec's `withRunloop` does.
pub fn with_mock_consumer<F, Fut>(
    protocol: ShutdownProtocol,
    settings: impl FnOnce(ConsumerSettings) -> ConsumerSettings + Send + 'static,
    body: F,
) -> RunResult
where
    F: FnOnce(Spec) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<(), ConsumerError>> + 'static,
{
    with_client(
        protocol,
        settings,
        ClientConfig::mock_consumer(AutoOffsetReset::Latest),
        body,
    )
}

/// Runs `body` in a consumer scope with a client of the given configuration.
pub fn with_client<F, Fut>(
    protocol: ShutdownProtocol,
    settings: impl FnOnce(ConsumerSettings) -> ConsumerSettings + Send + 'static,
    client_config: ClientConfig,
    body: F,
) -> RunResult
where
    F: FnOnce(Spec) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<(), ConsumerError>> + 'static,
{
    with_client_settings(
        protocol,
        move |base, _client| settings(base),
        client_config,
        body,
    )
}

/// Like [`with_client`], with settings that may depend on the client (a manual offset
/// retrieval that reads its offset store, for example).
pub fn with_client_settings<F, Fut>(
    protocol: ShutdownProtocol,
    settings: impl FnOnce(ConsumerSettings, &Rc<FakeConsumer>) -> ConsumerSettings + Send + 'static,
    client_config: ClientConfig,
    body: F,
) -> RunResult
where
    F: FnOnce(Spec) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<(), ConsumerError>> + 'static,
{
    let result = run(&spec_config(1), move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let client = cluster.client(client_config);
        // Built inside the run: settings may hold the run's own callbacks (`Rc`s).
        let settings = settings(ConsumerSettings::default().with_protocol(protocol), &client);
        let diagnostics = Diagnostics::new(&rt);
        let (rt2, client2) = (rt.clone(), client.clone());
        let call = rt.obligation(consumer::rt::ObligationKind::UserCall, "spec body");
        let exit = rt
            .scoped("consumer_scope", move |scope| async move {
                let as_client: Rc<dyn KafkaClient> = client2.clone();
                let consumer =
                    Consumer::make(&rt2, settings, as_client, diagnostics.clone(), &scope).await?;
                body(Spec {
                    rt: rt2,
                    cluster,
                    client: client2,
                    consumer,
                    diagnostics,
                    scope,
                })
                .await
            })
            .await;
        // A body that fails is a finding of the spec: make it visible as a panic of the run.
        if let Err(cause) = exit {
            panic!("the spec body failed: {cause}");
        }
        call.close();
    });
    note_outcome(protocol, &result);
    result
}

/// When `HANGSIM_SPEC_OUTCOMES` names a file, appends one line per spec run to it: the test
/// (libtest names each test's thread after it), the protocol and how the run ended (completed,
/// hang, timeout or panic). `scripts/spec-outcomes.sh` turns the lines into the protocol x
/// ported-test x outcome table; the tests' own assertions are what hold the outcomes.
pub fn note_outcome(protocol: ShutdownProtocol, result: &RunResult) {
    use std::io::Write as _;
    let Some(path) = std::env::var_os("HANGSIM_SPEC_OUTCOMES") else {
        return;
    };
    let outcome = if !result.panics.is_empty() {
        "panic"
    } else if result.is_hang() {
        "hang"
    } else if result.timed_out() {
        "timeout"
    } else {
        "completed"
    };
    let binary = std::env::current_exe()
        .ok()
        .and_then(|exe| {
            exe.file_stem()
                .map(|stem| stem.to_string_lossy().into_owned())
        })
        .map(|stem| stem.split('-').next().unwrap_or_default().to_string())
        .unwrap_or_default();
    let test = std::thread::current().name().unwrap_or("?").to_string();
    // One write per line, appended: the tests of a binary run on several threads.
    let line = format!("{binary}\t{test}\t{}\t{outcome}\n", protocol.name());
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .expect("HANGSIM_SPEC_OUTCOMES names a file that can be appended to");
    file.write_all(line.as_bytes())
        .expect("the outcome line is written");
}

/// The one open obligation's fiber chain, as `(fiber name, object waited on, interruptible)`.
pub fn stuck_chain(result: &RunResult) -> Vec<(String, String, bool)> {
    let Some(open) = result
        .liveness
        .open_obligations
        .iter()
        .find(|o| o.kind == consumer::rt::ObligationKind::Request)
    else {
        return Vec::new();
    };
    result
        .liveness
        .wait_chain(open.fiber)
        .into_iter()
        .map(|waiting| {
            (
                waiting.name.clone(),
                waiting.waits_on.object.clone(),
                waiting.waits_on.interruptible,
            )
        })
        .collect()
}

/// Asserts the run completed with every obligation met and no panic.
pub fn assert_completed(result: &RunResult, context: &str) {
    assert!(sim::SIMULATED, "needs --cfg madsim");
    assert!(
        result.panics.is_empty(),
        "{context}: panic:\n{}",
        result.report()
    );
    assert!(!result.is_hang(), "{context}: hung:\n{}", result.report());
}

/// Asserts the run hung with a request still open for a command named `command` (for example
/// `RemoveSubscription`), whose caller's chain of waits ends on an object whose label starts
/// with `waits_on` (the command's own promise after a crash, `promise:runloop_done` when a race
/// waits for a runloop that is still alive).
pub fn assert_hangs_on(result: &RunResult, command: &str, waits_on: &str, context: &str) {
    assert!(
        result.is_hang(),
        "{context}: expected a hang:\n{}",
        result.report()
    );
    assert_stuck_on(result, command, waits_on, context);
}

/// Asserts that a request for `command` is still open at the run's end, its caller's chain of
/// waits ending on `waits_on`, whether the run was proven hung or stopped by its deadline while
/// other fibers still made progress (a `Timeout` by DESIGN 3.4: the stuck caller is stuck all
/// the same, but the rule cannot call the run a hang while something else progresses).
pub fn assert_stuck_on(result: &RunResult, command: &str, waits_on: &str, context: &str) {
    assert!(
        result.panics.is_empty(),
        "{context}: panic:\n{}",
        result.report()
    );
    let open = result
        .liveness
        .open_obligations
        .iter()
        .find(|o| o.kind == consumer::rt::ObligationKind::Request && o.label.starts_with(command))
        .unwrap_or_else(|| {
            panic!(
                "{context}: expected an open {command} request:\n{}",
                result.report()
            )
        });
    let chain = result.liveness.wait_chain(open.fiber);
    let end = chain
        .last()
        .unwrap_or_else(|| panic!("{context}: the caller is not waiting:\n{}", result.report()));
    assert!(
        end.waits_on.object.starts_with(waits_on),
        "{context}: the wait chain ends on {}, expected {waits_on}:\n{}",
        end.waits_on.object,
        result.report()
    );
    assert!(
        result.report().contains(&end.waits_on.object),
        "{context}: the report names it"
    );
}

/// The protocols that hang when a subscription ends while the runloop is alive: the
/// subscription finalizer races `{offer; promise.await}` against `runloop_done.await`
/// uninterruptibly, the reply wins, and the loser waits for a `runloop_done` that completes
/// only when the runloop stops, which the consumer scope does only after the subscription
/// scope has closed (DESIGN.md section 2, confirmed by the ports).
pub fn hangs_on_graceful_end(protocol: ShutdownProtocol) -> bool {
    matches!(
        protocol,
        ShutdownProtocol::CheckThenRace
            | ShutdownProtocol::RaceOnly
            | ShutdownProtocol::CheckOfferDrain
    )
}

/// Asserts the run's outcome under `protocol`: the graceful-end hang (stuck on
/// `RemoveSubscription`, waiting for `runloop_done`) for the protocols that have it, completion
/// otherwise. Returns whether the run completed, so that the caller checks the rest.
pub fn completed_unless_graceful_end_hangs(protocol: ShutdownProtocol, result: &RunResult) -> bool {
    if hangs_on_graceful_end(protocol) {
        assert_hangs_on(
            result,
            "RemoveSubscription",
            "promise:runloop_done",
            protocol.name(),
        );
        return false;
    }
    assert_completed(result, protocol.name());
    true
}

/// As [`completed_unless_graceful_end_hangs`], for a run in which another consumer goes on
/// making progress after the graceful-end hang: the stuck caller must be there, and the run is a
/// hang or, when the others never fall quiet, a timeout.
pub fn completed_unless_graceful_end_stalls(
    protocol: ShutdownProtocol,
    result: &RunResult,
) -> bool {
    if hangs_on_graceful_end(protocol) {
        assert!(
            result.is_hang() || result.timed_out(),
            "{protocol}: expected a hang or a timeout:\n{}",
            result.report()
        );
        assert_stuck_on(
            result,
            "RemoveSubscription",
            "promise:runloop_done",
            protocol.name(),
        );
        return false;
    }
    assert_completed(result, protocol.name());
    true
}

/// What a group spec body gets: the runtime and a cluster on which it starts full consumers
/// of one group, each with its own client, settings and scope.
#[derive(Clone)]
pub struct GroupSpec {
    pub rt: Rt,
    pub cluster: FakeCluster,
    pub protocol: ShutdownProtocol,
}

/// One full consumer of a group spec.
#[derive(Clone)]
pub struct Member {
    pub name: String,
    pub client: Rc<FakeConsumer>,
    pub consumer: Consumer,
    pub diagnostics: Diagnostics,
    pub scope: Scope,
}

impl Member {
    /// Closes the consumer's scope: its runloop stops, its client closes and leaves the group.
    pub async fn close(&self) -> Exit<(), ConsumerError> {
        self.scope
            .close(ExitKind::Success)
            .await
            .map_err(|cause| cause.map(|never| match never {}))
    }
}

impl GroupSpec {
    /// Starts a consumer named `name` (also its client's name) in a scope of its own, with the
    /// spec's protocol, `settings` applied to zio-kafka's defaults, and a client of `config`.
    pub async fn member(
        &self,
        name: &str,
        settings: impl FnOnce(ConsumerSettings) -> ConsumerSettings,
        config: ClientConfig,
    ) -> Exit<Member, ConsumerError> {
        let settings = settings(ConsumerSettings::default().with_protocol(self.protocol));
        let client = self.cluster.client(config.with_name(name));
        let diagnostics = Diagnostics::new(&self.rt);
        let scope = Scope::new(&self.rt, format!("consumer_scope:{name}"));
        let as_client: Rc<dyn KafkaClient> = client.clone();
        let consumer =
            Consumer::make(&self.rt, settings, as_client, diagnostics.clone(), &scope).await?;
        Ok(Member {
            name: name.to_string(),
            client,
            consumer,
            diagnostics,
            scope,
        })
    }
}

/// Runs `body` on a fresh cluster for full consumers under `protocol` (seed 1, calm
/// scheduling). A body that fails is a finding: it becomes a panic of the run.
pub fn with_group<F, Fut>(protocol: ShutdownProtocol, body: F) -> RunResult
where
    F: FnOnce(GroupSpec) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Exit<(), ConsumerError>> + 'static,
{
    let result = run(&spec_config(1), move |rt| async move {
        let cluster = FakeCluster::new(&rt);
        let call = rt.obligation(consumer::rt::ObligationKind::UserCall, "spec body");
        let exit = body(GroupSpec {
            rt: rt.clone(),
            cluster,
            protocol,
        })
        .await;
        if let Err(cause) = exit {
            panic!("the spec body failed: {cause}");
        }
        call.close();
    });
    note_outcome(protocol, &result);
    result
}
