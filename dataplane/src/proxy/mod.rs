//! The proxy: listeners, request handling and the upstream client.
//!
//! A request flows through [`handler`] (request id, path normalization,
//! client address, country, route lookup), then [`filters`] for redirects,
//! direct responses and header changes, or [`forward`] to a backend through
//! the connection [`pool`]. Errors become JSON responses in [`error`].

pub mod body;
pub mod error;
pub mod filters;
pub mod forward;
pub mod forwarded;
pub mod geo;
pub mod handler;
pub mod headers;
pub mod normalize;
pub mod peek;
pub mod pool;
pub mod server;
pub mod tls;
pub mod upgrade;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::ProxySettings;
use crate::state::SnapshotStore;

pub use handler::{ConnInfo, Proxy};

/// Serves the proxy on `http` (HTTP/1.1 and h2c with prior knowledge) and,
/// when given, `https` (TLS with SNI certificates from the snapshot, ALPN
/// `h2` and `http/1.1`).
///
/// Returns after `shutdown` becomes true and open connections finished
/// their in-flight requests, or `drain_timeout` passed.
///
/// # Errors
/// Returns an error when the GeoIP database cannot be read or the TLS
/// configuration cannot be built.
pub async fn serve(
    http: TcpListener,
    https: Option<TcpListener>,
    settings: Arc<ProxySettings>,
    store: Arc<SnapshotStore>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let https = match https {
        Some(listener) => Some((listener, tls::acceptor(store.clone())?)),
        None => None,
    };
    let proxy = Arc::new(Proxy::new(settings, store)?);
    server::run(proxy, http, https, shutdown).await
}
