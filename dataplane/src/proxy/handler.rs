//! Per-request handling: normalize, route, then redirect, respond directly
//! or forward.

use std::sync::Arc;
use std::sync::atomic::AtomicUsize;

use http::request::Parts;
use http::{HeaderMap, HeaderValue, Request, Response, header};
use hyper::body::Incoming;
use portcullis_compiler::table::{Action, Matched, Rule};
use portcullis_compiler::{GraphqlInfo, Lookup, RequestView, RouteTable};
use tracing::{Instrument, field};

use super::body::{GuardedBody, ProxyBody, incoming};
use super::error::ProxyError;
use super::filters::{self, Origin, Render};
use super::forward::Outbound;
use super::forwarded;
use super::geo::{self, CountryCode, GeoDb};
use super::headers::{self, X_REQUEST_ID};
use super::normalize::normalize;
use super::peek::peek_graphql;
use super::pool::Pool;
use crate::config::ProxySettings;
use crate::state::{Published, SnapshotStore};

/// Shared state of every request: settings, snapshot store, upstream pool
/// and the GeoIP database.
#[derive(Debug)]
pub struct Proxy {
    pub(super) settings: Arc<ProxySettings>,
    store: Arc<SnapshotStore>,
    pub(super) pool: Arc<Pool>,
    geo: Option<GeoDb>,
    /// Round-robin position over Service endpoints, shared by all rules.
    pub(super) next_endpoint: AtomicUsize,
}

/// The downstream connection a request arrived on.
#[derive(Clone, Copy, Debug)]
pub struct ConnInfo {
    /// TCP peer.
    pub peer: std::net::SocketAddr,
    /// Whether the connection is TLS.
    pub tls: bool,
}

/// A request after lookup, with everything its rule needs.
struct Routed<'t, 'a> {
    parts: Parts,
    body: ProxyBody,
    matched: Matched<'t>,
    path: &'a str,
    query: Option<&'a str>,
    host: HeaderValue,
    conn: ConnInfo,
    trusted: bool,
}

// === impl Proxy ===

impl Proxy {
    /// Builds the shared state and opens the GeoIP database when set.
    ///
    /// # Errors
    /// Returns an error when the GeoIP database cannot be read.
    pub fn new(settings: Arc<ProxySettings>, store: Arc<SnapshotStore>) -> anyhow::Result<Self> {
        let geo = match &settings.geoip_db {
            Some(path) => Some(GeoDb::open(path)?),
            None => None,
        };
        Ok(Self {
            pool: Pool::new(settings.connect_timeout),
            settings,
            store,
            geo,
            next_endpoint: AtomicUsize::new(0),
        })
    }

    /// Handles one request. Errors become JSON responses, so the service
    /// error type is `Infallible`.
    ///
    /// The snapshot is loaded once and held until the response body is
    /// dropped, so a swap never changes the table under a request.
    ///
    /// The request span is at debug level. An info span would make the
    /// log subscriber allocate and format its fields on every request even
    /// though no info event inside it is emitted on success.
    pub async fn handle(
        self: Arc<Self>,
        conn: ConnInfo,
        request: Request<Incoming>,
    ) -> Response<GuardedBody> {
        let request_id = headers::request_id(request.headers());
        let published = self.store.load();
        let span = tracing::debug_span!(
            "request",
            method = %request.method(),
            host = field::Empty,
            path = field::Empty,
            route = field::Empty,
            status = field::Empty,
        );

        let routed = self
            .route(&published, conn, request, &request_id)
            .instrument(span.clone())
            .await;
        let mut response = routed.unwrap_or_else(|error| {
            tracing::debug!(parent: &span, %error, code = error.code(), "request failed");
            error.to_response(&request_id)
        });

        response.headers_mut().insert(X_REQUEST_ID, request_id);
        span.record("status", response.status().as_u16());
        response.map(|body| GuardedBody::new(body, published))
    }

