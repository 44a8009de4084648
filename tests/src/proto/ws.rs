//! WebSocket echo backend and client, built on the tungstenite protocol
//! implementation that tokio-tungstenite re-exports. Both sides run on
//! blocking threads with socket timeouts, because the async stream API
//! needs the `futures` traits, which this crate does not depend on.

use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::{Context as _, bail};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::handshake::client::generate_key;
use tokio_tungstenite::tungstenite::handshake::server::{
    Callback, ErrorResponse, Request, Response,
};
use tokio_tungstenite::tungstenite::{self, Message};

/// Read and write timeout of both ends, so a stuck proxy fails the test
/// instead of hanging it.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(10);

/// A running WebSocket echo server. It sends every text or binary
/// message back unchanged and records the request path of each
/// handshake.
#[derive(Debug)]
pub struct EchoServer {
    addr: SocketAddr,
    paths: Arc<Mutex<Vec<String>>>,
    accept_loop: JoinHandle<()>,
}

impl EchoServer {
    /// Starts the server on an ephemeral 127.0.0.1 port.
    ///
    /// # Errors
    /// Returns the error of binding the listener.
    pub async fn start() -> std::io::Result<Self> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let paths = Arc::new(Mutex::new(Vec::new()));
        let recorded = Arc::clone(&paths);
        let accept_loop = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let Ok(stream) = stream.into_std() else {
                    continue;
                };
                let recorded = Arc::clone(&recorded);
                tokio::task::spawn_blocking(move || echo(stream, &recorded));
            }
        });
        Ok(Self {
            addr,
            paths,
            accept_loop,
        })
    }

    /// Address the server listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Returns the address as `host:port`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Request paths of the handshakes accepted so far.
    pub fn paths(&self) -> Vec<String> {
        self.paths
            .lock()
            .map(|paths| paths.clone())
            .unwrap_or_default()
    }
}

impl Drop for EchoServer {
    fn drop(&mut self) {
        self.accept_loop.abort();
    }
}

fn echo(stream: std::net::TcpStream, paths: &Mutex<Vec<String>>) {
    if configure(&stream).is_err() {
        return;
    }
    let Ok(mut socket) = tungstenite::accept_hdr(stream, RecordPath(paths)) else {
        return;
    };
    while let Ok(message) = socket.read() {
        let reply = match message {
            Message::Text(_) | Message::Binary(_) => message,
            Message::Close(_) => break,
            _ => continue,
        };
        if socket.send(reply).is_err() {
            break;
        }
    }
}

/// Handshake callback that records the request path and accepts.
struct RecordPath<'a>(&'a Mutex<Vec<String>>);

impl Callback for RecordPath<'_> {
    fn on_request(self, request: &Request, response: Response) -> Result<Response, ErrorResponse> {
        if let Ok(mut paths) = self.0.lock() {
            paths.push(request.uri().path().to_owned());
        }
        Ok(response)
    }
}

fn configure(stream: &std::net::TcpStream) -> std::io::Result<()> {
    stream.set_nonblocking(false)?;
    stream.set_read_timeout(Some(SOCKET_TIMEOUT))?;
    stream.set_write_timeout(Some(SOCKET_TIMEOUT))
}

/// Opens a WebSocket to `ws://{host}{path}` through the gateway at
/// `gateway`, sends each message as text, and returns the replies in
/// order. Closes the socket cleanly at the end.
///
/// # Errors
/// Returns connect, handshake and I/O errors, and a reply that is not text.
pub async fn exchange(
    gateway: SocketAddr,
    host: &str,
    path: &str,
    messages: Vec<String>,
) -> anyhow::Result<Vec<String>> {
    let url = format!("ws://{host}{path}");
    tokio::task::spawn_blocking(move || exchange_blocking(gateway, &url, &messages))
        .await
        .context("WebSocket client thread panicked")?
}

fn exchange_blocking(
    gateway: SocketAddr,
    url: &str,
    messages: &[String],
) -> anyhow::Result<Vec<String>> {
    let stream = std::net::TcpStream::connect(gateway)
        .with_context(|| format!("connect to {gateway} failed"))?;
    configure(&stream)?;
    let request = http::Request::builder()
        .uri(url)
        .header("host", host_of(url))
        .header("connection", "Upgrade")
        .header("upgrade", "websocket")
        .header("sec-websocket-version", "13")
        .header("sec-websocket-key", generate_key())
        .body(())
        .context("invalid WebSocket request")?;
    let (mut socket, response) =
        tungstenite::client(request, stream).context("WebSocket handshake failed")?;
    if response.status() != http::StatusCode::SWITCHING_PROTOCOLS {
        bail!(
            "handshake returned status {}, expected 101",
            response.status()
        );
    }

    let mut replies = Vec::with_capacity(messages.len());
    for message in messages {
        socket.send(Message::text(message.as_str()))?;
        match socket.read().context("read reply failed")? {
            Message::Text(text) => replies.push(text.as_str().to_owned()),
            other => bail!("expected a text reply, got {other:?}"),
        }
    }
    socket.close(None)?;
    // Reading until the peer's close frame ends the exchange cleanly.
    while socket.read().is_ok() {}
    Ok(replies)
}

fn host_of(url: &str) -> &str {
    let rest = url.strip_prefix("ws://").unwrap_or(url);
    rest.split('/').next().unwrap_or(rest)
}
