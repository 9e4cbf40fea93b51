//! [`Ref`]: a mutable cell shared by fibers (ZIO `Ref`). Each access is one atomic step and a
//! scheduling point, so the simulated runtime can interleave other fibers between a `get` and
//! a later `set`, as it could in ZIO.

use std::cell::RefCell;
use std::rc::Rc;

use super::{Interrupted, ObjectRef, Rt};

/// A shared mutable cell. Cloning shares it.
pub struct Ref<T> {
    inner: Rc<(ObjectRef, RefCell<T>)>,
    rt: Rt,
}

impl<T> Clone for Ref<T> {
    fn clone(&self) -> Self {
        Ref {
            inner: self.inner.clone(),
            rt: self.rt.clone(),
        }
    }
}

impl<T> Ref<T> {
    /// A new cell labelled `label` in reports.
    pub fn new(rt: &Rt, label: impl Into<Rc<str>>, value: T) -> Self {
        Ref {
            inner: Rc::new((rt.object("ref", label), RefCell::new(value))),
            rt: rt.clone(),
        }
    }

    /// Reads the value.
    pub async fn get(&self) -> Result<T, Interrupted>
    where
        T: Clone,
    {
        self.modify(|value| (value.clone(), None)).await
    }

    /// Replaces the value.
    pub async fn set(&self, value: T) -> Result<(), Interrupted> {
        self.modify(|_| ((), Some(value))).await
    }

    /// Applies `f` to the value in one step.
    pub async fn update(&self, f: impl FnOnce(&T) -> T) -> Result<(), Interrupted> {
        self.modify(|value| ((), Some(f(value)))).await
    }

    /// Computes a result and, optionally, a new value, in one step (ZIO `modify`).
    pub async fn modify<R>(&self, f: impl FnOnce(&T) -> (R, Option<T>)) -> Result<R, Interrupted> {
        self.rt.checkpoint().await?;
        let (result, replacement) = f(&self.inner.1.borrow());
        let changed = replacement.is_some();
        if let Some(value) = replacement {
            *self.inner.1.borrow_mut() = value;
        }
        self.rt
            .observe_op(&self.inner.0, "ref.modify", changed as u64);
        Ok(result)
    }
}
