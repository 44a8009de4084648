//! A small HTTP/1.1 client for tests: one request per connection with
//! [`send`], or several over one keep-alive connection with [`Connection`].

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http::{HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// Time allowed for one request, from connect to the end of the body.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// A buffered response.
#[derive(Clone, Debug)]
pub struct Response {
    /// Status code.
    pub status: StatusCode,
    /// Response headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// One HTTP/1.1 keep-alive connection to an address.
#[derive(Debug)]
pub struct Connection {
    sender: SendRequest<Full<Bytes>>,
}

// === impl Response ===

impl Response {
    /// Returns the body as UTF-8 text, with invalid bytes replaced.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Parses the body as JSON.
    ///
    /// # Panics
    /// Panics with the status and body when the body is not JSON.
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|err| {
            panic!(
                "response body is not JSON ({err}): {} {}",
                self.status,
                self.text()
            )
        })
    }

    /// Returns the first value of header `name` as text, when present and visible
    /// ASCII.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)?.to_str().ok()
    }

    /// Returns the `x-backend` header that an echo backend sets.
    pub fn backend(&self) -> Option<&str> {
        self.header("x-backend")
    }

    /// Returns `error.code` of a gateway error body, when the body is one.
    pub fn error_code(&self) -> Option<String> {
        let body: Value = serde_json::from_slice(&self.body).ok()?;
        Some(body.get("error")?.get("code")?.as_str()?.to_owned())
    }
}

// === impl Connection ===

impl Connection {
    /// Opens a connection to `addr`.
    ///
    /// # Errors
    /// Fails when the TCP connect or the HTTP/1.1 handshake fails.
    pub async fn connect(addr: SocketAddr) -> anyhow::Result<Self> {
        let stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("failed to connect to {addr}"))?;
        let (sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .context("HTTP/1.1 handshake failed")?;
        tokio::spawn(async move {
            // The connection ends when the peer closes it or the sender is
            // dropped; either way the next request on it fails.
            let _ = connection.await;
        });
        Ok(Self { sender })
    }

    /// Sends `request` and reads the whole response.
    ///
    /// # Errors
    /// Fails when the connection is closed, the request fails or the
    /// response does not complete within [`REQUEST_TIMEOUT`].
    pub async fn send(&mut self, request: Request<Full<Bytes>>) -> anyhow::Result<Response> {
        let exchange = async {
            self.sender.ready().await.context("connection closed")?;
            let response = self
                .sender
                .send_request(request)
                .await
                .context("request failed")?;
            let (parts, body) = response.into_parts();
            let body = body
                .collect()
                .await
                .context("failed to read body")?
                .to_bytes();
            Ok(Response {
                status: parts.status,
                headers: parts.headers,
                body,
            })
        };
        tokio::time::timeout(REQUEST_TIMEOUT, exchange)
            .await
            .context("request timed out")?
    }
}

/// Builds a request with a `Host` header, an origin-form `path` (with any
/// query) and a body. Add headers through `request.headers_mut()`.
///
/// # Panics
/// Panics when `method`, `host` or `path` is not valid in a request.
pub fn request(
    method: Method,
    host: &str,
    path: &str,
    body: impl Into<Bytes>,
) -> Request<Full<Bytes>> {
    Request::builder()
        .method(method)
        .uri(path)
        .header(http::header::HOST, host)
        .body(Full::new(body.into()))
        .unwrap_or_else(|err| panic!("invalid request {host} {path}: {err}"))
}

/// Sends `request` to `addr` over a new connection.
///
/// # Errors
/// Fails like [`Connection::connect`] and [`Connection::send`].
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> anyhow::Result<Response> {
    Connection::connect(addr).await?.send(request).await
}

/// Sends `GET path` with `Host: host` to `addr` over a new connection.
///
/// # Errors
/// Fails like [`send`].
pub async fn try_get(addr: SocketAddr, host: &str, path: &str) -> anyhow::Result<Response> {
    send(addr, request(Method::GET, host, path, Bytes::new())).await
}

/// Sends `GET path` with `Host: host` to `addr`.
///
/// # Panics
/// Panics when the request fails; an error status is not a failure.
pub async fn get(addr: SocketAddr, host: &str, path: &str) -> Response {
    try_get(addr, host, path)
        .await
        .unwrap_or_else(|err| panic!("GET http://{host}{path} via {addr} failed: {err:#}"))
}

/// Sends `request` to `addr` over a new connection.
///
/// # Panics
/// Panics when the request fails; an error status is not a failure.
pub async fn send_ok(addr: SocketAddr, request: Request<Full<Bytes>>) -> Response {
    let target = format!("{} {}", request.method(), request.uri());
    send(addr, request)
        .await
        .unwrap_or_else(|err| panic!("{target} via {addr} failed: {err:#}"))
}

/// Writes `raw` bytes to `addr` and reads until the peer closes the
/// connection, for requests that a client library would not send (odd
/// paths, malformed heads). Put `Connection: close` in `raw`, or the read
/// lasts until [`REQUEST_TIMEOUT`].
///
/// # Errors
/// Fails when connecting, writing or reading fails, or on timeout.
pub async fn send_raw(addr: SocketAddr, raw: &[u8]) -> anyhow::Result<Vec<u8>> {
    let exchange = async {
        let mut stream = TcpStream::connect(addr)
            .await
            .with_context(|| format!("failed to connect to {addr}"))?;
        stream
            .write_all(raw)
            .await
            .context("failed to write request")?;
        let mut received = Vec::new();
        stream
            .read_to_end(&mut received)
            .await
            .context("failed to read response")?;
        Ok(received)
    };
    tokio::time::timeout(REQUEST_TIMEOUT, exchange)
        .await
        .context("raw request timed out")?
}

/// Returns a port on 127.0.0.1 that was free a moment ago and has no
/// listener, for tests of connection failures.
///
/// # Panics
/// Panics when no port can be bound.
pub fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("failed to bind 127.0.0.1:0");
    let port = listener
        .local_addr()
        .expect("bound listener has an address")
        .port();
    drop(listener);
    port
}