    async fn route(
        &self,
        published: &Published,
        conn: ConnInfo,
        request: Request<Incoming>,
        request_id: &HeaderValue,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let (parts, body) = request.into_parts();
        let uri = parts.uri.clone();
        let path = normalize(uri.path(), self.settings.normalization)?;
        let host = request_host(&parts)?;
        let host_text = host.to_str().map_err(|_| invalid_host())?;
        let span = tracing::Span::current();
        span.record("host", host_text);
        span.record("path", &*path);

        let table = published.snapshot.table();
        let trusted = forwarded::is_trusted(conn.peer.ip(), &self.settings.trusted_proxies);
        let client = forwarded::client_addr(
            conn.peer.ip(),
            &parts.headers,
            &self.settings.trusted_proxies,
        );
        let country = self.country(table, &parts.headers, trusted, client);
        let view = RequestView {
            method: &parts.method,
            host: host_text,
            path: &path,
            query: uri.query(),
            headers: &parts.headers,
            client_addr: client,
            country: country.as_ref().map(CountryCode::as_str),
            graphql: GraphqlInfo::NotRead,
            now: if table.uses_time() {
                jiff::Timestamp::now()
            } else {
                jiff::Timestamp::UNIX_EPOCH
            },
        };
        let (matched, body) = self.lookup(table, view, body).await?;
        span.record("route", field::display(RouteName(matched.rule)));

        let routed = Routed {
            parts,
            body,
            matched,
            path: &path,
            query: uri.query(),
            host,
            conn,
            trusted,
        };
        self.act(routed, request_id).await
    }

    /// Runs the winning rule: redirect, direct response or forward, then
    /// the rule's response header changes.
    async fn act(
        &self,
        routed: Routed<'_, '_>,
        request_id: &HeaderValue,
    ) -> Result<Response<ProxyBody>, ProxyError> {
        let rule = routed.matched.rule;
        let render = Render {
            path: routed.path,
            captures: &routed.matched.captures,
            prefix_len: routed.matched.prefix_len,
        };

        let mut response = match (&rule.redirect, &rule.action) {
            (Some(redirect), _) => {
                let authority = routed
                    .host
                    .to_str()
                    .ok()
                    .and_then(|host| host.parse::<http::uri::Authority>().ok())
                    .ok_or_else(invalid_host)?;
                let origin = Origin {
                    tls: routed.conn.tls,
                    hostname: authority.host(),
                    port: authority.port_u16(),
                    query: routed.query,
                };
                filters::redirect(redirect, &origin, &render)
            }
            (None, Action::Respond(direct)) => filters::direct_response(direct, &render),
            (None, Action::Forward(backends)) => {
                let mut parts = routed.parts;
                // The country header is trusted only from trusted proxies,
                // so a client cannot pass a forged one on to the backend.
                if let (false, Some(name)) = (routed.trusted, &self.settings.country_header) {
                    parts.headers.remove(name);
                }
                let outbound = Outbound {
                    parts,
                    body: routed.body,
                    rule,
                    render,
                    host: routed.host,
                    query: routed.query,
                    peer: routed.conn.peer.ip(),
                    trusted: routed.trusted,
                    tls: routed.conn.tls,
                    request_id,
                };
                self.forward(outbound, backends).await?
            }
        };

        filters::apply_header_ops(response.headers_mut(), &rule.response_headers, &render);
        Ok(response)
    }

    /// Looks the request up, reading the body for its GraphQL operation
    /// when the table needs it.
    async fn lookup<'t>(
        &self,
        table: &'t RouteTable,
        view: RequestView<'_>,
        body: Incoming,
    ) -> Result<(Matched<'t>, ProxyBody), ProxyError> {
        match table.lookup(&view) {
            Lookup::Matched(matched) => return Ok((matched, incoming(body))),
            Lookup::NotFound => return Err(ProxyError::RouteNotFound),
            Lookup::NeedsBody => {}
        }

        let limit = self.settings.graphql_max_body;
        let peeked = peek_graphql(view.method, view.headers, body, limit).await?;
        let mut view = view;
        view.graphql = match &peeked.parsed {
            Some(parsed) => GraphqlInfo::Operation(parsed.operation()),
            None => GraphqlInfo::Unavailable,
        };
        match table.lookup(&view) {
            Lookup::Matched(matched) => Ok((matched, peeked.body)),
            Lookup::NotFound | Lookup::NeedsBody => Err(ProxyError::RouteNotFound),
        }
    }

    /// Resolves the client's country, only when some match needs it.
    fn country(
        &self,
        table: &RouteTable,
        headers: &HeaderMap,
        trusted: bool,
        client: std::net::IpAddr,
    ) -> Option<CountryCode> {
        if !table.uses_geo() {
            return None;
        }
        if trusted
            && let Some(name) = &self.settings.country_header
            && let Some(country) = geo::from_header(headers, name)
        {
            return Some(country);
        }
        self.geo.as_ref()?.country(client)
    }
}

