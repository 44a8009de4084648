//! A temporary folder of manifests for one test, written atomically.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{SystemTime, UNIX_EPOCH};

/// A temporary configuration folder, removed on drop.
///
/// Files are written atomically (temporary file, then rename) so that the
/// gateway's file watcher never reads a half-written manifest. The
/// temporary file name starts with `.` and ends in `.tmp`, so a loader that
/// reads only `*.yaml`/`*.yml` ignores it.
#[derive(Debug)]
pub struct ConfigDir {
    path: PathBuf,
}

// === impl ConfigDir ===

impl ConfigDir {
    /// Creates an empty folder with a unique name under the system
    /// temporary folder.
    ///
    /// # Panics
    /// Panics when the folder cannot be created.
    pub fn new() -> Self {
        static COUNTER: AtomicU64 = AtomicU64::new(0);
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |elapsed| elapsed.as_nanos());
        let name = format!(
            "portcullis-e2e-{}-{}-{nanos}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed)
        );
        let path = std::env::temp_dir().join(name);
        std::fs::create_dir_all(&path)
            .unwrap_or_else(|err| panic!("failed to create {}: {err}", path.display()));
        Self { path }
    }

    /// Path of the folder, to pass as `--config`.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Writes `contents` to `name` inside the folder, replacing any file of
    /// that name in one rename. Returns the file's path.
    ///
    /// # Panics
    /// Panics when the file cannot be written.
    pub fn write(&self, name: &str, contents: impl AsRef<[u8]>) -> PathBuf {
        let target = self.path.join(name);
        let temporary = self.path.join(format!(".{name}.tmp"));
        std::fs::write(&temporary, contents)
            .unwrap_or_else(|err| panic!("failed to write {}: {err}", temporary.display()));
        std::fs::rename(&temporary, &target)
            .unwrap_or_else(|err| panic!("failed to rename to {}: {err}", target.display()));
        target
    }

    /// Removes `name` from the folder.
    ///
    /// # Panics
    /// Panics when the file cannot be removed.
    pub fn remove(&self, name: &str) {
        let target = self.path.join(name);
        std::fs::remove_file(&target)
            .unwrap_or_else(|err| panic!("failed to remove {}: {err}", target.display()));
    }
}

impl Default for ConfigDir {
    fn default() -> Self {
        Self::new()
    }
}

impl Drop for ConfigDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
