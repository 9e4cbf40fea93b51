//! The labels of the runloop's objects, owned here so that reports and invariants outside this
//! crate name them by constant instead of retyping the text.
//!
//! Labels are part of every trace hash (the observer folds them in), so their text must not
//! change: committed fixtures pin trace hashes.

/// The runloop's command queue, which every request is offered to.
pub const COMMAND_QUEUE: &str = "command_queue";

/// The promise the runloop completes when it ends (`runloop_done`).
pub const RUNLOOP_DONE: &str = "promise:runloop_done";

/// What a command's reply promise label starts with; the rest is the command's name
/// (`promise:RemoveSubscription#7`).
pub const PROMISE_PREFIX: &str = "promise:";

/// The reply promise label of the command named `command`.
pub fn promise_label(command: &str) -> String {
    [PROMISE_PREFIX, command].concat()
}

/// What the defect of offering records to a partition stream that has ended says after the
/// partition's name (zio-kafka's `IllegalStateException` text). The runloop dies of it; the
/// `no-records-after-end` invariant recognises the runloop's cause by it.
pub const RECORDS_AFTER_END: &str = "has already ended, cannot offer more records";

/// The progress mark of a record handed to the user's handler ([`crate::rt::Rt::progress`]).
pub const RECORD_REACHED_HANDLER: &str = "a record reached its handler";

/// The progress mark of a commit that completed successfully.
pub const COMMIT_COMPLETED: &str = "a commit completed";
