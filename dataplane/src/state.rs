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
//!
//! The reaper polls its channel every [`REAP_INTERVAL`] instead of blocking
//! on it. A blocked receiver makes every send wake a parked thread, a
//! system call that cost `publish` more than the swap itself, so a send to
//! a polling receiver only links the snapshot into the channel.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{self, Receiver, Sender, TryRecvError};
use std::thread::JoinHandle;
use std::time::Duration;

use arc_swap::ArcSwap;
use portcullis_compiler::{Compiled, Diagnostic, Snapshot, compile};

/// How often the reaper takes newly retired snapshots from its channel and
/// frees those that no request uses any more. A retired snapshot is freed
/// within about this time after the last request using it ends.
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
            // Cuts the reaper's current wait short, so dropping a store does
            // not take up to a whole reap interval.
            thread.thread().unpark();
            let _ = thread.join();
        }
    }
}

/// Body of the `snapshot-reaper` thread: keeps retired snapshots until the
/// reaper holds the only reference, then drops them. Stops once every
/// sender is gone, at the latest one [`REAP_INTERVAL`] later.
fn reap<T>(receiver: Receiver<Arc<T>>) {
    let mut retired: Vec<Arc<T>> = Vec::new();
    loop {
        std::thread::park_timeout(REAP_INTERVAL);

        let open = receive_retired(&receiver, &mut retired);
        // `retain` drops the removed elements here, on this thread.
        retired.retain(|snapshot| Arc::strong_count(snapshot) > 1);
        if !open {
            return;
        }
    }
}

/// Moves every queued snapshot into `retired` without blocking. Returns
/// false once the channel is closed and empty.
fn receive_retired<T>(receiver: &Receiver<Arc<T>>, retired: &mut Vec<Arc<T>>) -> bool {
    loop {
        match receiver.try_recv() {
            Ok(snapshot) => retired.push(snapshot),
            Err(TryRecvError::Empty) => return true,
            Err(TryRecvError::Disconnected) => return false,
        }
    }
}

#[cfg(test)]
#[path = "state_tests.rs"]
mod tests;
