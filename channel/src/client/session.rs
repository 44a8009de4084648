//! One connection attempt: connect, open the stream, exchange messages.

use std::path::PathBuf;
use std::time::Duration;

use bytes::Bytes;
use http::{Request, header};
use http_body_util::{BodyExt, Limited};
use hyper::body::Incoming;
use hyper::client::conn::http2::SendRequest;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use portcullis_compiler::ir::SnapshotIr;
use tokio::net::TcpStream;
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

use super::{ChannelClient, ClientError, error_chain};
use crate::body::{self, StreamBody};
use crate::frame::{self, FrameReader};
use crate::message::{ClientMessage, NackReason, ServerMessage};
use crate::{CONTENT_TYPE, STREAM_PATH, http2_settings, persist};

/// Time the operator gets to reply to the stream request after `hello`.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(10);

/// Bytes of an error response body kept for the error message.
const MAX_ERROR_BODY: usize = 1024;

/// Aborts the HTTP/2 connection task when the attempt ends.
struct AbortOnDrop(JoinHandle<Result<(), hyper::Error>>);

impl Drop for AbortOnDrop {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Runs one connection until it fails or the operator ends the stream.
/// Sets `delivered` once a snapshot arrives, so the caller resets backoff.
pub(super) async fn run<F>(
    client: &ChannelClient,
    apply: &mut F,
    applied: &mut Option<String>,
    delivered: &mut bool,
) -> Result<(), ClientError>
where
    F: FnMut(SnapshotIr) -> Result<String, NackReason>,
{
    let tls = connect(client).await?;
    let mut builder = hyper::client::conn::http2::Builder::new(TokioExecutor::new());
    builder
        .timer(TokioTimer::new())
        .keep_alive_interval(http2_settings::KEEPALIVE_INTERVAL)
        .keep_alive_timeout(http2_settings::KEEPALIVE_TIMEOUT)
        .keep_alive_while_idle(true)
        .initial_stream_window_size(http2_settings::STREAM_WINDOW)
        .initial_connection_window_size(http2_settings::CONNECTION_WINDOW);
    let (mut sender, connection) = builder
        .handshake(TokioIo::new(tls))
        .await
        .map_err(ClientError::Http)?;
    let mut connection = AbortOnDrop(tokio::spawn(connection));

    let result = exchange(client, &mut sender, apply, applied, delivered).await;
    // The connection's own error, such as a TLS alert for a rejected
    // certificate, explains a failure better than the stream's.
    if result.is_err()
        && connection.0.is_finished()
        && let Ok(Err(error)) = (&mut connection.0).await
    {
        return Err(ClientError::Http(error));
    }
    result
}

async fn connect(client: &ChannelClient) -> Result<TlsStream<TcpStream>, ClientError> {
    let address = client.config.address.as_str();
    let attempt = async {
        let tcp = TcpStream::connect(address).await?;
        tcp.set_nodelay(true)?;
        let connector = TlsConnector::from(client.tls.clone());
        connector.connect(client.server_name.clone(), tcp).await
    };
    let timeout = client.config.connect_timeout;
    let source = match tokio::time::timeout(timeout, attempt).await {
        Ok(Ok(tls)) => return Ok(tls),
        Ok(Err(source)) => source,
        Err(_) => std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            format!("connect and TLS handshake timed out after {timeout:?}"),
        ),
    };
    Err(ClientError::Connect {
        address: address.to_owned(),
        source,
    })
}

/// Opens the stream, then applies each snapshot and replies until it ends.
async fn exchange<F>(
    client: &ChannelClient,
    sender: &mut SendRequest<StreamBody>,
    apply: &mut F,
    applied: &mut Option<String>,
    delivered: &mut bool,
) -> Result<(), ClientError>
where
    F: FnMut(SnapshotIr) -> Result<String, NackReason>,
{
    let (replies, body) = body::channel();
    let hello = ClientMessage::Hello {
        replica: client.config.replica.clone(),
        last_version: applied.clone(),
    };
    send(&replies, &hello).await?;
    let mut reader = open_stream(client, sender, body).await?;
    client.status.send_modify(|status| {
        status.connected = true;
        status.streams_opened += 1;
    });
    tracing::debug!(address = client.config.address, "operator channel open");

    while let Some(message) = reader.next::<ServerMessage>().await? {
        let ServerMessage::Snapshot { version, ir } = message;
        *delivered = true;
        let reply = handle_snapshot(client, apply, applied, version, ir).await;
        send(&replies, &reply).await?;
    }
    Ok(())
}

