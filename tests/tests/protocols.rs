//! Protocol coverage through the real gateway: HTTP/2 with prior knowledge,
//! TLS certificate selection by SNI with both ALPN protocols, gRPC trailers
//! and WebSocket upgrades.

use bytes::Bytes;
use http::{Method, StatusCode, Version};
use http_body_util::{Empty, Full};
use portcullis_e2e::certs::{LeafCert, TestCa};
use portcullis_e2e::proto::conn::{self, Collected};
use portcullis_e2e::proto::manifest::{self, NAMESPACE};
use portcullis_e2e::proto::{grpc, ws};
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;
use serde_json::json;

const ALPN_H2: &[u8] = b"h2";
const ALPN_HTTP1: &[u8] = b"http/1.1";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_prior_knowledge_reaches_backend() {
    let backend = Backend::echo("h2c").await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("h2c", "h2c.example.test", &backend.endpoint()),
    );
    let gateway = Gateway::builder().config_dir(config.path()).start().await;

    let request = conn::request(
        Version::HTTP_2,
        "http",
        "h2c.example.test",
        "/hello?x=1",
        Empty::<Bytes>::new(),
    );
    let response = conn::fetch(gateway.http_addr(), request)
        .await
        .expect("HTTP/2 request through the plain listener");

    assert_eq!(
        response.head.status,
        StatusCode::OK,
        "body: {:?}",
        response.body
    );
    assert_eq!(response.head.version, Version::HTTP_2);
    assert_eq!(response.header("x-backend"), Some("h2c"));
    let received = backend.last_request();
    assert_eq!(received.path, "/hello");
    assert_eq!(received.query, "x=1");
}

/// Two Routes on two hostnames, each with its own certificate from one CA.
struct TlsSetup {
    ca: TestCa,
    leaf_a: LeafCert,
    leaf_b: LeafCert,
    backend_a: Backend,
    backend_b: Backend,
    _config: ConfigDir,
    gateway: Gateway,
}

async fn start_tls_gateway() -> TlsSetup {
    let ca = TestCa::new();
    let leaf_a = ca.issue(&["a.example.test"]);
    let leaf_b = ca.issue(&["b.example.test"]);
    let backend_a = Backend::echo("site-a").await;
    let backend_b = Backend::echo("site-b").await;

    let config = ConfigDir::new();
    config.write("secret-a.yaml", leaf_a.secret_yaml(NAMESPACE, "cert-a"));
    config.write("secret-b.yaml", leaf_b.secret_yaml(NAMESPACE, "cert-b"));
    let route = |name: &str, host: &str, secret: &str, endpoint: String| {
        manifest::route(
            name,
            json!({
                "hostnames": [host],
                "tls": {"certificateRefs": [{"name": secret}]},
                "rules": [{"backends": [{"endpoint": endpoint}]}],
            }),
        )
    };
    config.write(
        "routes.yaml",
        manifest::documents([
            route("site-a", "a.example.test", "cert-a", backend_a.endpoint()),
            route("site-b", "b.example.test", "cert-b", backend_b.endpoint()),
        ]),
    );
    let gateway = Gateway::builder()
        .config_dir(config.path())
        .tls()
        .start()
        .await;
    TlsSetup {
        ca,
        leaf_a,
        leaf_b,
        backend_a,
        backend_b,
        _config: config,
        gateway,
    }
}

fn leaf_der(leaf: &LeafCert) -> CertificateDer<'static> {
    CertificateDer::from_pem_slice(leaf.chain_pem.as_bytes())
        .expect("leaf chain starts with a certificate")
}

