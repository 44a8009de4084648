//! Log setup: text or JSON lines through tracing-subscriber.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

use crate::config::{LogFormat, LogSettings};

/// Destination of log lines.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum LogTarget {
    /// Standard output, for `serve`.
    Stdout,
    /// Standard error, for offline commands whose stdout is their result.
    Stderr,
}

/// Installs the global subscriber. The filter comes from `--log-level`,
/// else RUST_LOG, else `default_filter`.
///
/// # Errors
/// Returns an error when the filter is invalid or a subscriber is already
/// installed.
pub fn init(settings: &LogSettings, target: LogTarget, default_filter: &str) -> anyhow::Result<()> {
    let filter = match &settings.filter {
        Some(directives) => EnvFilter::try_new(directives)?,
        None => {
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter))
        }
    };
    // Colour codes only help a terminal; in files and pipes they are noise.
    let ansi = match target {
        LogTarget::Stdout => std::io::stdout().is_terminal(),
        LogTarget::Stderr => std::io::stderr().is_terminal(),
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(ansi);

    let result = match (settings.format, target) {
        (LogFormat::Text, LogTarget::Stdout) => builder.try_init(),
        (LogFormat::Text, LogTarget::Stderr) => builder.with_writer(std::io::stderr).try_init(),
        (LogFormat::Json, LogTarget::Stdout) => builder.json().try_init(),
        (LogFormat::Json, LogTarget::Stderr) => {
            builder.json().with_writer(std::io::stderr).try_init()
        }
    };
    result.map_err(|error| anyhow::anyhow!("failed to install the log subscriber: {error}"))
}
