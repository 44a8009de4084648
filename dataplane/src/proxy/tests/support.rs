//! Test backends and clients.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::{Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use tokio::net::TcpListener;

/// A backend that responds to every request with a JSON echo of its head and
/// body, and counts accepted connections.
pub struct Backend {
    pub addr: SocketAddr,
    pub connections: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Backend {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// What the echo backend does with each request.
#[derive(Clone, Copy, Debug, Default)]
pub struct BackendOptions {
    /// Respond with `Connection: close`.
    pub close: bool,
    /// Serve only HTTP/2 with prior knowledge.
    pub http2_only: bool,
    /// Wait this long before responding.
    pub delay: Option<Duration>,
}

impl Backend {
    pub async fn start(options: BackendOptions) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let connections = Arc::new(AtomicUsize::new(0));
        let counter = connections.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                counter.fetch_add(1, Ordering::SeqCst);
                tokio::spawn(serve_echo(stream, options));
            }
        });
        Self {
            addr,
            connections,
            task,
        }
    }

    pub fn connection_count(&self) -> usize {
        self.connections.load(Ordering::SeqCst)
    }
}

async fn serve_echo(stream: tokio::net::TcpStream, options: BackendOptions) {
    let service = service_fn(move |request| echo(request, options));
    let mut builder = auto::Builder::new(TokioExecutor::new());
    if options.http2_only {
        builder = builder.http2_only();
    }
    let _ = builder
        .serve_connection_with_upgrades(TokioIo::new(stream), service)
        .await;
}

async fn echo(
    request: Request<Incoming>,
    options: BackendOptions,
) -> Result<Response<Full<Bytes>>, Infallible> {
    if let Some(delay) = options.delay {
        tokio::time::sleep(delay).await;
    }
    let (parts, body) = request.into_parts();
    let body = body
        .collect()
        .await
        .map(|c| c.to_bytes())
        .unwrap_or_default();
    let headers: Vec<(String, String)> = parts
        .headers
        .iter()
        .map(|(name, value)| {
            (
                name.to_string(),
                value.to_str().unwrap_or("<binary>").to_owned(),
            )
        })
        .collect();
    let document = serde_json::json!({
        "method": parts.method.as_str(),
        "uri": parts.uri.to_string(),
        "version": format!("{:?}", parts.version),
        "headers": headers,
        "body": String::from_utf8_lossy(&body),
    });
    let mut response = Response::new(Full::new(Bytes::from(document.to_string())));
    response.headers_mut().insert(
        "content-type",
        http::HeaderValue::from_static("application/json"),
    );
    if options.close {
        response
            .headers_mut()
            .insert("connection", http::HeaderValue::from_static("close"));
    }
    Ok(response)
}

/// Returns every value of header `name` in an echo document.
pub fn echoed_header<'a>(echo: &'a serde_json::Value, name: &str) -> Vec<&'a str> {
    echo["headers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|pair| pair[0] == name)
        .map(|pair| pair[1].as_str().unwrap())
        .collect()
}

/// Returns the address of a port that was just closed, so connects to it
/// are refused.
pub async fn closed_port() -> SocketAddr {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    listener.local_addr().unwrap()
}

/// A running proxy on 127.0.0.1 ephemeral ports.
pub struct Gateway {
    pub addr: SocketAddr,
    pub tls_addr: Option<SocketAddr>,
    pub store: Arc<crate::state::SnapshotStore>,
    shutdown: tokio::sync::watch::Sender<bool>,
    task: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
}

impl Gateway {
    /// Compiles `yaml`, publishes it and serves it with `settings`.
    pub async fn start(yaml: &str, settings: crate::config::ProxySettings, tls: bool) -> Self {
        let http = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = http.local_addr().unwrap();
        let https = match tls {
            true => Some(TcpListener::bind("127.0.0.1:0").await.unwrap()),
            false => None,
        };
        let tls_addr = https
            .as_ref()
            .map(|listener| listener.local_addr().unwrap());

        let store = Arc::new(crate::state::SnapshotStore::new());
        publish(&store, yaml);
        let (shutdown, receiver) = tokio::sync::watch::channel(false);
        let serving = crate::proxy::serve(http, https, Arc::new(settings), store.clone(), receiver);
        let task = tokio::spawn(serving);
        Self {
            addr,
            tls_addr,
            store,
            shutdown,
            task: Some(task),
        }
    }

    /// Signals shutdown and waits for `serve` to return.
    pub async fn stop(mut self) -> anyhow::Result<()> {
        self.shutdown.send_replace(true);
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .expect("serve returns within the deadline")
            .unwrap()
    }

    /// Signals shutdown without waiting.
    pub fn signal_shutdown(&self) {
        self.shutdown.send_replace(true);
    }

    pub async fn join(mut self) -> anyhow::Result<()> {
        let task = self.task.take().unwrap();
        tokio::time::timeout(Duration::from_secs(10), task)
            .await
            .unwrap()
            .unwrap()
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}

/// Compiles `yaml` and publishes it; panics on any rejected resource.
pub fn publish(store: &crate::state::SnapshotStore, yaml: &str) {
    let (resources, parse_errors) = portcullis_compiler::parse_documents(yaml, "test.yaml");
    assert!(parse_errors.is_empty(), "{parse_errors:#?}");
    let compiled = portcullis_compiler::compile(&resources);
    let rejected: Vec<_> = compiled
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.outcome == portcullis_compiler::Outcome::Rejected)
        .collect();
    assert!(rejected.is_empty(), "{rejected:#?}");
    store.publish(compiled.snapshot, compiled.diagnostics);
}

/// A response read to the end.
#[derive(Debug)]
pub struct Reply {
    pub status: http::StatusCode,
    pub headers: http::HeaderMap,
    pub body: Bytes,
}

impl Reply {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body)
            .unwrap_or_else(|error| panic!("body is not JSON ({error}): {:?}", self.body))
    }

    pub fn error_code(&self) -> String {
        self.json()["error"]["code"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

/// Sends one HTTP/1.1 request on a new connection to `addr`.
pub async fn send(addr: SocketAddr, request: Request<Full<Bytes>>) -> Reply {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender.send_request(request).await.unwrap();
    read_reply(response).await
}

pub async fn read_reply(response: Response<Incoming>) -> Reply {
    let (parts, body) = response.into_parts();
    let body = body.collect().await.unwrap().to_bytes();
    Reply {
        status: parts.status,
        headers: parts.headers,
        body,
    }
}

/// `GET path` with `Host: host` and extra headers.
pub fn get(host: &str, path: &str, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
    let mut builder = Request::builder().uri(path).header("host", host);
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(Bytes::new())).unwrap()
}

/// Sends raw bytes and returns the raw response head and body.
pub async fn send_raw(addr: SocketAddr, bytes: &[u8]) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(bytes).await.unwrap();
    let mut out = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(10), stream.read_to_end(&mut out));
    read.await
        .expect("the proxy closes the connection")
        .unwrap();
    String::from_utf8_lossy(&out).into_owned()
}

/// Standard base64 with padding, for Secret data.
pub fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = u32::from(b[0]) << 16 | u32::from(b[1]) << 8 | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
            } else {
                out.push('=');
            }
        }
    }
    out
}
