//! A data-plane replica's end: keeps one stream to the operator open,
//! applies each snapshot it receives, replies with `ack` or `nack`, saves
//! applied snapshots and reconnects whenever the stream breaks.

mod backoff;
mod session;

use std::future::Future;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use portcullis_compiler::ir::SnapshotIr;
use rustls_pki_types::ServerName;
use tokio::sync::watch;

pub use backoff::Backoff;

use crate::frame::FrameError;
use crate::message::NackReason;
use crate::tls::{self, TlsError, TlsFiles};
use backoff::BackoffState;

/// Settings of a [`ChannelClient`].
#[derive(Clone, Debug)]
pub struct ClientConfig {
    /// Operator address as `host:port`, resolved on every attempt so a
    /// Service's DNS name follows the operator.
    pub address: String,
    /// Name the operator's certificate must carry, such as
    /// `portcullis-operator.portcullis-system.svc`.
    pub server_name: String,
    /// CA, certificate and key of this replica.
    pub tls: TlsFiles,
    /// Replica name sent in `hello`, usually the pod name.
    pub replica: String,
    /// File in which each applied snapshot is saved. `None` saves nothing.
    pub persist_path: Option<PathBuf>,
    /// Version the replica already serves, such as the persisted one. A
    /// snapshot of this version is acknowledged without calling `apply`.
    pub last_version: Option<String>,
    /// Delays between reconnect attempts.
    pub backoff: Backoff,
    /// Limit on resolving, connecting and the TLS handshake together.
    /// Default 5 s.
    pub connect_timeout: Duration,
}

/// A replica's end of the channel.
#[derive(Debug)]
pub struct ChannelClient {
    config: ClientConfig,
    tls: Arc<rustls::ClientConfig>,
    server_name: ServerName<'static>,
    status: watch::Sender<ClientStatus>,
}

/// State of a replica's channel, for readiness and admin endpoints.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ClientStatus {
    /// Whether a stream to the operator is open.
    pub connected: bool,
    /// Streams opened since the client started.
    pub streams_opened: u64,
    /// Operator version of the latest applied snapshot.
    pub applied_version: Option<String>,
    /// Version the apply callback returned for it, which differs from
    /// `applied_version` only when operator and replica hash differently.
    pub local_version: Option<String>,
    /// Failed attempts since the last stream that delivered a snapshot.
    pub consecutive_failures: u64,
    /// The latest connection error.
    pub last_error: Option<String>,
}

/// A failure of one connection attempt or stream.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    /// Loading the TLS files failed.
    #[error(transparent)]
    Tls(#[from] TlsError),
    /// The configured server name is not a DNS name or IP address.
    #[error("invalid server name {0:?}; expected the DNS name in the operator's certificate")]
    ServerName(String),
    /// Connecting or the TLS handshake failed or timed out.
    #[error("cannot connect to the operator at {address}")]
    Connect {
        /// The configured address.
        address: String,
        /// The I/O or TLS error.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP/2 connection failed.
    #[error("HTTP/2 connection to the operator failed")]
    Http(#[source] hyper::Error),
    /// The operator replied to the stream request with an error status.
    #[error("the operator rejected the stream with status {status}: {message}")]
    Rejected {
        /// HTTP status.
        status: http::StatusCode,
        /// Body of the error response.
        message: String,
    },
    /// A message could not be read or written.
    #[error("invalid message on the stream")]
    Frame(#[from] FrameError),
    /// The operator stopped reading the replies.
    #[error("the operator closed the stream")]
    Closed,
    /// No response headers arrived in time.
    #[error("the operator did not answer the stream request within {0:?}")]
    ResponseTimeout(Duration),
}

// === impl ClientConfig ===

impl ClientConfig {
    /// Creates settings with no persistence, no known version and default
    /// backoff and timeouts.
    pub fn new(
        address: impl Into<String>,
        server_name: impl Into<String>,
        tls: TlsFiles,
        replica: impl Into<String>,
    ) -> Self {
        Self {
            address: address.into(),
            server_name: server_name.into(),
            tls,
            replica: replica.into(),
            persist_path: None,
            last_version: None,
            backoff: Backoff::default(),
            connect_timeout: Duration::from_secs(5),
        }
    }
}

// === impl ChannelClient ===

impl ChannelClient {
    /// Loads the TLS files and checks the server name.
    ///
    /// # Errors
    /// Returns [`ClientError::Tls`] naming an unreadable or invalid file,
    /// or [`ClientError::ServerName`].
    pub fn new(config: ClientConfig) -> Result<Self, ClientError> {
        let tls = tls::client_config(&config.tls)?;
        let server_name = ServerName::try_from(config.server_name.clone())
            .map_err(|_| ClientError::ServerName(config.server_name.clone()))?;
        let status = ClientStatus {
            applied_version: config.last_version.clone(),
            ..ClientStatus::default()
        };
        Ok(Self {
            config,
            tls,
            server_name,
            status: watch::Sender::new(status),
        })
    }

    /// Subscribes to the client's status, updated as streams open, close
    /// and apply snapshots.
    pub fn status(&self) -> watch::Receiver<ClientStatus> {
        self.status.subscribe()
    }

    /// Connects and applies snapshots until `shutdown` completes,
    /// reconnecting with backoff after every failure. The replica keeps
    /// serving whatever it last applied while the operator is unreachable.
    ///
    /// `apply` runs on the runtime for each new snapshot and returns the
    /// version it now serves, or the reason it keeps the previous one. A
    /// snapshot whose version equals the last applied one is acknowledged
    /// without calling `apply`.
    pub async fn run<F>(self, mut apply: F, shutdown: impl Future<Output = ()>)
    where
        F: FnMut(SnapshotIr) -> Result<String, NackReason>,
    {
        let mut backoff = BackoffState::new(self.config.backoff);
        let mut applied = self.config.last_version.clone();
        tokio::pin!(shutdown);
        loop {
            let mut delivered = false;
            let session = session::run(&self, &mut apply, &mut applied, &mut delivered);
            let outcome = tokio::select! {
                () = &mut shutdown => break,
                outcome = session => outcome,
            };
            if delivered {
                backoff.reset();
            }
            let delay = backoff.next_delay();
            self.record_end(outcome, delivered, delay);
            tokio::select! {
                () = &mut shutdown => break,
                () = tokio::time::sleep(delay) => {}
            }
        }
        self.status.send_modify(|status| status.connected = false);
    }

    fn record_end(&self, outcome: Result<(), ClientError>, delivered: bool, delay: Duration) {
        let address = self.config.address.as_str();
        let error = match outcome {
            Ok(()) => "the operator ended the stream".to_owned(),
            Err(error) => error_chain(&error),
        };
        self.status.send_modify(|status| {
            status.connected = false;
            status.consecutive_failures = if delivered {
                0
            } else {
                status.consecutive_failures + 1
            };
            status.last_error = Some(error.clone());
        });
        let failures = self.status.borrow().consecutive_failures;
        tracing::warn!(
            address,
            error,
            failures,
            retry_in_ms = delay.as_millis(),
            "operator channel disconnected; reconnecting"
        );
    }
}

/// Formats the error and its causes on one line, as `error: cause: cause`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}
