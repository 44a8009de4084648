//! Checks of the protocol helpers against their own backends, with no
//! gateway in between, so a failing end-to-end test points at the gateway.

use bytes::Bytes;
use http::{Method, StatusCode, Version};
use http_body_util::{Empty, Full};
use tokio::net::TcpStream;

use crate::backend::Backend;
use crate::certs::TestCa;
use crate::proto::pattern::{self, PatternBody, PatternCheck};
use crate::proto::{conn, grpc, raw, ws};

#[tokio::test]
async fn pattern_body_passes_own_check() {
    let total = 3 * 65_536 + 7;
    let check = PatternCheck::read_all(&mut PatternBody::new(total))
        .await
        .expect("generated body has no errors");
    assert_eq!(check.received, total);
    assert_eq!(check.first_mismatch, None);
}

#[tokio::test]
async fn pattern_check_detects_lost_byte() {
    let mut body = PatternBody::new(200_000);
    let mut sent = Vec::new();
    while let Some(frame) = http_body_util::BodyExt::frame(&mut body).await {
        sent.extend_from_slice(
            frame
                .expect("no body error")
                .data_ref()
                .expect("data frame"),
        );
    }
    sent.remove(100_000);

    let mut check = PatternCheck::default();
    for chunk in sent.chunks(4096) {
        check.update(chunk);
    }
    assert_eq!(
        check.first_mismatch,
        Some(98_304),
        "first 4 KiB chunk holding the gap"
    );
}

#[tokio::test]
async fn streaming_backend_counts_upload() {
    let backend = pattern::backend().await.backend;
    let total = 8 * 1024 * 1024;
    let mut request = conn::request(
        Version::HTTP_11,
        "http",
        "direct.test",
        pattern::UPLOAD_PATH,
        PatternBody::new(total),
    );
    *request.method_mut() = Method::POST;
    let response = conn::fetch(backend.addr(), request).await.expect("upload");
    let report = response.json().expect("report");
    assert_eq!(report["received"], total);
    assert_eq!(report["firstMismatch"], serde_json::Value::Null);
}

#[tokio::test]
async fn streaming_backend_sends_download() {
    let backend = pattern::backend().await.backend;
    let path = format!("{}?bytes=1000003", pattern::DOWNLOAD_PATH);
    let request = conn::request(
        Version::HTTP_11,
        "http",
        "direct.test",
        &path,
        Empty::<Bytes>::new(),
    );
    let stream = TcpStream::connect(backend.addr()).await.expect("connect");
    let response = conn::send_http1(stream, request).await.expect("download");
    assert_eq!(response.status(), StatusCode::OK);
    let check = PatternCheck::read_all(&mut response.into_body())
        .await
        .expect("body");
    assert_eq!(check.received, 1_000_003);
    assert_eq!(check.first_mismatch, None);
}

#[tokio::test]
async fn grpc_backend_sends_trailers() {
    let backend = grpc::backend().await;
    let mut request = conn::request(
        Version::HTTP_2,
        "http",
        "direct.test",
        "/echo.Echo/Say",
        Full::new(grpc::frame(b"hi")),
    );
    *request.method_mut() = Method::POST;
    let response = conn::fetch(backend.addr(), request)
        .await
        .expect("gRPC call");
    assert_eq!(grpc::unframe(&response.body), Some(&b"echo:hi"[..]));
    let trailers = response.trailers.expect("trailers");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(response.head.headers["x-backend-version"], "HTTP/2.0");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_helpers_echo() {
    let backend = ws::EchoServer::start().await.expect("bind");
    let addr = backend.addr();
    let messages = vec!["ping".to_owned(), "pong".to_owned()];
    let replies = ws::exchange(addr, "direct.test", "/socket", messages.clone())
        .await
        .expect("exchange");
    assert_eq!(replies, messages);
    assert_eq!(backend.paths(), vec!["/socket".to_owned()]);
}

#[tokio::test]
async fn raw_exchange_reads_response() {
    let backend = Backend::echo("raw").await;
    let response = raw::exchange(backend.addr(), &raw::get("direct.test", "/a/../b"))
        .await
        .expect("raw exchange");
    assert_eq!(response.status, 200);
    assert_eq!(response.header("x-backend"), Some("raw"));
    let body = response.json().expect("echo JSON");
    assert_eq!(
        body["path"], "/a/../b",
        "a backend receives the path as sent"
    );
}

#[tokio::test]
async fn tls_helper_verifies_name_and_negotiates_alpn() {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};

    let ca = TestCa::new();
    let leaf = ca.issue(&["direct.example.test"]);
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(leaf.chain_pem.as_bytes())
            .collect::<Result<_, _>>()
            .expect("chain PEM");
    let key = PrivateKeyDer::from_pem_slice(leaf.key_pem.as_bytes()).expect("key PEM");
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(chain.clone(), key)
        .expect("server certificate");
    config.alpn_protocols = vec![b"h2".to_vec()];
    let acceptor = tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let addr = listener.local_addr().expect("address");
    let server = tokio::spawn(async move {
        for _ in 0..2 {
            let (stream, _) = listener.accept().await.expect("accept");
            let _ = acceptor.accept(stream).await;
        }
    });

    let stream = conn::connect_tls(addr, &ca.cert_der(), "direct.example.test", &[b"h2"])
        .await
        .expect("handshake with the right name");
    let (_, session) = stream.get_ref();
    assert_eq!(session.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        session.peer_certificates().expect("certificates")[0],
        chain[0]
    );

    let wrong = conn::connect_tls(addr, &ca.cert_der(), "other.example.test", &[b"h2"]).await;
    let message = format!("{:#}", wrong.expect_err("name mismatch fails"));
    assert!(message.contains("invalid peer certificate"), "{message}");
    server.await.expect("server task");
}
