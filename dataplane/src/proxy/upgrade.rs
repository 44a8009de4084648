//! Protocol switches (WebSocket): after the backend responds 101, bytes
//! are copied both ways between the two upgraded connections.

use std::sync::Arc;

use http::Response;
use hyper::upgrade::OnUpgrade;
use hyper_util::rt::TokioIo;

use super::body::{ProxyBody, empty};
use super::headers;

/// Returns the 101 response for the client and spawns the tunnel, which
/// starts once hyper has sent that response and ends when either side
/// closes.
pub fn tunnel<B>(
    response: Response<B>,
    downstream: OnUpgrade,
    backend: Arc<str>,
) -> Response<ProxyBody> {
    let (mut parts, _body) = response.into_parts();
    let upstream = parts.extensions.remove::<OnUpgrade>();
    headers::strip_hop_by_hop(&mut parts.headers, true);

    tokio::spawn(async move {
        let Some(upstream) = upstream else {
            tracing::warn!(%backend, "backend switched protocols without an upgradable connection");
            return;
        };
        match tokio::try_join!(downstream, upstream) {
            Ok((downstream, upstream)) => {
                let mut downstream = TokioIo::new(downstream);
                let mut upstream = TokioIo::new(upstream);
                if let Err(error) =
                    tokio::io::copy_bidirectional(&mut downstream, &mut upstream).await
                {
                    tracing::debug!(%backend, %error, "upgraded connection closed with an error");
                }
            }
            Err(error) => tracing::debug!(%backend, %error, "protocol switch failed"),
        }
    });
    Response::from_parts(parts, empty())
}
