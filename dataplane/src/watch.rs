//! Standalone mode: compiles manifests from a file or folder and recompiles on change.
//!
//! A folder is watched recursively. A single file is watched through its
//! parent folder. Editors save by writing a new file and renaming it over
//! the old one, and a ConfigMap volume swaps its `..data` symlink, so in
//! both cases the inode of the file itself is replaced. Events are debounced: a reload starts
//! once the files have been quiet for [`QUIET_PERIOD`], or at the latest
//! [`MAX_DELAY`] after the first event. SIGHUP reloads at once.

use std::ffi::OsString;
use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::{Event, EventKind, RecursiveMode, Watcher};
use tokio::signal::unix::Signal;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;

use crate::reload::{ReloadOutcome, Reloader};

/// Quiet time after the last file event before a reload starts.
pub const QUIET_PERIOD: Duration = Duration::from_millis(150);

/// Maximum wait after the first event of a burst, so a file that keeps
/// changing is still picked up.
pub const MAX_DELAY: Duration = Duration::from_secs(2);

/// Failure to start a watcher.
#[derive(Debug, thiserror::Error)]
#[error("failed to watch {path} for changes")]
pub struct WatchError {
    /// The watched path.
    pub path: PathBuf,
    /// The watcher's error.
    #[source]
    pub source: notify::Error,
}

/// Selection of the events that concern the configuration.
#[derive(Clone, Debug)]
enum Filter {
    /// Every event below the watched folder.
    Everything,
    /// Events on this file name, or on hidden `..` entries of a ConfigMap
    /// volume, in the watched parent folder.
    FileName(OsString),
}

/// Runs the watcher until `shutdown` turns true: reloads on file changes
/// and on each `hangup` signal (SIGHUP). The initial load is the caller's.
///
/// # Errors
/// Returns an error when the path cannot be watched.
pub async fn run(
    reloader: Reloader,
    mut hangup: Signal,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let (sender, mut events) = mpsc::unbounded_channel();
    let _watcher = start_watcher(reloader.root(), sender)?;
    let mut reloader = Some(reloader);

    loop {
        tokio::select! {
            _ = shutdown.changed() => return Ok(()),
            _ = hangup.recv() => tracing::info!("SIGHUP received, reloading configuration"),
            event = events.recv() => {
                if event.is_none() {
                    anyhow::bail!("file watcher stopped");
                }
                debounce(&mut events).await;
            }
        }
        reloader = Some(reload(reloader.take().expect("reloader is put back")).await?);
    }
}

/// Starts a notify watcher that sends `()` for each relevant event.
fn start_watcher(
    root: &Path,
    sender: mpsc::UnboundedSender<()>,
) -> Result<notify::RecommendedWatcher, WatchError> {
    let (target, mode, filter) = watch_target(root);
    let callback = move |result: notify::Result<Event>| match result {
        Ok(event) if is_relevant(&event, &filter) => {
            let _ = sender.send(());
        }
        Ok(_) => {}
        Err(error) => tracing::warn!(%error, "file watcher error"),
    };

    let fail = |source| WatchError {
        path: target.clone(),
        source,
    };
    let mut watcher = notify::recommended_watcher(callback).map_err(fail)?;
    watcher.watch(&target, mode).map_err(fail)?;
    tracing::info!(
        config = %root.display(),
        watched = %target.display(),
        "watching configuration for changes"
    );
    Ok(watcher)
}

fn watch_target(root: &Path) -> (PathBuf, RecursiveMode, Filter) {
    if root.is_dir() {
        return (
            root.to_path_buf(),
            RecursiveMode::Recursive,
            Filter::Everything,
        );
    }
    let parent = match root.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let name = root.file_name().map(OsString::from).unwrap_or_default();
    (parent, RecursiveMode::NonRecursive, Filter::FileName(name))
}

fn is_relevant(event: &Event, filter: &Filter) -> bool {
    if matches!(event.kind, EventKind::Access(_)) {
        return false;
    }
    let Filter::FileName(name) = filter else {
        return true;
    };
    event.paths.iter().any(|path| {
        let Some(file_name) = path.file_name() else {
            return false;
        };
        file_name == name.as_os_str() || file_name.to_string_lossy().starts_with("..")
    })
}

/// Waits until no event has arrived for [`QUIET_PERIOD`], or until
/// [`MAX_DELAY`] has passed.
async fn debounce(events: &mut mpsc::UnboundedReceiver<()>) {
    let deadline = Instant::now() + MAX_DELAY;
    loop {
        let quiet_until = (Instant::now() + QUIET_PERIOD).min(deadline);
        match tokio::time::timeout_at(quiet_until, events.recv()).await {
            Ok(Some(())) if Instant::now() < deadline => continue,
            _ => return,
        }
    }
}

/// Reloads on a blocking thread, because reading and compiling a large
/// configuration would stall an async worker. A panic in the compiler is
/// caught and logged, so one bad input cannot stop the watcher. The
/// reloader's state is still valid then, because it changes only after a
/// compile returns.
async fn reload(mut reloader: Reloader) -> anyhow::Result<Reloader> {
    let reloader = tokio::task::spawn_blocking(move || {
        let attempt = catch_unwind(AssertUnwindSafe(|| reloader.reload()));
        match attempt {
            Ok(Ok(ReloadOutcome::Published { .. } | ReloadOutcome::Unchanged { .. })) => {}
            Ok(Err(error)) => {
                let cause = &error.source;
                tracing::error!(error = %error, %cause, "configuration reload failed");
            }
            Err(_) => tracing::error!(
                config = %reloader.root().display(),
                "configuration reload panicked; keeping the current snapshot"
            ),
        }
        reloader
    })
    .await?;
    Ok(reloader)
}

#[cfg(test)]
#[path = "watch_tests.rs"]
mod tests;