async fn send(
    replies: &tokio::sync::mpsc::Sender<Bytes>,
    message: &ClientMessage,
) -> Result<(), ClientError> {
    let frame = frame::encode(message)?;
    replies.send(frame).await.map_err(|_| ClientError::Closed)
}

async fn open_stream(
    client: &ChannelClient,
    sender: &mut SendRequest<StreamBody>,
    body: StreamBody,
) -> Result<FrameReader<Incoming>, ClientError> {
    let request = Request::post(stream_uri(&client.config.server_name))
        .header(header::CONTENT_TYPE, CONTENT_TYPE)
        .body(body)
        .map_err(|_| ClientError::ServerName(client.config.server_name.clone()))?;
    let response = tokio::time::timeout(RESPONSE_TIMEOUT, sender.send_request(request))
        .await
        .map_err(|_| ClientError::ResponseTimeout(RESPONSE_TIMEOUT))?
        .map_err(ClientError::Http)?;

    let status = response.status();
    if !status.is_success() {
        let body = Limited::new(response.into_body(), MAX_ERROR_BODY)
            .collect()
            .await;
        let message = match body {
            Ok(collected) => String::from_utf8_lossy(&collected.to_bytes())
                .trim()
                .to_owned(),
            Err(_) => "(unreadable body)".to_owned(),
        };
        return Err(ClientError::Rejected { status, message });
    }
    Ok(FrameReader::new(response.into_body()))
}

fn stream_uri(server_name: &str) -> String {
    if server_name.parse::<std::net::Ipv6Addr>().is_ok() {
        format!("https://[{server_name}]{STREAM_PATH}")
    } else {
        format!("https://{server_name}{STREAM_PATH}")
    }
}

/// Applies one snapshot and returns the reply. A snapshot of the version
/// already applied is acknowledged without applying it again.
async fn handle_snapshot<F>(
    client: &ChannelClient,
    apply: &mut F,
    applied: &mut Option<String>,
    version: String,
    ir: SnapshotIr,
) -> ClientMessage
where
    F: FnMut(SnapshotIr) -> Result<String, NackReason>,
{
    if applied.as_deref() == Some(version.as_str()) {
        tracing::debug!(version, "snapshot already applied; acknowledging");
        return ClientMessage::Ack { version };
    }
    // Serialized before `apply` consumes the snapshot, and only when it
    // is going to be saved.
    let bytes = client
        .config
        .persist_path
        .as_ref()
        .map(|_| serde_json::to_vec(&ir).expect("a snapshot serializes to JSON"));

    match apply(ir) {
        Ok(local_version) => {
            *applied = Some(version.clone());
            client.status.send_modify(|status| {
                status.applied_version = Some(version.clone());
                status.local_version = Some(local_version);
                status.consecutive_failures = 0;
            });
            if let (Some(path), Some(bytes)) = (client.config.persist_path.clone(), bytes) {
                save(path, version.clone(), bytes).await;
            }
            ClientMessage::Ack { version }
        }
        Err(nack) => {
            tracing::debug!(version, reason = %nack, "snapshot rejected by the replica");
            ClientMessage::Nack {
                version,
                reason: nack.reason,
                resource: nack.resource,
            }
        }
    }
}

/// Saves an applied snapshot off the runtime threads. A failure is logged
/// and otherwise ignored: the replica serves the snapshot either way and
/// only loses it across a restart.
async fn save(path: PathBuf, version: String, bytes: Vec<u8>) {
    let task =
        tokio::task::spawn_blocking(move || persist::save_snapshot_bytes(&path, &version, &bytes));
    match task.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => {
            tracing::warn!(
                error = error_chain(&error),
                "saving the applied snapshot failed"
            );
        }
        Err(error) => tracing::warn!(%error, "saving the applied snapshot failed"),
    }
}