/// Connects with `sni` and `alpn`, checks the served certificate and the
/// negotiated protocol, and sends one request over the connection.
async fn tls_exchange(setup: &TlsSetup, sni: &str, expected: &LeafCert, alpn: &[u8]) -> Collected {
    let stream = conn::connect_tls(
        setup.gateway.https_addr(),
        &setup.ca.cert_der(),
        sni,
        &[alpn],
    )
    .await
    .unwrap_or_else(|error| panic!("TLS to {sni}: {error:#}"));

    let (_, session) = stream.get_ref();
    let served = session
        .peer_certificates()
        .expect("server sent certificates");
    assert_eq!(
        served[0],
        leaf_der(expected),
        "leaf certificate served for SNI {sni}"
    );
    assert_eq!(session.alpn_protocol(), Some(alpn), "ALPN for SNI {sni}");

    let response = if alpn == ALPN_H2 {
        let request = conn::request(Version::HTTP_2, "https", sni, "/tls", Empty::<Bytes>::new());
        conn::send_http2(stream, request).await
    } else {
        let request = conn::request(
            Version::HTTP_11,
            "https",
            sni,
            "/tls",
            Empty::<Bytes>::new(),
        );
        conn::send_http1(stream, request).await
    };
    let response = response.unwrap_or_else(|error| panic!("request over TLS to {sni}: {error:#}"));
    conn::collect(response)
        .await
        .expect("response body over TLS")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_sni_selects_certificate_per_hostname() {
    let setup = start_tls_gateway().await;
    let cases = [
        ("a.example.test", &setup.leaf_a, "site-a"),
        ("b.example.test", &setup.leaf_b, "site-b"),
    ];
    for (sni, leaf, backend) in cases {
        for alpn in [ALPN_H2, ALPN_HTTP1] {
            let response = tls_exchange(&setup, sni, leaf, alpn).await;
            let protocol = String::from_utf8_lossy(alpn);
            assert_eq!(
                response.head.status,
                StatusCode::OK,
                "{sni} over {protocol}"
            );
            assert_eq!(
                response.header("x-backend"),
                Some(backend),
                "{sni} over {protocol}"
            );
            let body = response.json().expect("echo body");
            assert_eq!(
                body["headers"]["x-forwarded-proto"], "https",
                "{sni} over {protocol}"
            );
        }
    }
    assert_eq!(setup.backend_a.hits(), 2);
    assert_eq!(setup.backend_b.hits(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_unknown_sni_fails_handshake() {
    let setup = start_tls_gateway().await;
    let addr = setup.gateway.https_addr();
    let ca = setup.ca.cert_der();

    let error = conn::connect_tls(addr, &ca, "c.example.test", &[ALPN_H2, ALPN_HTTP1])
        .await
        .expect_err("handshake with an SNI no Route serves");

    // The gateway must refuse the name itself, with an alert, rather than
    // fall back to another hostname's certificate.
    let message = format!("{error:#}");
    assert!(
        !message.contains("invalid peer certificate"),
        "gateway served a certificate for an unknown name: {message}"
    );
    assert!(
        message.contains("received fatal alert"),
        "handshake did not end with an alert from the gateway: {message}"
    );
    let known = conn::connect_tls(addr, &ca, "a.example.test", &[ALPN_HTTP1]).await;
    assert!(
        known.is_ok(),
        "listener still serves known names: {known:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn grpc_trailers_reach_client_over_h2() {
    let backend = grpc::backend().await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("grpc", "grpc.example.test", &backend.endpoint()),
    );
    let gateway = Gateway::builder().config_dir(config.path()).start().await;

    let mut request = conn::request(
        Version::HTTP_2,
        "http",
        "grpc.example.test",
        "/echo.Echo/Say",
        Full::new(grpc::frame(b"hello")),
    );
    *request.method_mut() = Method::POST;
    let headers = request.headers_mut();
    headers.insert(
        "content-type",
        grpc::CONTENT_TYPE.parse().expect("valid value"),
    );
    headers.insert("te", "trailers".parse().expect("valid value"));
    let response = conn::fetch(gateway.http_addr(), request)
        .await
        .expect("gRPC request through the gateway");

    assert_eq!(response.head.status, StatusCode::OK);
    assert_eq!(response.header("content-type"), Some(grpc::CONTENT_TYPE));
    assert_eq!(
        grpc::unframe(&response.body),
        Some(&b"echo:hello"[..]),
        "body {:?}",
        response.body
    );
    let trailers = response
        .trailers
        .as_ref()
        .expect("response carries trailers");
    assert_eq!(
        trailers.get("grpc-status").map(|value| value.as_bytes()),
        Some(&b"0"[..])
    );
    assert_eq!(
        trailers.get("grpc-message").map(|value| value.as_bytes()),
        Some(grpc::STATUS_MESSAGE.as_bytes())
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn websocket_echo_passes_through() {
    let backend = ws::EchoServer::start()
        .await
        .expect("WebSocket backend binds");
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("ws", "ws.example.test", &backend.endpoint()),
    );
    let gateway = Gateway::builder().config_dir(config.path()).start().await;

    let large = "x".repeat(200_000);
    let messages = vec!["one".to_owned(), "two".to_owned(), large];
    let replies = ws::exchange(
        gateway.http_addr(),
        "ws.example.test",
        "/chat",
        messages.clone(),
    )
    .await
    .expect("WebSocket exchange through the gateway");

    assert_eq!(replies, messages);
    assert_eq!(backend.paths(), vec!["/chat".to_owned()]);
}
