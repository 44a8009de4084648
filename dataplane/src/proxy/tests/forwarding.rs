//! Forwarding through a running proxy to real backends.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, HeaderValue, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use super::support::{
    Backend, BackendOptions, Gateway, base64, closed_port, echoed_header, get, publish, read_reply,
    send,
};
use crate::config::ProxySettings;
use crate::proxy::body::Replay;

fn forward_route(host: &str, endpoint: &str, extra: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: forward, namespace: default}}
spec:
  hostnames: [\"{host}\"]
  rules:
    - matches:
        - path: {{type: Prefix, value: /}}
      backends:
        - endpoint: \"{endpoint}\"
{extra}"
    )
}

#[tokio::test]
async fn untrusted_client_headers_are_replaced() {
    let backend = Backend::start(BackendOptions::default()).await;
    let yaml = forward_route("a.test", &backend.addr.to_string(), "");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;

    let headers = [
        ("x-forwarded-for", "6.6.6.6"),
        ("x-forwarded-host", "evil.test"),
        ("forwarded", "for=6.6.6.6"),
        ("connection", "x-hop"),
        ("x-hop", "1"),
        ("x-request-id", "fwd-1"),
    ];
    let reply = send(
        gateway.addr,
        get("a.test", "/public/../api/x?q=1", &headers),
    )
    .await;
    assert_eq!(reply.status, 200);

    let echo = reply.json();
    assert_eq!(echo["uri"], "/api/x?q=1");
    assert_eq!(echoed_header(&echo, "host"), ["a.test"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-host"), ["a.test"]);
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["http"]);
    assert_eq!(
        echoed_header(&echo, "forwarded"),
        ["for=127.0.0.1;host=a.test;proto=http"]
    );
    assert_eq!(echoed_header(&echo, "x-request-id"), ["fwd-1"]);
    assert!(echoed_header(&echo, "x-hop").is_empty());
    assert_eq!(reply.headers["x-request-id"], "fwd-1");
}

#[tokio::test]
async fn trusted_proxy_headers_are_extended() {
    let backend = Backend::start(BackendOptions::default()).await;
    let yaml = forward_route("a.test", &backend.addr.to_string(), "");
    let settings = ProxySettings {
        trusted_proxies: vec!["127.0.0.0/8".parse().unwrap()],
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(&yaml, settings, false).await;
    let headers = [
        ("x-forwarded-for", "1.2.3.4"),
        ("x-forwarded-proto", "https"),
    ];
    let reply = send(gateway.addr, get("a.test", "/", &headers)).await;
    let echo = reply.json();
    assert_eq!(
        echoed_header(&echo, "x-forwarded-for"),
        ["1.2.3.4, 127.0.0.1"]
    );
    assert_eq!(echoed_header(&echo, "x-forwarded-proto"), ["https"]);
}

#[tokio::test]
async fn refused_connect_uses_fallback() {
    let closed = closed_port().await;
    let extra = "      fallback:
        directResponse: {status: 200, body: fallback}
";
    let yaml = forward_route("a.test", &closed.to_string(), extra);
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/", &[])).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "fallback");
}

#[tokio::test]
async fn refused_connect_falls_back_to_backend() {
    let closed = closed_port().await;
    let backend = Backend::start(BackendOptions::default()).await;
    let extra = format!(
        "      fallback:
        backends:
          - endpoint: \"{}\"
",
        backend.addr
    );
    let yaml = forward_route("a.test", &closed.to_string(), &extra);
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/via-fallback", &[])).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["uri"], "/via-fallback");
}

#[tokio::test]
async fn refused_connect_without_fallback_is_502() {
    let closed = closed_port().await;
    let yaml = forward_route("a.test", &closed.to_string(), "");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/", &[])).await;
    assert_eq!(reply.status, StatusCode::BAD_GATEWAY);
    assert_eq!(reply.error_code(), "upstream_connect_failed");
}

#[tokio::test]
async fn service_without_endpoints_is_503() {
    let yaml = "apiVersion: v1
kind: Service
metadata: {name: web, namespace: default}
spec:
  ports: [{port: 80}]
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: svc, namespace: default}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {type: Prefix, value: /}
      backends:
        - {name: web, port: 80}
";
    let gateway = Gateway::start(yaml, ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/", &[])).await;
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(reply.error_code(), "no_healthy_backend");
}

#[tokio::test]
async fn slow_backend_is_504() {
    let backend = Backend::start(BackendOptions {
        delay: Some(Duration::from_secs(5)),
        ..BackendOptions::default()
    })
    .await;
    let yaml = forward_route("a.test", &backend.addr.to_string(), "");
    let settings = ProxySettings {
        response_timeout: Duration::from_millis(200),
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(&yaml, settings, false).await;
    let reply = send(gateway.addr, get("a.test", "/", &[])).await;
    assert_eq!(reply.status, StatusCode::GATEWAY_TIMEOUT);
    assert_eq!(reply.error_code(), "upstream_timeout");
}

#[tokio::test]
async fn filters_rewrite_and_modify_headers() {
    let backend = Backend::start(BackendOptions::default()).await;
    let extra = "      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: internal.test
            path: {type: ReplacePrefixMatch, value: /v2}
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{name: x-set, value: yes}]
            remove: [x-drop]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            add: [{name: x-served-by, value: portcullis}]
";
    let yaml = format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: filters, namespace: default}}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {{type: Prefix, value: /api}}
      backends:
        - endpoint: \"{}\"
{extra}",
        backend.addr
    );
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let reply = send(
        gateway.addr,
        get("a.test", "/api/users", &[("x-drop", "1")]),
    )
    .await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.headers["x-served-by"], "portcullis");
    let echo = reply.json();
    assert_eq!(echo["uri"], "/v2/users");
    assert_eq!(echoed_header(&echo, "host"), ["internal.test"]);
    assert_eq!(echoed_header(&echo, "x-set"), ["yes"]);
    assert!(echoed_header(&echo, "x-drop").is_empty());
}

