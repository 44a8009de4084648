//! Command-line flags of `portcullis-operator run`, each also read from an
//! environment variable.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, ValueEnum};

/// Settings of the controller, from flags or `PORTCULLIS_OPERATOR_*`
/// environment variables.
#[derive(Args, Clone, Debug)]
pub struct RunArgs {
    /// Namespace to watch; repeat the flag for several. Every namespace
    /// when absent. The environment variable takes a comma-separated list.
    #[arg(
        long = "namespace",
        env = "PORTCULLIS_OPERATOR_NAMESPACES",
        value_delimiter = ','
    )]
    pub namespaces: Vec<String>,

    /// Address of the snapshot channel listener that data planes connect
    /// to, such as `0.0.0.0:8443`. Without it no snapshot leaves the
    /// operator and `Ready` stays `Unknown`.
    #[arg(long, env = "PORTCULLIS_OPERATOR_SNAPSHOT_LISTEN")]
    pub snapshot_listen: Option<SocketAddr>,

    /// PEM file with the CA that data-plane client certificates must chain
    /// to. Required with `--snapshot-listen`.
    #[arg(long, env = "PORTCULLIS_OPERATOR_TLS_CA", requires = "snapshot_listen")]
    pub tls_ca: Option<PathBuf>,

    /// PEM file with the channel's server certificate chain. Required with
    /// `--snapshot-listen`.
    #[arg(
        long,
        env = "PORTCULLIS_OPERATOR_TLS_CERT",
        requires = "snapshot_listen"
    )]
    pub tls_cert: Option<PathBuf>,

    /// PEM file with the private key of `--tls-cert`. Required with
    /// `--snapshot-listen`.
    #[arg(
        long,
        env = "PORTCULLIS_OPERATOR_TLS_KEY",
        requires = "snapshot_listen"
    )]
    pub tls_key: Option<PathBuf>,

    /// Address of the HTTP listener serving `/metrics` (Prometheus text
    /// format) and `/healthz`. Disabled when absent.
    #[arg(long, env = "PORTCULLIS_OPERATOR_METRICS_LISTEN")]
    pub metrics_listen: Option<SocketAddr>,

    /// Milliseconds to wait after a change for more changes, so a burst of
    /// edits becomes one recompile.
    #[arg(long, env = "PORTCULLIS_OPERATOR_DEBOUNCE_MS", default_value_t = 200)]
    pub debounce_ms: u64,

    /// Seconds after startup during which an existing `Ready` condition is
    /// kept while replicas reconnect, so a restart does not flap it.
    #[arg(
        long,
        env = "PORTCULLIS_OPERATOR_READY_GRACE_SECONDS",
        default_value_t = 15
    )]
    pub ready_grace_seconds: u64,

    /// Log line format.
    #[arg(long, env = "PORTCULLIS_OPERATOR_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// Log filter, such as `info` or `portcullis_operator=debug`. `RUST_LOG`
    /// takes precedence when set.
    #[arg(long, env = "PORTCULLIS_OPERATOR_LOG_LEVEL", default_value = "info")]
    pub log_level: String,
}

/// Format of log lines on standard error.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    /// Human-readable text.
    Text,
    /// One JSON object per line.
    Json,
}

/// PEM files of the snapshot channel.
#[derive(Clone, Debug)]
pub struct ChannelFiles {
    /// CA of the data-plane client certificates.
    pub ca: PathBuf,
    /// Server certificate chain.
    pub cert: PathBuf,
    /// Server private key.
    pub key: PathBuf,
}

/// Invalid combinations of flags.
#[derive(Debug, thiserror::Error)]
pub enum ArgsError {
    /// The channel listener needs all three PEM files.
    #[error("--snapshot-listen needs --tls-ca, --tls-cert and --tls-key; missing {0}")]
    MissingTlsFile(&'static str),
}

// === impl RunArgs ===

impl RunArgs {
    /// Returns the debounce delay.
    pub fn debounce(&self) -> Duration {
        Duration::from_millis(self.debounce_ms)
    }

    /// Returns the channel listener and its PEM files when the channel is
    /// enabled.
    ///
    /// # Errors
    /// Returns [`ArgsError::MissingTlsFile`] when the listener is set but a
    /// PEM file is not.
    pub fn channel(&self) -> Result<Option<(SocketAddr, ChannelFiles)>, ArgsError> {
        let Some(listen) = self.snapshot_listen else {
            return Ok(None);
        };
        let ca = self
            .tls_ca
            .clone()
            .ok_or(ArgsError::MissingTlsFile("--tls-ca"))?;
        let cert = self
            .tls_cert
            .clone()
            .ok_or(ArgsError::MissingTlsFile("--tls-cert"))?;
        let key = self
            .tls_key
            .clone()
            .ok_or(ArgsError::MissingTlsFile("--tls-key"))?;
        Ok(Some((listen, ChannelFiles { ca, cert, key })))
    }
}
