//! Upstream connections, pooled per endpoint.
//!
//! The proxy connects before it sends, so a refused or timed-out connect is
//! known before any request byte leaves and the rule's fallback can still
//! take the untouched request. HTTP/1.1 connections are reused
//! keep-alive: a connection goes back to its endpoint's idle list when the
//! response body's last frame is read (see [`PooledBody`]), and dead ones
//! are discarded on checkout.
//! HTTP/2 connections (for gRPC) are shared by all requests to an endpoint.
//!
//! Each idle list sits behind a `std::sync::Mutex` held only to push or pop
//! one entry, never across an await, so contention is a few instructions.

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body::{Body, Frame, SizeHint};
use hyper::body::Incoming;
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;

use super::body::ProxyBody;

/// Idle HTTP/1.1 connections kept per endpoint; more are closed.
const MAX_IDLE_PER_ENDPOINT: usize = 64;

/// Protocol spoken to an endpoint.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Protocol {
    /// HTTP/1.1, one request at a time per connection.
    Http1,
    /// HTTP/2 with prior knowledge, multiplexed.
    Http2,
}

/// Failure to connect to an endpoint.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    /// TCP connect or protocol handshake failed.
    #[error("failed to connect to {endpoint}")]
    Io {
        /// Endpoint `host:port`.
        endpoint: Arc<str>,
        /// The cause.
        #[source]
        source: std::io::Error,
    },
    /// The HTTP handshake failed.
    #[error("failed the HTTP handshake with {endpoint}")]
    Handshake {
        /// Endpoint `host:port`.
        endpoint: Arc<str>,
        /// The cause.
        #[source]
        source: hyper::Error,
    },
    /// Connect did not finish within the connect timeout.
    #[error("connecting to {endpoint} timed out after {}s", timeout.as_secs_f64())]
    Timeout {
        /// Endpoint `host:port`.
        endpoint: Arc<str>,
        /// The connect timeout.
        timeout: Duration,
    },
}

/// Upstream connections of the whole proxy.
#[derive(Debug)]
pub struct Pool {
    connect_timeout: Duration,
    idle: Mutex<HashMap<Arc<str>, Vec<http1::SendRequest<ProxyBody>>>>,
    shared: Mutex<HashMap<Arc<str>, http2::SendRequest<ProxyBody>>>,
}

/// A connection checked out for one request.
#[derive(Debug)]
pub struct Checkout {
    sender: Sender,
    endpoint: Arc<str>,
    pool: Arc<Pool>,
    /// Whether the connection served an earlier request.
    pub reused: bool,
}

#[derive(Debug)]
enum Sender {
    Http1(http1::SendRequest<ProxyBody>),
    Http2(http2::SendRequest<ProxyBody>),
}

// === impl Pool ===

impl Pool {
    /// Creates an empty pool. `connect_timeout` bounds TCP connect plus
    /// handshake.
    pub fn new(connect_timeout: Duration) -> Arc<Self> {
        Arc::new(Self {
            connect_timeout,
            idle: Mutex::new(HashMap::new()),
            shared: Mutex::new(HashMap::new()),
        })
    }

    /// Returns a ready connection to `endpoint` (`host:port`), reusing one
    /// when possible.
    ///
    /// # Errors
    /// Returns [`ConnectError`] when a new connection fails or times out.
    pub async fn checkout(
        self: &Arc<Self>,
        endpoint: &Arc<str>,
        protocol: Protocol,
    ) -> Result<Checkout, ConnectError> {
        let reused = match protocol {
            Protocol::Http1 => self.take_idle(endpoint).map(Sender::Http1),
            Protocol::Http2 => self.take_shared(endpoint).map(Sender::Http2),
        };
        let (sender, reused) = match reused {
            Some(sender) => (sender, true),
            None => (self.connect(endpoint, protocol).await?, false),
        };
        Ok(Checkout {
            sender,
            endpoint: endpoint.clone(),
            pool: self.clone(),
            reused,
        })
    }

    /// Number of idle HTTP/1.1 connections to `endpoint`.
    pub fn idle_count(&self, endpoint: &str) -> usize {
        let idle = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        idle.get(endpoint).map_or(0, Vec::len)
    }

    fn take_idle(&self, endpoint: &str) -> Option<http1::SendRequest<ProxyBody>> {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let list = idle.get_mut(endpoint)?;
        // The newest connection is the least likely to have been closed by
        // the backend's idle timeout.
        while let Some(sender) = list.pop() {
            if sender.is_ready() {
                return Some(sender);
            }
        }
        None
    }

    fn put_idle(&self, endpoint: Arc<str>, sender: http1::SendRequest<ProxyBody>) {
        let mut idle = self
            .idle
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let list = idle.entry(endpoint).or_default();
        list.retain(|sender| !sender.is_closed());
        if list.len() < MAX_IDLE_PER_ENDPOINT {
            list.push(sender);
        }
    }

    fn take_shared(&self, endpoint: &str) -> Option<http2::SendRequest<ProxyBody>> {
        let mut shared = self
            .shared
            .lock()
            .unwrap_or_else(|poison| poison.into_inner());
        let sender = shared.get(endpoint)?;
        if sender.is_closed() {
            shared.remove(endpoint);
            return None;
        }
        Some(sender.clone())
    }

