//! The last applied snapshot, saved so a replica that restarts while the
//! operator is unreachable serves it instead of nothing.
//!
//! The file is one line of JSON with a fixed layout, written by
//! [`save_persisted`] only:
//!
//! ```text
//! {"format":1,"version":"<version>","sha256":"<hex>","snapshot":<snapshot JSON>}\n
//! ```
//!
//! `sha256` is the lowercase hex SHA-256 of the version's UTF-8 bytes, one
//! newline byte, and the bytes of `<snapshot JSON>` exactly as they appear
//! in the file. The loader recomputes it over the same bytes, so any change
//! to the version or the snapshot, including one that still parses, is
//! detected. A file whose keys are reordered or reformatted is
//! rejected as well, because the checksummed bytes can no longer be found.

use std::fs::{self, File};
use std::io::Write;
use std::path::{Path, PathBuf};

use portcullis_compiler::ir::SnapshotIr;
use serde::Deserialize;
use serde::de::IgnoredAny;
use sha2::{Digest, Sha256};

/// The only file format this version reads and writes.
pub const PERSIST_FORMAT: u32 = 1;

const SUFFIX: &[u8] = b"}\n";

/// A snapshot read back from disk.
#[derive(Clone, Debug, PartialEq)]
pub struct PersistedSnapshot {
    /// Version the operator sent with the snapshot.
    pub version: String,
    /// The snapshot.
    pub ir: SnapshotIr,
}

/// A failure to save or load the persisted snapshot.
#[derive(Debug, thiserror::Error)]
pub enum PersistError {
    /// Reading, writing or renaming the file failed.
    #[error("cannot {operation} persisted snapshot {}", path.display())]
    Io {
        /// `read`, `write` or `rename`.
        operation: &'static str,
        /// The file.
        path: PathBuf,
        /// The I/O error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid JSON, for example because it was truncated.
    #[error("persisted snapshot {} is not valid JSON (truncated or corrupted)", path.display())]
    Parse {
        /// The file.
        path: PathBuf,
        /// The parse error, with line and column.
        #[source]
        source: serde_json::Error,
    },
    /// The file was written by an incompatible version.
    #[error("persisted snapshot {} has format {found}, expected {PERSIST_FORMAT}", path.display())]
    UnsupportedFormat {
        /// The file.
        path: PathBuf,
        /// Format number in the file.
        found: u32,
    },
    /// The file parses but does not have the layout the writer produces.
    #[error(
        "persisted snapshot {} does not have the written layout (edited by hand?)",
        path.display()
    )]
    Layout {
        /// The file.
        path: PathBuf,
    },
    /// The version and snapshot bytes do not match the recorded checksum.
    #[error(
        "persisted snapshot {} is corrupted: sha256 is {actual}, the file records {expected}",
        path.display()
    )]
    Checksum {
        /// The file.
        path: PathBuf,
        /// Checksum recorded in the file.
        expected: String,
        /// Checksum of the version and snapshot bytes in the file.
        actual: String,
    },
    /// The checksum matches but the snapshot does not deserialize, as
    /// when it was written by an incompatible version.
    #[error("persisted snapshot {} holds an invalid snapshot", path.display())]
    Snapshot {
        /// The file.
        path: PathBuf,
        /// The deserialization error.
        #[source]
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct Header {
    format: u32,
    version: String,
    sha256: String,
    // Validated as JSON here, checksummed and deserialized separately.
    #[allow(dead_code)]
    snapshot: IgnoredAny,
}

/// Saves `ir` with its `version` to `path`, atomically: the content goes
/// to a temporary file in the same folder, which is flushed to disk and
/// then renamed over `path`. A crash leaves either the old file or the
/// new one, never a mix.
///
/// # Errors
/// Returns [`PersistError::Io`] when the folder is not writable or the
/// disk is full.
pub fn save_persisted(path: &Path, version: &str, ir: &SnapshotIr) -> Result<(), PersistError> {
    let snapshot = serde_json::to_vec(ir).expect("a snapshot serializes to JSON");
    save_snapshot_bytes(path, version, &snapshot)
}

/// Saves snapshot JSON that is already serialized.
pub(crate) fn save_snapshot_bytes(
    path: &Path,
    version: &str,
    snapshot: &[u8],
) -> Result<(), PersistError> {
    let checksum = checksum(version, snapshot);
    let mut content = prefix(version, &checksum).into_bytes();
    content.extend_from_slice(snapshot);
    content.extend_from_slice(SUFFIX);
    write_atomically(path, &content)
}

/// Loads the snapshot saved by [`save_persisted`].
///
/// # Errors
/// Returns an error naming the file and the problem when it cannot be
/// read, does not parse, has another format or layout, or fails the
/// checksum. The caller should log it and start without the snapshot.
pub fn load_persisted(path: &Path) -> Result<PersistedSnapshot, PersistError> {
    let content = fs::read(path).map_err(|source| PersistError::Io {
        operation: "read",
        path: path.to_owned(),
        source,
    })?;
    let header: Header =
        serde_json::from_slice(&content).map_err(|source| PersistError::Parse {
            path: path.to_owned(),
            source,
        })?;
    if header.format != PERSIST_FORMAT {
        return Err(PersistError::UnsupportedFormat {
            path: path.to_owned(),
            found: header.format,
        });
    }

    let snapshot = snapshot_bytes(path, &content, &header)?;
    let actual = checksum(&header.version, snapshot);
    if actual != header.sha256 {
        return Err(PersistError::Checksum {
            path: path.to_owned(),
            expected: header.sha256,
            actual,
        });
    }

    let ir = serde_json::from_slice(snapshot).map_err(|source| PersistError::Snapshot {
        path: path.to_owned(),
        source,
    })?;
    Ok(PersistedSnapshot {
        version: header.version,
        ir,
    })
}

fn checksum(version: &str, snapshot: &[u8]) -> String {
    let mut hasher = Sha256::new();
    hasher.update(version.as_bytes());
    hasher.update(b"\n");
    hasher.update(snapshot);
    hex::encode(hasher.finalize())
}

/// Everything before the snapshot JSON. The version and checksum are
/// JSON-encoded, so the prefix parses back to the same values.
fn prefix(version: &str, checksum: &str) -> String {
    let quote = |value: &str| serde_json::to_string(value).expect("a string serializes");
    format!(
        "{{\"format\":{PERSIST_FORMAT},\"version\":{},\"sha256\":{},\"snapshot\":",
        quote(version),
        quote(checksum)
    )
}

/// Finds the snapshot JSON between the known prefix and suffix.
fn snapshot_bytes<'a>(
    path: &Path,
    content: &'a [u8],
    header: &Header,
) -> Result<&'a [u8], PersistError> {
    let expected = prefix(&header.version, &header.sha256);
    content
        .strip_prefix(expected.as_bytes())
        .and_then(|rest| rest.strip_suffix(SUFFIX))
        .ok_or_else(|| PersistError::Layout {
            path: path.to_owned(),
        })
}

