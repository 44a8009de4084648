//! The operator's end: accepts replicas over mutual TLS and pushes the
//! latest published snapshot to each of them.

mod registry;
mod stream;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use bytes::Bytes;
use portcullis_compiler::Snapshot;
use portcullis_compiler::ir::SnapshotIr;
use tokio::net::TcpListener;
use tokio::sync::watch;
use tokio::task::JoinSet;
use tokio_rustls::TlsAcceptor;

pub use registry::{Nacked, ReplicaStatus, ReplicaWatch};

use crate::frame::{self, FrameError};
use crate::message::ServerMessageRef;
use crate::tls::{self, TlsError, TlsFiles};
use registry::Replicas;

/// Pause after a failed `accept`, so that running out of file
/// descriptors does not turn the accept loop into a busy loop.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// The operator's end of the channel. Cheap to clone; clones share the
/// published snapshot and the replica list.
#[derive(Clone)]
pub struct ChannelServer {
    shared: Arc<Shared>,
}

struct Shared {
    acceptor: TlsAcceptor,
    latest: watch::Sender<Option<Published>>,
    replicas: watch::Sender<Replicas>,
    rejected_handshakes: AtomicU64,
}

/// A published snapshot, encoded once for every replica.
#[derive(Clone, Debug)]
struct Published {
    version: Arc<str>,
    frame: Bytes,
}

// === impl ChannelServer ===

impl std::fmt::Debug for ChannelServer {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("ChannelServer")
            .field("published_version", &self.published_version())
            .finish_non_exhaustive()
    }
}

impl ChannelServer {
    /// Creates a server from PEM files: the operator's certificate and key,
    /// and the CA that client certificates must chain to.
    ///
    /// # Errors
    /// Returns an error naming the file that cannot be read or the reason
    /// rustls rejects it.
    pub fn from_files(files: &TlsFiles) -> Result<Self, TlsError> {
        Ok(Self::with_config(tls::server_config(files)?))
    }

    /// Creates a server from a rustls configuration. It must require and
    /// verify client certificates (see [`tls::server_config`]) and offer
    /// ALPN `h2`; this constructor checks neither.
    pub fn with_config(config: Arc<rustls::ServerConfig>) -> Self {
        let shared = Shared {
            acceptor: TlsAcceptor::from(config),
            latest: watch::Sender::new(None),
            replicas: watch::Sender::new(Replicas::default()),
            rejected_handshakes: AtomicU64::new(0),
        };
        Self {
            shared: Arc::new(shared),
        }
    }

    /// Publishes `snapshot` to every connected replica and to every replica
    /// that connects later. Publishing the current version again does
    /// nothing. Replicas that connect before the first publish wait for it.
    ///
    /// # Errors
    /// Returns [`FrameError::TooLarge`] when the snapshot's JSON exceeds
    /// [`crate::MAX_MESSAGE_BYTES`]; the previous snapshot stays published.
    pub fn publish(&self, snapshot: &Snapshot) -> Result<(), FrameError> {
        self.publish_ir(snapshot.version(), snapshot.ir())
    }

    /// Publishes a serialized snapshot under `version`, as [`Self::publish`].
    ///
    /// # Errors
    /// As [`Self::publish`].
    pub fn publish_ir(&self, version: &str, ir: &SnapshotIr) -> Result<(), FrameError> {
        if self.published_version().as_deref() == Some(version) {
            return Ok(());
        }
        let frame = frame::encode(&ServerMessageRef::Snapshot { version, ir })?;
        let published = Published {
            version: Arc::from(version),
            frame,
        };
        self.shared.latest.send_replace(Some(published));
        tracing::debug!(version, "snapshot published to the channel");
        Ok(())
    }

    /// Version of the latest published snapshot.
    pub fn published_version(&self) -> Option<String> {
        let latest = self.shared.latest.borrow();
        latest
            .as_ref()
            .map(|published| published.version.to_string())
    }

    /// Lists every replica connected now or disconnected in the last ten
    /// minutes, sorted by name.
    pub fn replicas(&self) -> Vec<ReplicaStatus> {
        self.shared.replicas.borrow().statuses()
    }

    /// Subscribes to replica changes: the watch wakes on every connect,
    /// disconnect, acknowledgement and rejection, for recomputing readiness.
    pub fn watch_replicas(&self) -> ReplicaWatch {
        ReplicaWatch::new(self.shared.replicas.subscribe())
    }

    /// Count of connections closed because the TLS handshake failed or
    /// timed out, as when a client has no certificate or one from another
    /// CA. TCP probes that close without a handshake count too.
    pub fn rejected_handshakes(&self) -> u64 {
        self.shared.rejected_handshakes.load(Ordering::Relaxed)
    }

    /// Accepts replicas on `listener` until `shutdown` completes, then
    /// closes every connection. Replicas keep serving their last snapshot
    /// and reconnect to the next server.
    ///
    /// # Errors
    /// Never returns an error today: failed accepts are logged and
    /// retried. The `Result` leaves room for fatal listener errors.
    pub async fn serve(
        &self,
        listener: TcpListener,
        shutdown: impl Future<Output = ()>,
    ) -> std::io::Result<()> {
        let mut connections = JoinSet::new();
        tokio::pin!(shutdown);
        loop {
            tokio::select! {
                () = &mut shutdown => break,
                accepted = listener.accept() => match accepted {
                    Ok((tcp, peer)) => {
                        connections.spawn(stream::serve_connection(self.clone(), tcp, peer));
                    }
                    Err(error) => {
                        tracing::warn!(%error, "accepting a channel connection failed");
                        tokio::time::sleep(ACCEPT_ERROR_PAUSE).await;
                    }
                },
                Some(_) = connections.join_next(), if !connections.is_empty() => {}
            }
        }
        connections.shutdown().await;
        Ok(())
    }
}
