//! The current snapshot, swapped atomically.
//!
//! Requests load the current snapshot once and keep it to the end, so a
//! swap never changes the table under a request in flight. Retired
//! snapshots are dropped on a background thread once no request holds
//! them, because freeing a large table takes milliseconds that must not
//! land on a request.

use std::sync::Arc;

use portcullis_compiler::{Diagnostic, Snapshot};

/// A snapshot as served, with the diagnostics of the compile that made it.
#[derive(Debug)]
pub struct Published {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Diagnostics of the compile, for `/config`.
    pub diagnostics: Vec<Diagnostic>,
    /// Count of snapshots published by this process, starting at 1.
    pub generation: u64,
}

/// Holds the current snapshot. Cheap to share: clone the `Arc`.
#[derive(Debug)]
pub struct SnapshotStore {
    // ArcSwap of Arc<Published>, readiness flag, retired-snapshot queue.
}

impl SnapshotStore {
    /// Returns the current snapshot; the caller keeps it for the whole
    /// request. Takes no lock.
    pub fn load(&self) -> Arc<Published> {
        todo!()
    }

    /// Swaps in a new snapshot and returns its generation.
    pub fn publish(&self, snapshot: Snapshot, diagnostics: Vec<Diagnostic>) -> u64 {
        let _ = (snapshot, diagnostics);
        todo!()
    }

    /// Whether a snapshot from configuration has been published.
    pub fn is_ready(&self) -> bool {
        todo!()
    }
}
