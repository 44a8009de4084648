//! Splits compile work across threads: validation by Route, the entries,
//! rules and tries of the table build, shadowing by match and the two
//! large sorts in chunks, and the version hash beside the table build.
//!
//! Each split runs its work on the calling thread when a thread cannot be
//! started, so a compile does not fail because no thread could start.

use std::num::NonZeroUsize;
use std::sync::{Mutex, PoisonError};
use std::thread;

/// Maximum threads one compile uses, however many processors there are.
const MAX_THREADS: usize = 4;

/// Minimum items per thread. With fewer, starting a thread costs more than
/// it saves.
const MIN_ITEMS_PER_THREAD: usize = 1024;

/// Returns the threads a compile uses by default: one per processor, at
/// most [`MAX_THREADS`].
pub(crate) fn default_threads() -> usize {
    thread::available_parallelism()
        .map_or(1, NonZeroUsize::get)
        .min(MAX_THREADS)
}

/// Runs `work` on consecutive chunks of `items`, one chunk per thread, and
/// returns the results in chunk order. `work` receives the index of the
/// chunk's first item. The calling thread takes the first chunk.
pub(crate) fn map_chunks<T, R, F>(items: &[T], threads: usize, work: F) -> Vec<R>
where
    T: Sync,
    R: Send,
    F: Fn(usize, &[T]) -> R + Sync,
{
    let chunks = threads.min(items.len() / MIN_ITEMS_PER_THREAD).max(1);
    if chunks == 1 {
        return vec![work(0, items)];
    }
    let size = items.len().div_ceil(chunks);
    let work = &work;
    thread::scope(|scope| {
        let started: Vec<_> = items
            .chunks(size)
            .enumerate()
            .skip(1)
            .map(|(index, chunk)| {
                let start = index * size;
                let handle = thread::Builder::new()
                    .name("compile".to_owned())
                    .spawn_scoped(scope, move || work(start, chunk));
                (start, chunk, handle)
            })
            .collect();
        let mut results = Vec::with_capacity(chunks);
        results.push(work(0, &items[..size]));
        for (start, chunk, handle) in started {
            results.push(match handle {
                Ok(handle) => join(handle),
                Err(error) => {
                    warn_not_started(&error);
                    work(start, chunk)
                }
            });
        }
        results
    })
}

/// Sorts `items` like `sort_unstable_by`, on two threads when `threads`
/// allows and there are enough items: the items are first split around
/// the median, then each half is sorted on its own thread.
pub(crate) fn sort_unstable_by<T, F>(items: &mut [T], threads: usize, compare: F)
where
    T: Send,
    F: Fn(&T, &T) -> std::cmp::Ordering + Sync,
{
    if threads < 2 || items.len() < 2 * MIN_ITEMS_PER_THREAD {
        items.sort_unstable_by(compare);
        return;
    }
    let middle = items.len() / 2;
    items.select_nth_unstable_by(middle, &compare);
    let (low, high) = items.split_at_mut(middle);
    let compare = &compare;
    join_two(
        threads,
        || high.sort_unstable_by(compare),
        || low.sort_unstable_by(compare),
    );
}

/// Runs `background` on another thread while the calling thread runs
/// `foreground`, when `threads` allows; otherwise one after the other.
pub(crate) fn join_two<A, B>(
    threads: usize,
    background: impl FnOnce() -> A + Send,
    foreground: impl FnOnce() -> B,
) -> (A, B)
where
    A: Send,
{
    if threads < 2 {
        return (background(), foreground());
    }
    // Kept outside the scope, so the calling thread can still run it when
    // no thread starts.
    let slot = Mutex::new(Some(background));
    thread::scope(|scope| {
        let handle = thread::Builder::new()
            .name("compile".to_owned())
            .spawn_scoped(scope, || take(&slot)());
        let b = foreground();
        let a = match handle {
            Ok(handle) => join(handle),
            Err(error) => {
                warn_not_started(&error);
                take(&slot)()
            }
        };
        (a, b)
    })
}

fn take<F>(slot: &Mutex<Option<F>>) -> F {
    slot.lock()
        .unwrap_or_else(PoisonError::into_inner)
        .take()
        .expect("the work is taken once")
}

fn warn_not_started(error: &std::io::Error) {
    tracing::warn!(%error, "starting a compile thread failed; compiling on the calling thread");
}

/// Joins a compile thread, passing on its panic.
fn join<R>(handle: thread::ScopedJoinHandle<'_, R>) -> R {
    handle
        .join()
        .unwrap_or_else(|panic| std::panic::resume_unwind(panic))
}