#[tokio::test]
async fn graphql_body_is_peeked_and_forwarded() {
    let backend = Backend::start(BackendOptions::default()).await;
    let yaml = format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: graphql, namespace: default}}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {{type: Exact, value: /graphql}}
          graphql: {{operationName: GetUser}}
      backends:
        - endpoint: \"{}\"
    - matches:
        - path: {{type: Exact, value: /graphql}}
      directResponse: {{status: 403, body: other}}
",
        backend.addr
    );
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let body = r#"{"query":"query GetUser { user { id } }","operationName":"GetUser"}"#;
    let request = Request::post("/graphql")
        .header("host", "a.test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let reply = send(gateway.addr, request).await;
    assert_eq!(reply.status, 200, "{:?}", reply.body);
    assert_eq!(reply.json()["body"], body);

    let other = r#"{"query":"mutation Drop { drop }"}"#;
    let request = Request::post("/graphql")
        .header("host", "a.test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(other)))
        .unwrap();
    let reply = send(gateway.addr, request).await;
    assert_eq!(reply.status, 403);
}

#[tokio::test]
async fn graphql_body_over_limit_is_forwarded_whole() {
    let backend = Backend::start(BackendOptions::default()).await;
    let yaml = format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: graphql, namespace: default}}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {{type: Exact, value: /graphql}}
          graphql: {{operationType: query}}
      directResponse: {{status: 200, body: matched}}
    - matches:
        - path: {{type: Prefix, value: /}}
      backends:
        - endpoint: \"{}\"
",
        backend.addr
    );
    let settings = ProxySettings {
        graphql_max_body: 16,
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(&yaml, settings, false).await;
    let body = format!(
        r#"{{"query":"query Q {{ a }}","pad":"{}"}}"#,
        "x".repeat(100)
    );
    let request = Request::post("/graphql")
        .header("host", "a.test")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body.clone())))
        .unwrap();
    let reply = send(gateway.addr, request).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.json()["body"], body.as_str());
}

