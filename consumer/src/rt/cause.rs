//! How a fiber or an effect ends: [`Exit`] and [`Cause`], after ZIO's `Exit` and `Cause`.

use std::fmt;
use std::rc::Rc;

use super::FiberId;

/// An interruption delivered to the current fiber, or an operation refused because its object
/// was shut down (ZIO answers both with `ZIO.interrupt`). `by` is the fiber that asked for it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Interrupted {
    pub by: FiberId,
}

/// Why an effect did not succeed, after ZIO's `Cause` (without its `Both`/`Then` tree: one
/// cause is enough for the consumer core).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Cause<E> {
    /// A typed failure (ZIO `Cause.Fail`).
    Fail(E),
    /// A defect (ZIO `Cause.Die`): in Rust, a panic caught at the fiber's boundary, or an
    /// `.orDie` of a failure. The text says what died.
    Die(Rc<str>),
    /// Interruption by the given fiber (ZIO `Cause.Interrupt`).
    Interrupt(FiberId),
    /// The fiber's process was killed by fiber `by` ([`Rt::kill_process`](super::Rt::kill_process)):
    /// the fiber stopped where it was, without finalizers. ZIO has no such cause, since a
    /// process that dies takes its callers with it; only a fiber outside the process (the
    /// simulation's driver, standing for the world around it) can see it, when it joins one.
    Killed { by: FiberId },
}

/// The result of an effect or a fiber (ZIO `Exit[E, A]`).
pub type Exit<A, E> = Result<A, Cause<E>>;

impl<E> From<Interrupted> for Cause<E> {
    fn from(interrupted: Interrupted) -> Self {
        Cause::Interrupt(interrupted.by)
    }
}

impl<E> Cause<E> {
    /// Whether this cause is an interruption.
    pub fn is_interrupt(&self) -> bool {
        matches!(self, Cause::Interrupt(_))
    }

    /// The typed failure, if any.
    pub fn failure(&self) -> Option<&E> {
        match self {
            Cause::Fail(error) => Some(error),
            _ => None,
        }
    }

    /// Maps the typed failure, keeping defects and interruptions.
    pub fn map<F>(self, f: impl FnOnce(E) -> F) -> Cause<F> {
        match self {
            Cause::Fail(error) => Cause::Fail(f(error)),
            Cause::Die(text) => Cause::Die(text),
            Cause::Interrupt(by) => Cause::Interrupt(by),
            Cause::Killed { by } => Cause::Killed { by },
        }
    }

    /// The coarse kind of this cause, for events and reports.
    pub fn kind(&self) -> ExitKind {
        match self {
            Cause::Fail(_) => ExitKind::Failure,
            Cause::Die(_) => ExitKind::Die,
            Cause::Interrupt(_) => ExitKind::Interrupt,
            Cause::Killed { .. } => ExitKind::Killed,
        }
    }
}

impl<E: fmt::Display> fmt::Display for Cause<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Cause::Fail(error) => write!(f, "failed: {error}"),
            Cause::Die(text) => write!(f, "died: {text}"),
            Cause::Interrupt(by) => write!(f, "interrupted by {by}"),
            Cause::Killed { by } => write!(f, "killed with its process by {by}"),
        }
    }
}

/// The coarse kind of an exit, without its values: what events, traces and finalizers see.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExitKind {
    Success,
    Failure,
    Die,
    Interrupt,
    /// The fiber's process was killed: it never ended by itself.
    Killed,
}

impl ExitKind {
    /// The kind of an exit.
    pub fn of<A, E>(exit: &Exit<A, E>) -> ExitKind {
        match exit {
            Ok(_) => ExitKind::Success,
            Err(cause) => cause.kind(),
        }
    }

    /// A stable small number for trace hashing.
    pub fn code(self) -> u64 {
        self as u64
    }
}

impl fmt::Display for ExitKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            ExitKind::Success => "success",
            ExitKind::Failure => "failure",
            ExitKind::Die => "defect",
            ExitKind::Interrupt => "interruption",
            ExitKind::Killed => "killed",
        })
    }
}