/// Returns the host the client addressed: the URI authority (HTTP/2 and
/// absolute-form), else the single Host header, else empty.
fn request_host(parts: &Parts) -> Result<HeaderValue, ProxyError> {
    if let Some(authority) = parts.uri.authority() {
        return HeaderValue::from_str(authority.as_str()).map_err(|_| invalid_host());
    }
    let mut hosts = parts.headers.get_all(header::HOST).iter();
    match (hosts.next(), hosts.next()) {
        (Some(host), None) if host.to_str().is_ok_and(is_valid_host) => Ok(host.clone()),
        (Some(_), None) => Err(invalid_host()),
        // HTTP/1.1 requires Host (RFC 9112, section 3.2); HTTP/1.0 does not.
        (None, _) if parts.version == http::Version::HTTP_11 => Err(ProxyError::BadRequest(
            "the request has no Host header, which HTTP/1.1 requires",
        )),
        (None, _) => Ok(HeaderValue::from_static("")),
        (Some(_), Some(_)) => Err(ProxyError::BadRequest(
            "the request has more than one Host header",
        )),
    }
}

/// Whether `host` is `name[:port]` or `[ipv6][:port]` with a numeric port
/// and no empty DNS label, so `.example.com` or `a..example.com` can never
/// reach a wildcard Route. An empty Host is allowed and reaches only Routes
/// without hostnames.
fn is_valid_host(host: &str) -> bool {
    let (name, port) = match host.strip_prefix('[') {
        Some(rest) => match rest.split_once(']') {
            Some((_, after)) => ("", after.strip_prefix(':')),
            None => return false,
        },
        None => match host.rsplit_once(':') {
            Some((name, port)) => (name, Some(port)),
            None => (host, None),
        },
    };
    let port_ok = port.is_none_or(|port| {
        !port.is_empty() && port.len() <= 5 && port.bytes().all(|b| b.is_ascii_digit())
    });
    let name = name.strip_suffix('.').unwrap_or(name);
    let labels_ok = host.starts_with('[')
        || name.is_empty() && port.is_none()
        || name.split('.').all(|label| {
            !label.is_empty()
                && label
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        });
    port_ok && labels_ok
}

fn invalid_host() -> ProxyError {
    ProxyError::BadRequest("the Host header is not a valid host[:port]")
}

/// `namespace/name#rule` for spans.
struct RouteName<'a>(&'a Rule);

impl std::fmt::Display for RouteName<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let route = &self.0.route;
        write!(f, "{}/{}#{}", route.namespace, route.name, self.0.index)
    }
}

#[cfg(test)]
mod host_tests {
    use super::is_valid_host;

    #[test]
    fn host_validation_accepts_names_and_ports() {
        for host in [
            "",
            "example.com",
            "a.example.com.",
            "Example.COM:8080",
            "[::1]:8080",
            "[::1]",
            "127.0.0.1:80",
        ] {
            assert!(is_valid_host(host), "{host:?} should be valid");
        }
    }

    #[test]
    fn host_validation_rejects_empty_labels_and_bad_ports() {
        for host in [
            ".example.com",
            "a..example.com",
            "example.com:abc",
            "example.com:",
            ":80",
            "[::1",
            "a b.com",
            "example.com:123456",
        ] {
            assert!(!is_valid_host(host), "{host:?} should be invalid");
        }
    }
}
