//! Forwarding to a backend: endpoint choice, connect with fallback, the
//! upstream request and the response head.

use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode, Uri, Version, header};
use http_body_util::BodyExt;
use hyper::upgrade::OnUpgrade;
use portcullis_compiler::table::{Action, Backend, Backends, Rule, Scheme, Target};

use super::body::{BoxError, ProxyBody};
use super::error::ProxyError;
use super::filters::{self, Render};
use super::forwarded::{self, Downstream};
use super::handler::Proxy;
use super::headers::{self, X_REQUEST_ID};
use super::pool::{Checkout, PooledBody, Protocol};
use super::upgrade;

/// A matched request on its way to a backend.
pub struct Outbound<'a> {
    /// Request head as received.
    pub parts: Parts,
    /// Request body, possibly replaying a peeked prefix.
    pub body: ProxyBody,
    /// The winning rule.
    pub rule: &'a Rule,
    /// Template context of the match.
    pub render: Render<'a>,
    /// Host the client addressed.
    pub host: HeaderValue,
    /// Raw query, without `?`.
    pub query: Option<&'a str>,
    /// TCP peer.
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// Whether the request came over TLS.
    pub tls: bool,
    /// Request id sent upstream.
    pub request_id: &'a HeaderValue,
}

/// A connected backend.
struct Connected<'b> {
    backend: &'b Backend,
    endpoint: Arc<str>,
    checkout: Checkout,
}

// === impl Proxy ===

impl Proxy {
    /// Forwards to one of `backends`, or to the rule's fallback when no
    /// endpoint is available or connecting fails. Nothing has been sent at
    /// that point, so the fallback gets the untouched request.
    pub(super) async fn forward(
        &self,
        outbound: Outbound<'_>,
        backends: &Backends,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let protocol = upstream_protocol(&outbound.parts);
        let failure = match self.connect(backends, protocol).await {
            Ok(connected) => return self.send(outbound, connected, protocol).await,
            Err(error) => error,
        };

        match &outbound.rule.fallback {
            None => Err(failure),
            Some(Action::Respond(direct)) => {
                tracing::debug!(error = %failure, "using the fallback response");
                Ok(filters::direct_response(direct, &outbound.render))
            }
            Some(Action::Forward(fallback)) => {
                tracing::debug!(error = %failure, "using the fallback backends");
                let connected = self.connect(fallback, protocol).await?;
                self.send(outbound, connected, protocol).await
            }
        }
    }

    /// Chooses a backend by weight and an endpoint, and connects.
    async fn connect<'b>(
        &self,
        backends: &'b Backends,
        protocol: Protocol,
    ) -> Result<Connected<'b>, ProxyError> {
        let Some(backend) = backends.choose(fastrand::u64(..)) else {
            return Err(ProxyError::NoHealthyBackend {
                backend: Arc::from("(no backend with a weight above zero)"),
            });
        };
        let endpoint = self.endpoint(backend)?;

        match self.pool.checkout(&endpoint, protocol).await {
            Ok(checkout) => Ok(Connected {
                backend,
                endpoint,
                checkout,
            }),
            Err(error) => {
                tracing::warn!(backend = %backend.display, %error, "upstream connect failed");
                Err(ProxyError::ConnectFailed {
                    backend: backend.display.clone(),
                })
            }
        }
    }

    /// Returns the `host:port` to connect to for `backend`.
    fn endpoint(&self, backend: &Backend) -> Result<Arc<str>, ProxyError> {
        match &backend.target {
            // NOTE: the upstream client has no TLS yet (no trust roots are
            // configured), so https static endpoints get 502.
            Target::Static {
                scheme: Scheme::Https,
                ..
            } => Err(ProxyError::HttpsUnsupported {
                backend: backend.display.clone(),
            }),
            Target::Static { authority, .. } => Ok(with_default_port(authority)),
            Target::Service { endpoints, .. } => {
                if endpoints.is_empty() {
                    return Err(ProxyError::NoHealthyBackend {
                        backend: backend.display.clone(),
                    });
                }
                let position = self.next_endpoint.fetch_add(1, Ordering::Relaxed);
                Ok(endpoints[position % endpoints.len()].clone())
            }
        }
    }

    /// Sends the request and waits for the response head, at most
    /// `response_timeout`.
    async fn send(
        &self,
        outbound: Outbound<'_>,
        connected: Connected<'_>,
        protocol: Protocol,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let backend = connected.backend.display.clone();
        let (request, downstream_upgrade) =
            upstream_request(outbound, &connected.endpoint, protocol);
        let reusable = downstream_upgrade.is_none();

        let timeout = self.settings.response_timeout;
        let sending = connected.checkout.send(request, reusable);
        let response = match tokio::time::timeout(timeout, sending).await {
            Err(_) => return Err(ProxyError::UpstreamTimeout { backend, timeout }),
            Ok(Err(error)) => {
                tracing::warn!(%backend, %error, "upstream request failed");
                return Err(ProxyError::Upstream { backend });
            }
            Ok(Ok(response)) => response,
        };

        match downstream_upgrade {
            Some(on_upgrade) if response.status() == StatusCode::SWITCHING_PROTOCOLS => {
                Ok(upgrade::tunnel(response, on_upgrade, backend))
            }
            _ => Ok(downstream_response(response)),
        }
    }
}

/// HTTP/2 for gRPC from an HTTP/2 client, so trailers pass end to end;
/// HTTP/1.1 otherwise.
fn upstream_protocol(parts: &Parts) -> Protocol {
    let grpc = parts
        .headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"application/grpc"));
    if parts.version == Version::HTTP_2 && grpc {
        Protocol::Http2
    } else {
        Protocol::Http1
    }
}

