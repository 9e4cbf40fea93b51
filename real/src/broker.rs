//! Brokers a real run talks to: librdkafka's mock cluster in this process, or a real
//! Kafka-compatible broker at an address (Tansu from `scripts/tansu.sh`, or any other).
//!
//! The mock cluster is set up for quick, repeatable runs (reference notes, 2.6): three
//! brokers; every partition of topic `topicN` led by broker `N % 2 + 1` and the group
//! coordinator on broker 3, so that a Fetch error injected on one topic's broker leaves the
//! other topic alone; and no initial rebalance delay (3 s by default). What the safe API lacks
//! is reached through the raw bindings.
//!
//! The faults a broker can produce ([`Fault`]); a real broker produces none of them on demand,
//! so a scenario with faults is refused there ([`Broker::check_faults`]).

use std::ffi::CString;
use std::time::Duration;

use rdkafka::bindings as rdsys;
use rdkafka::producer::{BaseProducer, BaseRecord, Producer};
use rdkafka::types::{RDKafkaApiKey, RDKafkaRespErr};
use rdkafka::ClientConfig;

/// The mock cluster's size: two partition leaders and a coordinator.
const MOCK_BROKERS: i32 = 3;
/// The mock broker that coordinates every group.
const COORDINATOR: i32 = 3;
/// Errors pushed on a broker's stack to deny READ "from now on": each Fetch request takes one,
/// and a run makes a few per second per broker.
const DENIAL_DEPTH: usize = 20_000;

/// A fault a broker may be asked to produce during a run.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Fault {
    /// Fetches of `topic` fail with TOPIC_AUTHORIZATION_FAILED from now on.
    DenyRead { topic: String },
    /// Every broker stops answering.
    BrokersDown,
    /// Every broker answers again.
    BrokersUp,
    /// Every request takes this long.
    RoundTripDelay(Duration),
}

/// Where the run's topics live.
pub enum Broker {
    /// librdkafka's mock cluster, owned by a producer of this process.
    Mock(MockBroker),
    /// A broker at `bootstrap` (HOST:PORT).
    External {
        bootstrap: String,
        producer: BaseProducer,
    },
}

/// librdkafka's mock cluster, created by (and living as long as) a producer.
pub struct MockBroker {
    producer: BaseProducer,
    cluster: *mut rdsys::rd_kafka_mock_cluster_t,
    bootstrap: String,
}

impl Broker {
    /// A fresh mock cluster.
    pub fn mock() -> Result<Broker, String> {
        let producer: BaseProducer = ClientConfig::new()
            .set("test.mock.num.brokers", MOCK_BROKERS.to_string())
            .set("linger.ms", "0")
            .create()
            .map_err(|error| format!("cannot start librdkafka's mock cluster: {error}"))?;
        // SAFETY: the producer was created with test.mock.num.brokers, so it owns a cluster
        // that lives as long as the producer, which `MockBroker` keeps.
        let cluster =
            unsafe { rdsys::rd_kafka_handle_mock_cluster(producer.client().native_ptr()) };
        if cluster.is_null() {
            return Err("librdkafka made no mock cluster".into());
        }
        let bootstrap = producer
            .client()
            .mock_cluster()
            .map(|mock| mock.bootstrap_servers())
            .ok_or("librdkafka made no mock cluster")?;
        // SAFETY: valid cluster; the first join otherwise waits 3 s for more members.
        unsafe { rdsys::rd_kafka_mock_group_initial_rebalance_delay_ms(cluster, 0) };
        Ok(Broker::Mock(MockBroker {
            producer,
            cluster,
            bootstrap,
        }))
    }

    /// A broker at `bootstrap`; topics must be creatable there (auto-creation, or `create`).
    pub fn external(bootstrap: &str) -> Result<Broker, String> {
        let producer: BaseProducer = ClientConfig::new()
            .set("bootstrap.servers", bootstrap)
            .set("linger.ms", "0")
            .create()
            .map_err(|error| format!("cannot make a producer for {bootstrap}: {error}"))?;
        Ok(Broker::External {
            bootstrap: bootstrap.to_string(),
            producer,
        })
    }

    /// What clients connect to.
    pub fn bootstrap(&self) -> &str {
        match self {
            Broker::Mock(mock) => &mock.bootstrap,
            Broker::External { bootstrap, .. } => bootstrap,
        }
    }