/// Starts a backend that responds to `Upgrade: echo` with 101 and then
/// echoes bytes.
async fn upgrade_backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|mut request: Request<Incoming>| async move {
                let on_upgrade = hyper::upgrade::on(&mut request);
                tokio::spawn(async move {
                    let Ok(upgraded) = on_upgrade.await else {
                        return;
                    };
                    let mut io = TokioIo::new(upgraded);
                    let mut buffer = [0_u8; 64];
                    while let Ok(n) = io.read(&mut buffer).await {
                        if n == 0 || io.write_all(&buffer[..n]).await.is_err() {
                            return;
                        }
                    }
                });
                let response = Response::builder()
                    .status(StatusCode::SWITCHING_PROTOCOLS)
                    .header("connection", "upgrade")
                    .header("upgrade", "websocket")
                    .body(Full::new(Bytes::new()))
                    .unwrap();
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(async move {
                let connection = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .with_upgrades();
                let _ = connection.await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn upgrade_is_tunneled() {
    let (backend, task) = upgrade_backend().await;
    let yaml = forward_route("a.test", &backend.to_string(), "");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;

    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(connection.with_upgrades());
    let request = Request::get("/ws")
        .header("host", "a.test")
        .header("connection", "upgrade")
        .header("upgrade", "websocket")
        .body(Full::new(Bytes::new()))
        .unwrap();
    let mut response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(response.headers()["upgrade"], "websocket");

    let upgraded = hyper::upgrade::on(&mut response).await.unwrap();
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"ping").await.unwrap();
    let mut buffer = [0_u8; 4];
    tokio::time::timeout(Duration::from_secs(5), io.read_exact(&mut buffer))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(&buffer, b"ping");
    task.abort();
}

/// Starts an HTTP/2-only backend that responds with a body and `grpc-status`
/// trailers.
async fn grpc_backend() -> (SocketAddr, tokio::task::JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let task = tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let service = service_fn(|request: Request<Incoming>| async move {
                let version = format!("{:?}", request.version());
                let _ = request.into_body().collect().await;
                let mut trailers = HeaderMap::new();
                trailers.insert("grpc-status", HeaderValue::from_static("0"));
                let body = Replay::new(vec![Bytes::from(version)], Some(trailers), None);
                let response = Response::builder()
                    .header("content-type", "application/grpc")
                    .body(body)
                    .unwrap();
                Ok::<_, Infallible>(response)
            });
            tokio::spawn(async move {
                let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    (addr, task)
}

#[tokio::test]
async fn grpc_trailers_pass_through() {
    let (backend, task) = grpc_backend().await;
    let yaml = forward_route("a.test", &backend.to_string(), "");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;

    let stream = tokio::net::TcpStream::connect(gateway.addr).await.unwrap();
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
            .await
            .unwrap();
    tokio::spawn(connection);
    let request = Request::post("http://a.test/pkg.Service/Call")
        .header("content-type", "application/grpc")
        .header("te", "trailers")
        .body(Full::new(Bytes::from_static(b"\0\0\0\0\0")))
        .unwrap();
    let response = sender.send_request(request).await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let collected = response.into_body().collect().await.unwrap();
    let trailers = collected.trailers().cloned().expect("trailers arrive");
    assert_eq!(trailers["grpc-status"], "0");
    assert_eq!(collected.to_bytes(), "HTTP/2.0");
    task.abort();
}

#[tokio::test]
async fn drain_finishes_in_flight_request() {
    let backend = Backend::start(BackendOptions {
        delay: Some(Duration::from_millis(300)),
        ..BackendOptions::default()
    })
    .await;
    let yaml = forward_route("a.test", &backend.addr.to_string(), "");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    let addr = gateway.addr;
    let in_flight = tokio::spawn(async move { send(addr, get("a.test", "/slow", &[])).await });

    // The request is in flight once the backend has accepted it.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while backend.connection_count() == 0 {
        assert!(
            tokio::time::Instant::now() < deadline,
            "request never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    gateway.signal_shutdown();
    let reply = in_flight.await.unwrap();
    assert_eq!(reply.status, 200);
    gateway.join().await.unwrap();
}

fn tls_yaml(name: &str, host: &str) -> (String, String) {
    let issued = rcgen::generate_simple_self_signed(vec![host.to_owned()]).unwrap();
    let cert_pem = issued.cert.pem();
    let yaml = format!(
        "apiVersion: v1
kind: Secret
metadata: {{name: {name}, namespace: default}}
type: kubernetes.io/tls
data:
  tls.crt: {}
  tls.key: {}
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: tls, namespace: default}}
spec:
  hostnames: [\"{host}\"]
  tls:
    certificateRefs: [{{name: {name}}}]
  rules:
    - matches:
        - path: {{type: Prefix, value: /}}
      directResponse: {{status: 200, body: secure}}
",
        base64(cert_pem.as_bytes()),
        base64(issued.signing_key.serialize_pem().as_bytes()),
    );
    (yaml, cert_pem)
}

/// Connects with TLS, trusting only `cert_pem`, and returns the HTTP/1.1
/// reply, or the handshake error.
async fn tls_get(
    addr: SocketAddr,
    server_name: &str,
    cert_pem: &str,
) -> Result<super::support::Reply, std::io::Error> {
    use rustls_pki_types::pem::PemObject;
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(rustls_pki_types::CertificateDer::from_pem_slice(cert_pem.as_bytes()).unwrap())
        .unwrap();
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let connector = tokio_rustls::TlsConnector::from(Arc::new(config));
    let name = rustls_pki_types::ServerName::try_from(server_name.to_owned()).unwrap();
    let stream = tokio::net::TcpStream::connect(addr).await?;
    let tls = connector.connect(name, stream).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .unwrap();
    tokio::spawn(connection);
    let response = sender
        .send_request(get(server_name, "/", &[]))
        .await
        .unwrap();
    Ok(read_reply(response).await)
}

#[tokio::test]
async fn tls_certificate_follows_snapshot() {
    let (yaml, first_cert) = tls_yaml("first", "secure.test");
    let gateway = Gateway::start(&yaml, ProxySettings::default(), true).await;
    let tls_addr = gateway.tls_addr.unwrap();

    let reply = tls_get(tls_addr, "secure.test", &first_cert).await.unwrap();
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "secure");
    assert!(
        tls_get(tls_addr, "unknown.test", &first_cert)
            .await
            .is_err()
    );

    let (yaml, second_cert) = tls_yaml("second", "secure.test");
    publish(&gateway.store, &yaml);
    let reply = tls_get(tls_addr, "secure.test", &second_cert)
        .await
        .unwrap();
    assert_eq!(reply.status, 200);
    assert!(tls_get(tls_addr, "secure.test", &first_cert).await.is_err());
}

#[tokio::test]
async fn service_endpoint_receives_request() {
    let backend = Backend::start(BackendOptions::default()).await;
    let yaml = format!(
        "apiVersion: v1
kind: Service
metadata: {{name: web, namespace: default}}
spec:
  ports: [{{port: 80}}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: default
  labels: {{kubernetes.io/service-name: web}}
addressType: IPv4
ports: [{{port: {}}}]
endpoints:
  - addresses: [\"127.0.0.1\"]
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: svc, namespace: default}}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {{type: Prefix, value: /}}
      backends:
        - {{name: web, port: 80}}
",
        backend.addr.port()
    );
    let gateway = Gateway::start(&yaml, ProxySettings::default(), false).await;
    for _ in 0..3 {
        let reply = send(gateway.addr, get("a.test", "/svc", &[])).await;
        assert_eq!(reply.status, 200);
        assert_eq!(reply.json()["uri"], "/svc");
    }
    // Each test request opens a new downstream connection, but the proxy
    // reuses its one upstream connection.
    assert_eq!(backend.connection_count(), 1);
}

#[tokio::test]
async fn country_header_trusted_only_from_proxies() {
    let yaml = "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: geo, namespace: default}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {type: Prefix, value: /}
          geo: {countries: [DE]}
      directResponse: {status: 200, body: de}
    - matches:
        - path: {type: Prefix, value: /}
      directResponse: {status: 200, body: other}
";
    let country = [("x-country", "de")];
    let untrusted = ProxySettings {
        country_header: Some(http::HeaderName::from_static("x-country")),
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(yaml, untrusted.clone(), false).await;
    let reply = send(gateway.addr, get("a.test", "/", &country)).await;
    assert_eq!(reply.body, "other");

    let trusted = ProxySettings {
        trusted_proxies: vec!["127.0.0.1/32".parse().unwrap()],
        ..untrusted
    };
    let gateway = Gateway::start(yaml, trusted, false).await;
    let reply = send(gateway.addr, get("a.test", "/", &country)).await;
    assert_eq!(reply.body, "de");
}
