//! [`Scope`]: finalizers run on close, in reverse order of addition, uninterruptibly (ZIO
//! `Scope`), and [`Rt::scoped`] (ZIO `ZIO.scoped`).
//!
//! As in ZIO: closing runs every finalizer even when one fails, and reports the first failure;
//! a finalizer added to a closed scope runs at once; the whole close is one uninterruptible
//! region, so a finalizer that waits on something nobody completes waits forever, whoever tries
//! to interrupt it. That is the heart of zio-kafka's hang.

use std::cell::{Cell, RefCell};
use std::convert::Infallible;
use std::future::Future;
use std::rc::Rc;

use super::{Cause, Exit, ExitKind, Interrupted, LocalBoxFuture, ObjectRef, Releasable, Rt};

/// What a finalizer returns: it cannot fail with a typed error, only die or be interrupted.
pub type FinalizerExit = Result<(), Cause<Infallible>>;

type Finalizer = Box<dyn FnOnce(ExitKind) -> LocalBoxFuture<FinalizerExit>>;

/// A set of finalizers. Cloning shares it.
#[derive(Clone)]
pub struct Scope {
    inner: Rc<ScopeInner>,
    rt: Rt,
}

struct ScopeInner {
    object: ObjectRef,
    finalizers: RefCell<Vec<(Rc<str>, Finalizer)>>,
    closed_with: Cell<Option<ExitKind>>,
}

impl Scope {
    /// A new, open scope labelled `label` in reports (for example `consumer_scope`).
    pub fn new(rt: &Rt, label: impl Into<Rc<str>>) -> Scope {
        let inner = Rc::new(ScopeInner {
            object: rt.object("scope", label),
            finalizers: RefCell::new(Vec::new()),
            closed_with: Cell::new(None),
        });
        let weak: std::rc::Weak<dyn Releasable> = Rc::downgrade(&inner) as _;
        rt.register(weak);
        Scope {
            inner,
            rt: rt.clone(),
        }
    }

    /// The scope's object, for reports.
    pub fn object(&self) -> &ObjectRef {
        &self.inner.object
    }

    /// Adds a finalizer named `name`, run with the scope's exit when it closes (ZIO
    /// `addFinalizerExit`). On a closed scope it runs at once, uninterruptibly.
    pub async fn add_finalizer<F, Fut>(&self, name: &str, finalizer: F) -> Result<(), Interrupted>
    where
        F: FnOnce(ExitKind) -> Fut + 'static,
        Fut: Future<Output = FinalizerExit> + 'static,
    {
        self.rt.checkpoint().await?;
        let boxed: Finalizer = Box::new(move |exit| Box::pin(finalizer(exit)));
        self.rt
            .observe_op(&self.inner.object, "scope.add_finalizer", 0);
        match self.inner.closed_with.get() {
            None => {
                self.inner
                    .finalizers
                    .borrow_mut()
                    .push((name.into(), boxed));
            }
            Some(exit) => {
                let _ = self.rt.uninterruptible(run_finalizer(boxed, exit)).await;
            }
        }
        Ok(())
    }

    /// Closes the scope: runs the finalizers in reverse order of addition, uninterruptibly, and
    /// returns the first failure. A second close does nothing.
    pub async fn close(&self, exit: ExitKind) -> FinalizerExit {
        self.rt
            .uninterruptible(async {
                self.rt.checkpoint().await?;
                if self.inner.closed_with.get().is_some() {
                    return Ok(());
                }
                self.inner.closed_with.set(Some(exit));
                self.rt
                    .observe_op(&self.inner.object, "scope.close", exit.code());
                let finalizers = std::mem::take(&mut *self.inner.finalizers.borrow_mut());
                let mut first_failure = Ok(());
                for (index, (_name, finalizer)) in finalizers.into_iter().enumerate().rev() {
                    self.rt
                        .observe_op(&self.inner.object, "scope.finalizer", index as u64);
                    let result = run_finalizer(finalizer, exit).await;
                    if first_failure.is_ok() {
                        first_failure = result;
                    }
                }
                first_failure
            })
            .await
    }
}

async fn run_finalizer(finalizer: Finalizer, exit: ExitKind) -> FinalizerExit {
    finalizer(exit).await
}

impl Rt {
    /// Runs `effect` with a fresh scope and closes the scope with the effect's exit when it
    /// ends (ZIO `ZIO.scoped`). The effect runs in the caller's region; the close runs
    /// uninterruptibly. A finalizer's failure replaces a success, never a failure.
    pub async fn scoped<A, E, F, Fut>(&self, label: &str, effect: F) -> Exit<A, E>
    where
        F: FnOnce(Scope) -> Fut,
        Fut: Future<Output = Exit<A, E>>,
    {
        let scope = Scope::new(self, label);
        let exit = effect(scope.clone()).await;
        let closed = scope.close(ExitKind::of(&exit)).await;
        match (exit, closed) {
            (Ok(value), Ok(())) => Ok(value),
            (Ok(_), Err(cause)) => Err(cause.map(|never| match never {})),
            (Err(cause), _) => Err(cause),
        }
    }
}

impl Releasable for ScopeInner {
    fn release(&self) {
        self.finalizers.borrow_mut().clear();
    }
}