/// Appends `:80` to an authority without a port.
fn with_default_port(authority: &Arc<str>) -> Arc<str> {
    let has_port = match authority.rfind(':') {
        Some(colon) => !authority[colon..].contains(']'),
        None => false,
    };
    if has_port {
        authority.clone()
    } else {
        Arc::from(format!("{authority}:80"))
    }
}

/// Builds the upstream request, and takes the downstream upgrade when the
/// request switches protocols.
fn upstream_request(
    outbound: Outbound<'_>,
    endpoint: &str,
    protocol: Protocol,
) -> (Request<ProxyBody>, Option<OnUpgrade>) {
    let Outbound {
        mut parts,
        body,
        rule,
        render,
        ..
    } = outbound;
    let on_upgrade = take_upgrade(&mut parts);
    let mut headers = std::mem::take(&mut parts.headers);
    headers::strip_hop_by_hop(&mut headers, on_upgrade.is_some());
    let downstream = Downstream {
        peer: outbound.peer,
        trusted: outbound.trusted,
        proto: if outbound.tls { "https" } else { "http" },
        host: &outbound.host,
    };
    forwarded::set_forwarding_headers(&mut headers, &downstream);
    headers.insert(X_REQUEST_ID, outbound.request_id.clone());

    let host = upstream_host(rule, &render, &outbound.host, endpoint);
    filters::apply_header_ops(&mut headers, &rule.request_headers, &render);
    let path = match rule
        .rewrite
        .as_ref()
        .and_then(|rewrite| rewrite.path.as_ref())
    {
        Some(rewrite) => render.rewrite_path(rewrite),
        None => render.path.to_owned(),
    };
    let uri = upstream_uri(&path, outbound.query, &host, protocol);

    let mut request = Request::new(body);
    *request.method_mut() = parts.method;
    *request.uri_mut() = uri;
    set_host(&mut headers, host, protocol);
    *request.headers_mut() = headers;
    *request.version_mut() = match protocol {
        Protocol::Http1 => Version::HTTP_11,
        Protocol::Http2 => Version::HTTP_2,
    };
    (request, on_upgrade)
}

/// Takes the downstream upgrade from an HTTP/1.1 request that requests a
/// protocol switch. HTTP/2 has no `Upgrade`, so its requests never switch here.
fn take_upgrade(parts: &mut Parts) -> Option<OnUpgrade> {
    if parts.version != Version::HTTP_11 || !headers::is_upgrade_request(&parts.headers) {
        return None;
    }
    parts.extensions.remove::<OnUpgrade>()
}

/// Host sent upstream: the rewrite's hostname, else the client's Host,
/// else the endpoint.
fn upstream_host(
    rule: &Rule,
    render: &Render<'_>,
    host: &HeaderValue,
    endpoint: &str,
) -> HeaderValue {
    let rewritten = rule
        .rewrite
        .as_ref()
        .and_then(|rewrite| rewrite.hostname.as_ref())
        .and_then(|template| HeaderValue::from_str(&render.render(template)).ok());
    if let Some(host) = rewritten {
        return host;
    }
    if !host.is_empty() {
        return host.clone();
    }
    HeaderValue::from_str(endpoint).unwrap_or_else(|_| HeaderValue::from_static("localhost"))
}

/// HTTP/1.1 takes origin-form; HTTP/2 takes the authority in the URI
/// (sent as `:authority`).
fn upstream_uri(path: &str, query: Option<&str>, host: &HeaderValue, protocol: Protocol) -> Uri {
    let mut target = String::with_capacity(path.len() + query.map_or(0, |q| q.len() + 1) + 32);
    if protocol == Protocol::Http2 {
        target.push_str("http://");
        target.push_str(host.to_str().unwrap_or("localhost"));
    }
    target.push_str(path);
    if let Some(query) = query {
        target.push('?');
        target.push_str(query);
    }
    // A normalized path, a query hyper already parsed and a validated
    // host always form a valid URI; "/" is only a guard.
    target.parse().unwrap_or_else(|_| Uri::from_static("/"))
}

fn set_host(headers: &mut HeaderMap, host: HeaderValue, protocol: Protocol) {
    match protocol {
        Protocol::Http1 => {
            headers.insert(header::HOST, host);
        }
        Protocol::Http2 => {
            headers.remove(header::HOST);
        }
    }
}

/// Strips hop-by-hop headers from a backend response.
fn downstream_response(response: Response<PooledBody>) -> Response<ProxyBody> {
    let (mut parts, body) = response.into_parts();
    headers::strip_hop_by_hop(&mut parts.headers, false);
    parts.version = Version::HTTP_11;
    let body = body.map_err(BoxError::from).boxed_unsync();
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_port_is_added_when_missing() {
        assert_eq!(
            &*with_default_port(&Arc::from("a.example:8080")),
            "a.example:8080"
        );
        assert_eq!(&*with_default_port(&Arc::from("a.example")), "a.example:80");
        assert_eq!(&*with_default_port(&Arc::from("[::1]:81")), "[::1]:81");
        assert_eq!(&*with_default_port(&Arc::from("[::1]")), "[::1]:80");
    }

    #[test]
    fn h2_uri_carries_authority() {
        let host = HeaderValue::from_static("api.example.com");
        let uri = upstream_uri("/pkg.Svc/Call", None, &host, Protocol::Http2);
        assert_eq!(uri.to_string(), "http://api.example.com/pkg.Svc/Call");
        let uri = upstream_uri("/a", Some("x=1"), &host, Protocol::Http1);
        assert_eq!(uri.to_string(), "/a?x=1");
    }
}
