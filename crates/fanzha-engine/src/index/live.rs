//! The current snapshot, swapped atomically. Readers take the snapshot that
//! is current when they start and keep it for as long as they hold it; a
//! writer that swaps a new one in never waits for them, nor they for it.

use std::fmt;
use std::sync::Arc;

use arc_swap::ArcSwap;
use fanzha_core::IndicatorKind;

use super::snapshot::{Hit, IndexSnapshot};

pub struct LiveIndex {
    current: ArcSwap<IndexSnapshot>,
}

impl LiveIndex {
    pub fn new(snapshot: IndexSnapshot) -> LiveIndex {
        LiveIndex {
            current: ArcSwap::from_pointee(snapshot),
        }
    }

    pub fn from_arc(snapshot: Arc<IndexSnapshot>) -> LiveIndex {
        LiveIndex {
            current: ArcSwap::new(snapshot),
        }
    }

    /// The current snapshot, to keep across several lookups.
    pub fn snapshot(&self) -> Arc<IndexSnapshot> {
        self.current.load_full()
    }

    /// Runs `f` on the current snapshot without touching its reference count.
    pub fn with_snapshot<R>(&self, f: impl FnOnce(&IndexSnapshot) -> R) -> R {
        f(&self.current.load())
    }

    /// Puts `next` in place; returns the snapshot it replaced. Lookups that
    /// started earlier finish on the old one.
    pub fn replace(&self, next: IndexSnapshot) -> Arc<IndexSnapshot> {
        self.current.swap(Arc::new(next))
    }

    pub fn replace_arc(&self, next: Arc<IndexSnapshot>) -> Arc<IndexSnapshot> {
        self.current.swap(next)
    }

    /// [`IndexSnapshot::lookup`] on the current snapshot.
    pub fn lookup(&self, kind: IndicatorKind, value: &str) -> Vec<Hit> {
        self.current.load().lookup(kind, value)
    }

    /// [`IndexSnapshot::for_each_hit`] on the current snapshot.
    pub fn for_each_hit(&self, kind: IndicatorKind, value: &str, f: impl FnMut(Hit)) -> usize {
        self.current.load().for_each_hit(kind, value, f)
    }
}

impl Default for LiveIndex {
    fn default() -> Self {
        LiveIndex::new(IndexSnapshot::empty())
    }
}

impl fmt::Debug for LiveIndex {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LiveIndex")
            .field("current", &**self.current.load())
            .finish()
    }
}
