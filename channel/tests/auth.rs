//! Only clients with a certificate from the channel CA reach the stream;
//! nothing else receives snapshot bytes.

mod common;

use std::sync::Arc;

use bytes::Bytes;
use common::{
    Pki, RunningClient, RunningServer, SERVER_NAME, TestCa, client_config, poll_until, snapshot_of,
    within,
};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::{TokioExecutor, TokioIo};
use portcullis_channel::STREAM_PATH;
use rcgen::ExtendedKeyUsagePurpose;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// A Route name that appears in the published snapshot's JSON.
const MARKER: &str = "secret-marker-route";

async fn server_with_snapshot(pki: &Pki) -> RunningServer {
    let running = RunningServer::start(&pki.server).await;
    let snapshot = snapshot_of(&[MARKER]);
    running.server.publish(&snapshot).expect("publish");
    running
}

/// Builds a TLS client that trusts the channel CA but presents no certificate.
fn anonymous_tls(pki: &Pki) -> tokio_rustls::TlsConnector {
    let mut roots = RootCertStore::empty();
    let ca = CertificateDer::from_pem_slice(pki.ca.cert_pem.as_bytes()).expect("CA PEM parses");
    roots.add(ca).expect("CA accepted");
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("default versions")
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"h2".to_vec()];
    tokio_rustls::TlsConnector::from(Arc::new(config))
}

#[tokio::test]
async fn client_without_certificate_gets_no_stream() {
    let pki = Pki::new();
    let running = server_with_snapshot(&pki).await;

    let tcp = TcpStream::connect(running.address).await.expect("connect");
    let server_name = ServerName::try_from(SERVER_NAME).expect("valid name");
    // TLS 1.3 lets the client finish its side before the server checks the
    // certificate, so the rejection shows on the first exchange.
    let result = async {
        let tls = anonymous_tls(&pki).connect(server_name, tcp).await?;
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .map_err(std::io::Error::other)?;
        tokio::spawn(connection);
        let request = http::Request::post(format!("https://{SERVER_NAME}{STREAM_PATH}"))
            .body(Full::new(Bytes::from_static(b"\0\0\0\x02{}")))
            .expect("valid request");
        let response = sender
            .send_request(request)
            .await
            .map_err(std::io::Error::other)?;
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?;
        Ok::<_, std::io::Error>(body.to_bytes())
    };
    let outcome = within(result).await;
    assert!(
        outcome.is_err(),
        "stream opened without a certificate: {outcome:?}"
    );

    poll_until("handshake rejection counted", || {
        running.server.rejected_handshakes() >= 1
    })
    .await;
    assert!(running.server.replicas().is_empty());
    running.stop().await;
}

#[tokio::test]
async fn rejected_tls_client_reads_no_plaintext() {
    let pki = Pki::new();
    let running = server_with_snapshot(&pki).await;

    let tcp = TcpStream::connect(running.address).await.expect("connect");
    let server_name = ServerName::try_from(SERVER_NAME).expect("valid name");
    let mut plaintext = Vec::new();
    let read = async {
        let mut tls = anonymous_tls(&pki).connect(server_name, tcp).await?;
        tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n").await?;
        tls.read_to_end(&mut plaintext).await
    };
    let outcome = within(read).await;
    assert!(outcome.is_err(), "read succeeded: {outcome:?}");
    assert!(
        plaintext.is_empty(),
        "received {} plaintext bytes",
        plaintext.len()
    );
    running.stop().await;
}

#[tokio::test]
async fn plain_http_client_sees_no_snapshot_bytes() {
    let pki = Pki::new();
    let running = server_with_snapshot(&pki).await;

    let mut tcp = TcpStream::connect(running.address).await.expect("connect");
    let request = format!("POST {STREAM_PATH} HTTP/1.1\r\nHost: {SERVER_NAME}\r\n\r\n");
    let mut received = Vec::new();
    let exchange = async {
        tcp.write_all(request.as_bytes()).await?;
        tcp.read_to_end(&mut received).await
    };
    // The server closes or resets the connection; either way it ends.
    let _ = within(exchange).await;
    let text = String::from_utf8_lossy(&received);
    assert!(!text.contains(MARKER), "snapshot bytes leaked: {text}");
    assert!(
        !text.contains("HTTP/1.1 200"),
        "plain HTTP answered: {text}"
    );
    poll_until("handshake rejection counted", || {
        running.server.rejected_handshakes() >= 1
    })
    .await;
    running.stop().await;
}

#[tokio::test]
async fn client_certificate_from_other_ca_is_rejected() {
    let pki = Pki::new();
    let running = server_with_snapshot(&pki).await;
    let rogue_ca = TestCa::new("Rogue CA");
    let leaf = rogue_ca.issue(
        &["rogue.portcullis.test"],
        ExtendedKeyUsagePurpose::ClientAuth,
    );
    // The rogue client trusts the real CA, so only its own certificate is wrong.
    let files = rogue_ca.write_files(&pki.dir, "rogue", leaf, &pki.ca);

    let mut client = RunningClient::start(client_config(&files, running.address, "rogue"));
    let status = client.wait_status(|s| s.consecutive_failures >= 2).await;
    let error = status.last_error.expect("error recorded");
    assert!(error.contains("alert"), "unexpected error: {error}");
    assert_eq!(status.streams_opened, 0);
    assert!(
        client.applied.try_recv().is_err(),
        "rogue client applied a snapshot"
    );
    assert!(running.server.replicas().is_empty());
    assert!(running.server.rejected_handshakes() >= 1);

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn server_with_wrong_name_is_rejected_by_client() {
    let pki = Pki::new();
    let running = server_with_snapshot(&pki).await;
    let mut config = client_config(&pki.client, running.address, "pod-w");
    config.server_name = "other.portcullis.test".to_owned();

    let mut client = RunningClient::start(config);
    let status = client.wait_status(|s| s.consecutive_failures >= 1).await;
    let error = status.last_error.expect("error recorded");
    assert!(error.contains("certificate"), "unexpected error: {error}");
    assert_eq!(status.streams_opened, 0);
    assert!(client.applied.try_recv().is_err());

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn server_certificate_from_other_ca_is_rejected_by_client() {
    let pki = Pki::new();
    let rogue_ca = TestCa::new("Rogue CA");
    let leaf = rogue_ca.issue(&[SERVER_NAME], ExtendedKeyUsagePurpose::ServerAuth);
    let rogue_server = rogue_ca.write_files(&pki.dir, "rogue-server", leaf, &pki.ca);
    let running = RunningServer::start(&rogue_server).await;
    running
        .server
        .publish(&snapshot_of(&[MARKER]))
        .expect("publish");

    let mut client = RunningClient::start(client_config(&pki.client, running.address, "pod-r"));
    let status = client.wait_status(|s| s.consecutive_failures >= 1).await;
    let error = status.last_error.expect("error recorded");
    assert!(error.contains("certificate"), "unexpected error: {error}");
    assert!(client.applied.try_recv().is_err());

    client.stop().await;
    running.stop().await;
}