    async fn connect(
        &self,
        endpoint: &Arc<str>,
        protocol: Protocol,
    ) -> Result<Sender, ConnectError> {
        let connecting = self.connect_new(endpoint, protocol);
        match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(result) => result,
            Err(_) => Err(ConnectError::Timeout {
                endpoint: endpoint.clone(),
                timeout: self.connect_timeout,
            }),
        }
    }

    async fn connect_new(
        &self,
        endpoint: &Arc<str>,
        protocol: Protocol,
    ) -> Result<Sender, ConnectError> {
        let io_error = |source| ConnectError::Io {
            endpoint: endpoint.clone(),
            source,
        };
        let handshake_error = |source| ConnectError::Handshake {
            endpoint: endpoint.clone(),
            source,
        };
        let stream = TcpStream::connect(&**endpoint).await.map_err(io_error)?;
        stream.set_nodelay(true).map_err(io_error)?;
        let io = TokioIo::new(stream);

        match protocol {
            Protocol::Http1 => {
                let (sender, connection) = http1::handshake(io).await.map_err(handshake_error)?;
                tokio::spawn(drive(endpoint.clone(), connection.with_upgrades()));
                Ok(Sender::Http1(sender))
            }
            Protocol::Http2 => {
                let (sender, connection) = http2::Builder::new(TokioExecutor::new())
                    .timer(TokioTimer::new())
                    .handshake(io)
                    .await
                    .map_err(handshake_error)?;
                tokio::spawn(drive(endpoint.clone(), connection));
                let mut shared = self
                    .shared
                    .lock()
                    .unwrap_or_else(|poison| poison.into_inner());
                shared.insert(endpoint.clone(), sender.clone());
                Ok(Sender::Http2(sender))
            }
        }
    }
}

/// Runs a client connection until it closes.
async fn drive<F>(endpoint: Arc<str>, connection: F)
where
    F: Future<Output = Result<(), hyper::Error>>,
{
    if let Err(error) = connection.await {
        tracing::debug!(%endpoint, %error, "upstream connection closed with an error");
    }
}

// === impl Checkout ===

impl Checkout {
    /// Sends `request` and returns the response head. An HTTP/1.1
    /// connection returns to the pool once the response body is read,
    /// unless `reusable` is false (protocol switches keep it).
    ///
    /// # Errors
    /// Returns hyper's error when the connection fails before a response
    /// head arrives.
    pub async fn send(
        self,
        request: Request<ProxyBody>,
        reusable: bool,
    ) -> Result<Response<PooledBody>, hyper::Error> {
        match self.sender {
            Sender::Http2(mut sender) => {
                let response = sender.send_request(request).await?;
                Ok(response.map(|body| PooledBody {
                    inner: body,
                    idle: None,
                }))
            }
            Sender::Http1(mut sender) => {
                let response = sender.send_request(request).await?;
                let idle = reusable.then(|| Idle {
                    pool: self.pool,
                    endpoint: self.endpoint,
                    sender,
                });
                Ok(response.map(|body| PooledBody { inner: body, idle }))
            }
        }
    }
}

/// A response body that puts its HTTP/1.1 connection back into the pool
/// as soon as the last frame is read, so the common case costs no extra
/// task. A body dropped before its end closes the connection instead,
/// because unread bytes would corrupt the next response.
#[derive(Debug)]
pub struct PooledBody {
    inner: Incoming,
    idle: Option<Idle>,
}

/// A connection waiting for its response body to end.
#[derive(Debug)]
struct Idle {
    pool: Arc<Pool>,
    endpoint: Arc<str>,
    sender: http1::SendRequest<ProxyBody>,
}

// === impl PooledBody ===

impl PooledBody {
    fn release(&mut self) {
        if let Some(idle) = self.idle.take() {
            idle.release();
        }
    }
}

impl Body for PooledBody {
    type Data = Bytes;
    type Error = hyper::Error;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, hyper::Error>>> {
        let polled = Pin::new(&mut self.inner).poll_frame(cx);
        match &polled {
            Poll::Ready(None) => self.release(),
            Poll::Ready(Some(Ok(_))) if self.inner.is_end_stream() => self.release(),
            Poll::Ready(Some(Err(_))) => self.idle = None,
            Poll::Ready(Some(Ok(_))) | Poll::Pending => {}
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

impl Drop for PooledBody {
    fn drop(&mut self) {
        // hyper's server stops polling once `is_end_stream` is true, so a
        // fully read body can be dropped without a final `None` frame.
        if self.inner.is_end_stream() {
            self.release();
        }
    }
}

// === impl Idle ===

impl Idle {
    /// Pools the connection when hyper reports it ready, else spawns a
    /// task that waits for readiness. hyper's connection task signals
    /// readiness as soon as it polls for the next request, which on one
    /// worker thread normally happens before the last frame reaches us.
    fn release(self) {
        if self.sender.is_ready() {
            self.pool.put_idle(self.endpoint, self.sender);
        } else if !self.sender.is_closed()
            && let Ok(runtime) = tokio::runtime::Handle::try_current()
        {
            runtime.spawn(return_when_ready(self.pool, self.endpoint, self.sender));
        }
    }
}

/// Waits until the connection can take another request, then pools it.
/// A connection that closes meanwhile is dropped.
async fn return_when_ready(
    pool: Arc<Pool>,
    endpoint: Arc<str>,
    mut sender: http1::SendRequest<ProxyBody>,
) {
    if sender.ready().await.is_ok() {
        pool.put_idle(endpoint, sender);
    }
}