    /// Whether this broker can produce every fault in `faults`; the error names the first it
    /// cannot.
    pub fn check_faults<'a>(
        &self,
        faults: impl IntoIterator<Item = &'a Fault>,
    ) -> Result<(), String> {
        match self {
            Broker::Mock(_) => Ok(()),
            Broker::External { bootstrap, .. } => match faults.into_iter().next() {
                Some(fault) => Err(format!(
                    "the broker at {bootstrap} cannot produce {fault:?} on demand (only the mock cluster injects faults)"
                )),
                None => Ok(()),
            },
        }
    }

    /// Creates `topic` with `partitions` partitions (pinning leaders on the mock cluster).
    /// `index` is the topic's place in the scenario, which picks its leader.
    pub fn create_topic(
        &self,
        topic: &str,
        index: usize,
        partitions: i32,
        group: &str,
    ) -> Result<(), String> {
        match self {
            Broker::Mock(mock) => mock.create_topic(topic, index, partitions, group),
            Broker::External { bootstrap, .. } => {
                create_topic_with_admin(bootstrap, topic, partitions)
            }
        }
    }

    /// Produces `records` records on each partition of `topic`: keys `k{n}`, values
    /// `{topic}-{partition}-{n}`, as the simulator's catalogue does.
    pub fn produce(&self, topic: &str, partitions: i32, records: u32) -> Result<(), String> {
        let producer = match self {
            Broker::Mock(mock) => &mock.producer,
            Broker::External { producer, .. } => producer,
        };
        for partition in 0..partitions {
            for n in 0..records {
                let key = format!("k{n}");
                let value = format!("{topic}-{partition}-{n}");
                producer
                    .send(
                        BaseRecord::to(topic)
                            .partition(partition)
                            .key(&key)
                            .payload(&value),
                    )
                    .map_err(|(error, _)| format!("producing to {topic}: {error}"))?;
            }
        }
        producer
            .flush(Duration::from_secs(30))
            .map_err(|error| format!("flushing records to {topic}: {error}"))
    }

    /// Produces a fault now. Refused for a broker that cannot.
    pub fn apply(&self, fault: &Fault, topic_index: impl Fn(&str) -> usize) -> Result<(), String> {
        match self {
            Broker::Mock(mock) => mock.apply(fault, topic_index),
            Broker::External { .. } => self.check_faults([fault]),
        }
    }
}

impl MockBroker {
    fn leader_of(index: usize) -> i32 {
        (index % 2) as i32 + 1
    }

    fn create_topic(
        &self,
        topic: &str,
        index: usize,
        partitions: i32,
        group: &str,
    ) -> Result<(), String> {
        let name = CString::new(topic).map_err(|_| format!("bad topic name {topic:?}"))?;
        // SAFETY: valid cluster and name for the duration of each call.
        unsafe {
            check(
                rdsys::rd_kafka_mock_topic_create(self.cluster, name.as_ptr(), partitions, 1),
                "create topic",
            )?;
            for partition in 0..partitions {
                check(
                    rdsys::rd_kafka_mock_partition_set_leader(
                        self.cluster,
                        name.as_ptr(),
                        partition,
                        Self::leader_of(index),
                    ),
                    "pin partition leader",
                )?;
            }
            let key_type = CString::new("group").expect("no NUL");
            let key = CString::new(group).map_err(|_| format!("bad group name {group:?}"))?;
            check(
                rdsys::rd_kafka_mock_coordinator_set(
                    self.cluster,
                    key_type.as_ptr(),
                    key.as_ptr(),
                    COORDINATOR,
                ),
                "pin group coordinator",
            )?;
        }
        Ok(())
    }

    fn apply(&self, fault: &Fault, topic_index: impl Fn(&str) -> usize) -> Result<(), String> {
        // SAFETY: valid cluster for every call.
        unsafe {
            match fault {
                Fault::DenyRead { topic } => {
                    let broker = Self::leader_of(topic_index(topic));
                    for _ in 0..DENIAL_DEPTH {
                        check(
                            rdsys::rd_kafka_mock_broker_push_request_error_rtts(
                                self.cluster,
                                broker,
                                RDKafkaApiKey::Fetch as i16,
                                1,
                                RDKafkaRespErr::RD_KAFKA_RESP_ERR_TOPIC_AUTHORIZATION_FAILED,
                                0 as std::ffi::c_int,
                            ),
                            "push Fetch error",
                        )?;
                    }
                }
                Fault::BrokersDown => {
                    for broker in 1..=MOCK_BROKERS {
                        check(
                            rdsys::rd_kafka_mock_broker_set_down(self.cluster, broker),
                            "broker down",
                        )?;
                    }
                }
                Fault::BrokersUp => {
                    for broker in 1..=MOCK_BROKERS {
                        check(
                            rdsys::rd_kafka_mock_broker_set_up(self.cluster, broker),
                            "broker up",
                        )?;
                    }
                }
                Fault::RoundTripDelay(delay) => {
                    for broker in 1..=MOCK_BROKERS {
                        check(
                            rdsys::rd_kafka_mock_broker_set_rtt(
                                self.cluster,
                                broker,
                                delay.as_millis().min(i32::MAX as u128) as std::ffi::c_int,
                            ),
                            "round-trip delay",
                        )?;
                    }
                }
            }
        }
        Ok(())
    }
}

fn check(error: RDKafkaRespErr, what: &str) -> Result<(), String> {
    if error == RDKafkaRespErr::RD_KAFKA_RESP_ERR_NO_ERROR {
        Ok(())
    } else {
        Err(format!("mock cluster: {what}: {error:?}"))
    }
}

/// Creates a topic on a real broker with rdkafka's admin client (an existing topic is fine).
fn create_topic_with_admin(bootstrap: &str, topic: &str, partitions: i32) -> Result<(), String> {
    use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
    use rdkafka::client::DefaultClientContext;
    let admin: AdminClient<DefaultClientContext> = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .map_err(|error| format!("admin client for {bootstrap}: {error}"))?;
    let topics = [NewTopic::new(topic, partitions, TopicReplication::Fixed(1))];
    let options = AdminOptions::new().operation_timeout(Some(Duration::from_secs(10)));
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|error| error.to_string())?;
    let results = runtime
        .block_on(admin.create_topics(&topics, &options))
        .map_err(|error| format!("creating {topic} on {bootstrap}: {error}"))?;
    for result in results {
        match result {
            Ok(_) => {}
            Err((_, rdkafka::types::RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(format!("creating {name} on {bootstrap}: {code}")),
        }
    }
    Ok(())
}
