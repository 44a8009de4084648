//! The operator rejects malformed streams from authenticated clients with
//! a status and a message, and lists no replica for them.

mod common;

use bytes::Bytes;
use common::{Pki, RunningServer, SERVER_NAME, within};
use http::{Method, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_channel::{STREAM_PATH, tls};
use rustls_pki_types::ServerName;
use tokio::net::TcpStream;

/// Sends one request with `body` over an authenticated HTTP/2 connection
/// and returns the status and body text.
async fn request(
    pki: &Pki,
    running: &RunningServer,
    method: Method,
    path: &str,
    body: Vec<u8>,
) -> (StatusCode, String) {
    let config = tls::client_config(&pki.client).expect("client TLS");
    let tcp = TcpStream::connect(running.address).await.expect("connect");
    let name = ServerName::try_from(SERVER_NAME).expect("valid name");
    let stream = tokio_rustls::TlsConnector::from(config)
        .connect(name, tcp)
        .await
        .expect("TLS");
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .expect("HTTP/2 handshake");
    tokio::spawn(connection);
    let request = http::Request::builder()
        .method(method)
        .uri(format!("https://{SERVER_NAME}{path}"))
        .body(Full::new(Bytes::from(body)))
        .expect("valid request");
    let response = within(sender.send_request(request))
        .await
        .expect("response");
    let status = response.status();
    let body = within(response.into_body().collect()).await.expect("body");
    (
        status,
        String::from_utf8_lossy(&body.to_bytes()).into_owned(),
    )
}

fn framed(json: &str) -> Vec<u8> {
    let mut frame = u32::try_from(json.len())
        .expect("fits")
        .to_be_bytes()
        .to_vec();
    frame.extend_from_slice(json.as_bytes());
    frame
}

#[tokio::test]
async fn unknown_path_is_not_found() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let (status, _) = request(&pki, &running, Method::POST, "/other", Vec::new()).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    running.stop().await;
}

#[tokio::test]
async fn get_on_stream_is_not_allowed() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let (status, _) = request(&pki, &running, Method::GET, STREAM_PATH, Vec::new()).await;
    assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    running.stop().await;
}

#[tokio::test]
async fn stream_must_start_with_hello() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let body = framed(r#"{"type":"ack","version":"v1"}"#);
    let (status, message) = request(&pki, &running, Method::POST, STREAM_PATH, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("first message must be hello"), "{message}");
    assert!(running.server.replicas().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn empty_replica_name_is_rejected() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let body = framed(r#"{"type":"hello","replica":"","lastVersion":null}"#);
    let (status, message) = request(&pki, &running, Method::POST, STREAM_PATH, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("invalid hello.replica"), "{message}");
    running.stop().await;
}

#[tokio::test]
async fn oversized_message_is_rejected() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let body = u32::MAX.to_be_bytes().to_vec();
    let (status, message) = request(&pki, &running, Method::POST, STREAM_PATH, body).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("exceeds the channel limit"), "{message}");
    running.stop().await;
}

#[tokio::test]
async fn body_ending_before_hello_is_rejected() {
    let pki = Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let (status, message) = request(&pki, &running, Method::POST, STREAM_PATH, Vec::new()).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert!(message.contains("ended before the hello"), "{message}");
    running.stop().await;
}
