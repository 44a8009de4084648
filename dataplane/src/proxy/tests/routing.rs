//! Routing, normalization and error responses through a running proxy.

use super::support::{Gateway, get, send, send_raw};
use crate::config::{EncodedSlash, ProxySettings};

fn direct_route(host: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: direct, namespace: default}}
spec:
  hostnames: [\"{host}\"]
  rules:
    - matches:
        - path: {{type: Exact, value: /admin}}
      directResponse: {{status: 200, body: admin}}
    - matches:
        - path: {{type: Prefix, value: /}}
      directResponse:
        status: 200
        body: root
        headers: [{{name: content-type, value: text/plain}}]
"
    )
}

#[tokio::test]
async fn direct_response_gets_request_id() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/x", &[])).await;
    assert_eq!(reply.status, 200);
    assert_eq!(reply.body, "root");
    assert_eq!(reply.headers["content-type"], "text/plain");
    let id = reply.headers["x-request-id"].to_str().unwrap();
    assert_eq!(id.len(), 32);

    let reply = send(
        gateway.addr,
        get("a.test", "/x", &[("x-request-id", "abc-1")]),
    )
    .await;
    assert_eq!(reply.headers["x-request-id"], "abc-1");
}

#[tokio::test]
async fn unknown_host_gets_json_404() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    let reply = send(
        gateway.addr,
        get("other.test", "/", &[("x-request-id", "r-404")]),
    )
    .await;
    assert_eq!(reply.status, 404);
    assert_eq!(reply.headers["content-type"], "application/json");
    assert_eq!(reply.error_code(), "route_not_found");
    assert_eq!(reply.json()["error"]["requestId"], "r-404");
    assert_eq!(reply.headers["x-request-id"], "r-404");
}

#[tokio::test]
async fn dot_segments_reach_exact_match() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    for path in ["/public/../admin", "//admin", "/%61dmin", "/x/%2e%2e/admin"] {
        let reply = send(gateway.addr, get("a.test", path, &[])).await;
        assert_eq!(reply.body, "admin", "{path}");
    }
    let reply = send(gateway.addr, get("a.test", "/ADMIN", &[])).await;
    assert_eq!(reply.body, "root");
}

#[tokio::test]
async fn encoded_slash_follows_setting() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/admin%2f..", &[])).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "encoded_slash_rejected");

    let mut settings = ProxySettings::default();
    settings.normalization.encoded_slash = EncodedSlash::Decode;
    let gateway = Gateway::start(&direct_route("a.test"), settings, false).await;
    let reply = send(gateway.addr, get("a.test", "/x%2F..%2Fadmin", &[])).await;
    assert_eq!(reply.body, "admin");
}

#[tokio::test]
async fn malformed_path_gets_400() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/a%zz", &[])).await;
    assert_eq!(reply.status, 400);
    assert_eq!(reply.error_code(), "bad_request");

    let raw = send_raw(
        gateway.addr,
        b"OPTIONS * HTTP/1.1\r\nhost: a.test\r\nconnection: close\r\n\r\n",
    )
    .await;
    assert!(raw.starts_with("HTTP/1.1 400"), "{raw}");
    assert!(raw.contains("bad_request"), "{raw}");
}

#[tokio::test]
async fn oversized_head_gets_431() {
    let settings = ProxySettings {
        max_header_bytes: 8192,
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(&direct_route("a.test"), settings, false).await;
    let big = "v".repeat(16 * 1024);
    let request = format!("GET / HTTP/1.1\r\nhost: a.test\r\nx-big: {big}\r\n\r\n");
    let raw = send_raw(gateway.addr, request.as_bytes()).await;
    assert!(raw.starts_with("HTTP/1.1 431"), "{raw}");
}

#[tokio::test]
async fn redirect_builds_location() {
    let yaml = "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: redirect, namespace: default}
spec:
  hostnames: [\"a.test\"]
  rules:
    - matches:
        - path: {type: Prefix, value: /old}
      filters:
        - type: RequestRedirect
          requestRedirect:
            scheme: https
            path: {type: ReplacePrefixMatch, value: /new}
            statusCode: 301
      directResponse: {status: 200, body: not redirected}
";
    let gateway = Gateway::start(yaml, ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test:8080", "/old/page?q=1", &[])).await;
    assert_eq!(reply.status, 301);
    assert_eq!(reply.headers["location"], "https://a.test/new/page?q=1");
}

#[tokio::test]
async fn shutdown_returns_when_idle() {
    let gateway = Gateway::start(&direct_route("a.test"), ProxySettings::default(), false).await;
    let reply = send(gateway.addr, get("a.test", "/", &[])).await;
    assert_eq!(reply.status, 200);
    gateway.stop().await.unwrap();
}

#[tokio::test]
async fn slow_head_is_cut_off() {
    let settings = ProxySettings {
        header_read_timeout: std::time::Duration::from_millis(200),
        ..ProxySettings::default()
    };
    let gateway = Gateway::start(&direct_route("a.test"), settings, false).await;
    // The head never ends, so only the header read timeout closes the
    // connection; `send_raw` fails the test after its own 10 s deadline.
    let raw = send_raw(gateway.addr, b"GET / HTTP/1.1\r\nhost: a.test\r\n").await;
    assert!(!raw.contains("200 OK"), "{raw}");
}