fn write_atomically(path: &Path, content: &[u8]) -> Result<(), PersistError> {
    let io_error = |operation| {
        move |source| PersistError::Io {
            operation,
            path: path.to_owned(),
            source,
        }
    };
    let temporary = temporary_path(path);
    let mut file = File::create(&temporary).map_err(io_error("write"))?;
    let written = file
        .write_all(content)
        .and_then(|()| file.sync_all())
        .map_err(io_error("write"));
    if let Err(error) = written {
        let _ = fs::remove_file(&temporary);
        return Err(error);
    }
    drop(file);
    if let Err(error) = fs::rename(&temporary, path) {
        let _ = fs::remove_file(&temporary);
        return Err(io_error("rename")(error));
    }
    sync_parent(path);
    Ok(())
}

/// Flushes the rename to disk. Some filesystems cannot sync a folder. The
/// file content is synced already, so a crash can lose only the rename and
/// leaves the previous file.
fn sync_parent(path: &Path) {
    let parent = match path.parent() {
        Some(parent) if !parent.as_os_str().is_empty() => parent,
        _ => Path::new("."),
    };
    if let Ok(folder) = File::open(parent) {
        let _ = folder.sync_all();
    }
}

fn temporary_path(path: &Path) -> PathBuf {
    let mut name = path.file_name().unwrap_or_default().to_owned();
    name.push(format!(".tmp.{}", std::process::id()));
    path.with_file_name(name)
}
