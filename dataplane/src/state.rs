//! The current snapshot, swapped atomically.
//!
//! Requests load the current snapshot once and keep it to the end, so a
//! swap never changes the table under a request in flight. Retired
//! snapshots are dropped on a background thread once no request holds
//! them, because freeing a large table takes milliseconds that must not
//! land on a request.
//!
//! Invariant: every snapshot that [`SnapshotStore::publish`] retires goes
//! to the `snapshot-reaper` thread, which holds one reference until it is
//! the only holder and then drops it. So the last reference, and with it
//! the free, is always on the reaper, never on a request thread or in
//! `publish`. The exceptions are shutdown paths: the snapshot that is
//! current when the store itself is dropped, and retired snapshots still
//! held by a request when the reaper stops, are freed by their last holder.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError, Sender};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_compiler::{Compiled, Diagnostic, Snapshot, compile};

/// How often the reaper checks retired snapshots that requests still hold.
const REAP_INTERVAL: Duration = Duration::from_millis(50);

/// A snapshot as served, with the diagnostics of the compile that made it.
#[derive(Debug)]
pub struct Published {
    /// The snapshot.
    pub snapshot: Snapshot,
    /// Diagnostics of the compile, for `/config`.
    pub diagnostics: Vec<Diagnostic>,
    /// Count of snapshots published by this process, starting at 1; 0 is
    /// the empty snapshot the store starts with.
    pub generation: u64,
}

/// Holds the current snapshot. Cheap to share: clone the `Arc`.
#[derive(Debug)]
pub struct SnapshotStore {
    current: ArcSwap<Published>,
    ready: AtomicBool,
    generation: AtomicU64,
    // `Option`s only so that `Drop` can close the channel before joining.
    reaper: Option<Sender<Arc<Published>>>,
    reaper_thread: Option<JoinHandle<()>>,
}

// === impl SnapshotStore ===

impl SnapshotStore {
    /// Creates a store serving an empty snapshot, not ready, and starts the
    /// `snapshot-reaper` thread.
    ///
    /// # Panics
    /// Panics when the operating system cannot start a thread.
    pub fn new() -> Self {
        let Compiled {
            snapshot,
            diagnostics,
        } = compile(&[]);
        let empty = Published {
            snapshot,
            diagnostics,
            generation: 0,
        };

        let (sender, receiver) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("snapshot-reaper".to_owned())
            .spawn(move || reap(receiver))
            .expect("the OS can start the snapshot-reaper thread");

        Self {
            current: ArcSwap::from_pointee(empty),
            ready: AtomicBool::new(false),
            generation: AtomicU64::new(0),
            reaper: Some(sender),
            reaper_thread: Some(thread),
        }
    }

    /// Returns the current snapshot; the caller keeps it for the whole
    /// request. Takes no lock.
    pub fn load(&self) -> Arc<Published> {
        self.current.load_full()
    }

    /// Swaps in a new snapshot, marks the store ready and returns the new
    /// generation. The retired snapshot is handed to the reaper, so this
    /// call never frees a table.
    pub fn publish(&self, snapshot: Snapshot, diagnostics: Vec<Diagnostic>) -> u64 {
        let generation = self.generation.fetch_add(1, Ordering::AcqRel) + 1;
        let next = Arc::new(Published {
            snapshot,
            diagnostics,
            generation,
        });

        let retired = self.current.swap(next);
        self.ready.store(true, Ordering::Release);
        self.retire(retired);
        generation
    }

    /// Whether a snapshot from configuration has been published.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    fn retire(&self, retired: Arc<Published>) {
        if let Some(sender) = &self.reaper {
            // A send fails only after the reaper has stopped. The snapshot then
            // comes back in the error and is freed here, which is the shutdown
            // exception documented above.
            let _ = sender.send(retired);
        }
    }
}

impl Default for SnapshotStore {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for SnapshotStore {
    fn drop(&mut self) {
        drop(self.reaper.take());
        if let Some(thread) = self.reaper_thread.take() {
            let _ = thread.join();
        }
    }
}

/// Body of the `snapshot-reaper` thread: keeps retired snapshots until the
/// reaper holds the only reference, then drops them. Stops when the store
/// is dropped.
fn reap<T>(receiver: Receiver<Arc<T>>) {
    let mut retired: Vec<Arc<T>> = Vec::new();
    loop {
        let message = if retired.is_empty() {
            receiver.recv().map_err(|_| RecvTimeoutError::Disconnected)
        } else {
            receiver.recv_timeout(REAP_INTERVAL)
        };
        match message {
            Ok(snapshot) => retired.push(snapshot),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }

        // `retain` drops the removed elements here, on this thread.
        retired.retain(|snapshot| Arc::strong_count(snapshot) > 1);
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
