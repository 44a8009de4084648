//! One replica connection: TLS handshake, HTTP/2, and the message stream.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, watch};

use super::registry::Nacked;
use super::{ChannelServer, Published};
use crate::body::{self, StreamBody};
use crate::frame::FrameReader;
use crate::message::ClientMessage;
use crate::{CONTENT_TYPE, STREAM_PATH, http2_settings};

/// Time a client gets to finish the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// Time a client gets to send `hello` after opening the stream.
const HELLO_TIMEOUT: Duration = Duration::from_secs(10);

/// Maximum length of a replica name, that of a Kubernetes pod name.
const MAX_REPLICA_NAME: usize = 253;

/// Serves one TCP connection until the peer leaves or the task is aborted.
pub(super) async fn serve_connection(server: ChannelServer, tcp: TcpStream, peer: SocketAddr) {
    let handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, server.shared.acceptor.accept(tcp));
    let tls = match handshake.await {
        Ok(Ok(tls)) => tls,
        Ok(Err(error)) => {
            reject_handshake(&server, peer, &error);
            return;
        }
        Err(_) => {
            reject_handshake(&server, peer, &"TLS handshake timed out");
            return;
        }
    };

    let service = service_fn(move |request| handle(server.clone(), peer, request));
    let mut builder = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(http2_settings::KEEPALIVE_INTERVAL)
        .keep_alive_timeout(http2_settings::KEEPALIVE_TIMEOUT)
        .initial_stream_window_size(http2_settings::STREAM_WINDOW)
        .initial_connection_window_size(http2_settings::CONNECTION_WINDOW);
    if let Err(error) = builder.serve_connection(TokioIo::new(tls), service).await {
        tracing::debug!(%peer, %error, "channel connection closed with an error");
    }
}

fn reject_handshake(server: &ChannelServer, peer: SocketAddr, error: &dyn std::fmt::Display) {
    server
        .shared
        .rejected_handshakes
        .fetch_add(1, Ordering::Relaxed);
    tracing::debug!(%peer, %error, "channel TLS handshake rejected");
}

/// Handles one request, returning the message stream or an error response.
async fn handle(
    server: ChannelServer,
    peer: SocketAddr,
    request: Request<Incoming>,
) -> Result<Response<StreamBody>, Infallible> {
    if request.uri().path() != STREAM_PATH {
        return Ok(error_response(StatusCode::NOT_FOUND, "unknown path"));
    }
    if request.method() != Method::POST {
        return Ok(error_response(
            StatusCode::METHOD_NOT_ALLOWED,
            "the stream accepts POST only",
        ));
    }

    let mut reader = FrameReader::new(request.into_body());
    let (replica, reported_version) = match read_hello(&mut reader).await {
        Ok(hello) => hello,
        Err(message) => {
            tracing::debug!(%peer, message, "channel stream rejected");
            return Ok(error_response(StatusCode::BAD_REQUEST, &message));
        }
    };

    let (sender, body) = body::channel();
    let latest = server.shared.latest.subscribe();
    let session = Session {
        server,
        replica,
        reader,
        sender,
    };
    tokio::spawn(session.run(latest, peer, reported_version));
    let response = Response::builder()
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .expect("static headers are valid");
    Ok(response)
}

/// Reads and checks the first message, returning the replica name and its
/// reported version, or the reason to reject the stream.
async fn read_hello(
    reader: &mut FrameReader<Incoming>,
) -> Result<(String, Option<String>), String> {
    let first = tokio::time::timeout(HELLO_TIMEOUT, reader.next::<ClientMessage>()).await;
    let message = match first {
        Err(_) => return Err("no hello message within 10 seconds".to_owned()),
        Ok(Err(error)) => return Err(format!("invalid hello message: {error}")),
        Ok(Ok(None)) => return Err("stream ended before the hello message".to_owned()),
        Ok(Ok(Some(message))) => message,
    };
    let ClientMessage::Hello {
        replica,
        last_version,
    } = message
    else {
        return Err("the first message must be hello".to_owned());
    };
    if replica.is_empty() || replica.len() > MAX_REPLICA_NAME {
        return Err(format!(
            "invalid hello.replica: expected 1 to {MAX_REPLICA_NAME} bytes"
        ));
    }
    Ok((replica, last_version))
}

/// Builds an error response with a one-line plain text body.
fn error_response(status: StatusCode, message: &str) -> Response<StreamBody> {
    let (sender, body) = body::channel();
    // The queue is empty, so the one message always fits.
    let _ = sender.try_send(Bytes::from(format!("{message}\n")));
    Response::builder()
        .status(status)
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .body(body)
        .expect("static headers are valid")
}

/// The open stream of one replica.
struct Session {
    server: ChannelServer,
    replica: String,
    reader: FrameReader<Incoming>,
    sender: mpsc::Sender<Bytes>,
}

impl Session {
    async fn run(
        mut self,
        mut latest: watch::Receiver<Option<Published>>,
        peer: SocketAddr,
        reported_version: Option<String>,
    ) {
        let replica = self.replica.clone();
        self.update(|replicas| replicas.connect(&replica, peer, reported_version));
        tracing::debug!(replica = %self.replica, %peer, "replica connected");

        if let Err(reason) = self.exchange(&mut latest).await {
            tracing::debug!(replica = %self.replica, %peer, reason, "replica stream ended");
        }

        self.update(|replicas| replicas.disconnect(&replica));
    }

    /// Sends every new snapshot and records every reply until the stream
    /// ends. Sending waits for queue room without blocking the reading of
    /// replies, and a snapshot superseded while waiting is never sent.
    async fn exchange(
        &mut self,
        latest: &mut watch::Receiver<Option<Published>>,
    ) -> Result<(), String> {
        let mut pending = latest.borrow_and_update().is_some();
        loop {
            tokio::select! {
                changed = latest.changed() => {
                    changed.map_err(|_| "server dropped".to_owned())?;
                    pending = true;
                }
                permit = self.sender.reserve(), if pending => {
                    let permit = permit.map_err(|_| "response stream closed".to_owned())?;
                    let frame = latest.borrow_and_update().as_ref().map(|p| p.frame.clone());
                    if let Some(frame) = frame {
                        permit.send(frame);
                    }
                    pending = false;
                }
                message = self.reader.next::<ClientMessage>() => {
                    match message.map_err(|error| error.to_string())? {
                        Some(message) => self.record(message)?,
                        None => return Ok(()),
                    }
                }
                () = self.sender.closed() => return Err("response stream closed".to_owned()),
            }
        }
    }

    fn record(&self, message: ClientMessage) -> Result<(), String> {
        let replica = self.replica.as_str();
        match message {
            ClientMessage::Ack { version } => {
                tracing::debug!(replica, version, "replica acknowledged snapshot");
                self.update(|replicas| replicas.ack(replica, version));
            }
            ClientMessage::Nack {
                version,
                reason,
                resource,
            } => {
                tracing::debug!(replica, version, reason, "replica rejected snapshot");
                let nacked = Nacked {
                    version,
                    reason,
                    resource,
                };
                self.update(|replicas| replicas.nack(replica, nacked));
            }
            ClientMessage::Hello { .. } => return Err("hello sent twice".to_owned()),
        }
        Ok(())
    }

    fn update(&self, change: impl FnOnce(&mut super::Replicas)) {
        self.server.shared.replicas.send_modify(change);
    }
}
