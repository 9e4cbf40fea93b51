//! The consumer core: a port of zio-kafka's consumer internals
//! (`zio-kafka/src/main/scala/zio/kafka/consumer/internal/`), written only against
//! [`crate::rt`] and [`crate::kafka`].
//!
//! Map, by zio-kafka name:
//! - [`runloop`]: `Runloop` (the loop, `handleCommand`, `handlePoll`, `shouldPoll`, the crash
//!   handler) and its `State`.
//! - [`command`] holds `RunloopCommand`.
//! - [`protocol`]: the seven `ShutdownProtocol`s: `offerAndAwaitCommand` and the crash and exit
//!   hooks of each, side by side.
//! - [`access`]: `RunloopAccess` and `StreamControl`.
//! - [`partition_stream`]: `PartitionStreamControl`, the partition stream, `CommittableRecord`.
//! - [`committer`]: `LiveCommitter`. [`rebalance`]: `RebalanceCoordinator`. [`listener`]: the
//!   user's `RebalanceListener`. [`consumer_access`]: `ConsumerAccess` (the client behind a fair
//!   lock, `wakeup` on interrupted calls).
//! - [`consumer`]: `Consumer` (`make`, `consumeWith`, `partitionedStream`, `plainStream`,
//!   `stopConsumption`).
//! - [`settings`]: `ConsumerSettings` with zio-kafka's defaults, `OffsetRetrieval`. [`diagnostics`]:
//!   `DiagnosticEvent`. [`error`]: the failures. [`subscription`]: `Subscription.unionAll`.

pub mod access;
pub mod command;
pub mod committer;
pub mod consumer;
pub mod consumer_access;
pub mod diagnostics;
pub mod error;
pub mod labels;
pub mod listener;
pub mod partition_stream;
pub mod protocol;
pub mod rebalance;
pub mod runloop;
pub mod settings;
pub mod subscription;

pub use access::{RunloopAccess, StreamControl};
pub use command::RunloopCommand;
pub use consumer::{Consumer, PartitionedStream, PlainStream, RecordHandler};
pub use consumer_access::ConsumerAccess;
pub use diagnostics::{DiagnosticEvent, Diagnostics};
pub use error::ConsumerError;
pub use listener::{ListenerCallback, ListenerFuture, UserRebalanceListener};
pub use partition_stream::{CommittableRecord, PartitionStream, PartitionStreamControl};
pub use protocol::{EndStep, RequestChannel, ShutdownProtocol};
pub use runloop::{PartitionsTake, Runloop};
pub use settings::{ConsumerSettings, GetOffsets, OffsetRetrieval};
