//! Forwarding headers, hop-by-hop header removal and request ids, as the
//! backend and the client see them.

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{self, Response};
use portcullis_e2e::proto::manifest;
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use serde_json::Value;

const HOST: &str = "fwd.example.test";

async fn start(extra_args: &[&str]) -> (Backend, ConfigDir, Gateway) {
    let backend = Backend::echo("fwd").await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("fwd", HOST, &backend.endpoint()),
    );
    let gateway = Gateway::builder()
        .config_dir(config.path())
        .args(extra_args.iter().copied())
        .start()
        .await;
    (backend, config, gateway)
}

async fn send_with(gateway: &Gateway, headers: &[(&str, &str)]) -> (Response, Value) {
    let mut request = client::request(Method::GET, HOST, "/headers", Bytes::new());
    for (name, value) in headers {
        let name: http::HeaderName = name.parse().expect("valid header name");
        let value = value.parse().expect("valid header value");
        request.headers_mut().append(name, value);
    }
    let response = client::send_ok(gateway.http_addr(), request).await;
    assert_eq!(response.status, StatusCode::OK, "body: {}", response.text());
    let echoed = response.json();
    (response, echoed)
}

/// Returns the value of a header as the backend received it, with
/// repeated values joined by `, `, or `None` when it is absent.
fn received<'a>(echoed: &'a Value, name: &str) -> Option<&'a str> {
    echoed["headers"][name].as_str()
}

/// Returns the Forwarded header with quotes removed, for comparisons that accept
/// both quoted and bare values (RFC 7239 allows either for these).
fn forwarded_unquoted(echoed: &Value) -> String {
    received(echoed, "forwarded")
        .unwrap_or_default()
        .replace('"', "")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn untrusted_peer_forwarding_headers_replaced() {
    let (_backend, _config, gateway) = start(&[]).await;
    let forged = [
        ("x-forwarded-for", "203.0.113.9"),
        ("x-forwarded-proto", "https"),
        ("x-forwarded-host", "evil.example.test"),
        ("forwarded", "for=203.0.113.9;proto=https"),
    ];
    let (_, echoed) = send_with(&gateway, &forged).await;

    assert_eq!(received(&echoed, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(received(&echoed, "x-forwarded-proto"), Some("http"));
    assert_eq!(received(&echoed, "x-forwarded-host"), Some(HOST));
    let forwarded = forwarded_unquoted(&echoed);
    assert!(
        !forwarded.contains("203.0.113.9"),
        "forged element kept: {forwarded}"
    );
    assert!(
        forwarded.contains("for=127.0.0.1"),
        "Forwarded: {forwarded}"
    );
    assert!(forwarded.contains("proto=http"), "Forwarded: {forwarded}");
    assert!(
        forwarded.contains(&format!("host={HOST}")),
        "Forwarded: {forwarded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trusted_proxy_forwarding_headers_appended() {
    let (_backend, _config, gateway) = start(&["--trusted-proxy", "127.0.0.1/32"]).await;
    let upstream_hop = [
        ("x-forwarded-for", "198.51.100.7"),
        ("forwarded", "for=198.51.100.7"),
    ];
    let (_, echoed) = send_with(&gateway, &upstream_hop).await;

    assert_eq!(
        received(&echoed, "x-forwarded-for"),
        Some("198.51.100.7, 127.0.0.1")
    );
    assert_eq!(received(&echoed, "x-forwarded-host"), Some(HOST));
    let forwarded = forwarded_unquoted(&echoed);
    let earlier = forwarded.find("for=198.51.100.7");
    let appended = forwarded.find("for=127.0.0.1");
    assert!(earlier.is_some(), "incoming element dropped: {forwarded}");
    assert!(appended.is_some(), "no element for the peer: {forwarded}");
    assert!(
        earlier < appended,
        "peer element not appended last: {forwarded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn forwarding_set_without_incoming_headers() {
    let (_backend, _config, gateway) = start(&[]).await;
    let (_, echoed) = send_with(&gateway, &[]).await;

    assert_eq!(received(&echoed, "x-forwarded-for"), Some("127.0.0.1"));
    assert_eq!(received(&echoed, "x-forwarded-proto"), Some("http"));
    assert_eq!(received(&echoed, "x-forwarded-host"), Some(HOST));
    let forwarded = forwarded_unquoted(&echoed);
    assert!(
        forwarded.contains("for=127.0.0.1"),
        "Forwarded: {forwarded}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hop_by_hop_headers_not_forwarded() {
    let (_backend, _config, gateway) = start(&[]).await;
    let headers = [
        ("connection", "keep-alive, x-private-hop"),
        ("x-private-hop", "secret"),
        ("keep-alive", "timeout=5"),
        ("proxy-connection", "keep-alive"),
        ("te", "gzip"),
        ("trailer", "x-checksum"),
        ("upgrade", "example-protocol"),
        ("x-end-to-end", "kept"),
    ];
    let (_, echoed) = send_with(&gateway, &headers).await;

    for name in [
        "connection",
        "x-private-hop",
        "keep-alive",
        "proxy-connection",
        "te",
        "trailer",
        "upgrade",
    ] {
        assert_eq!(
            received(&echoed, name),
            None,
            "hop-by-hop header {name} forwarded"
        );
    }
    assert_eq!(received(&echoed, "x-end-to-end"), Some("kept"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn te_trailers_is_forwarded() {
    let (_backend, _config, gateway) = start(&[]).await;
    let (_, echoed) = send_with(&gateway, &[("te", "trailers")]).await;

    assert_eq!(received(&echoed, "te"), Some("trailers"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_generated_when_absent() {
    let (_backend, _config, gateway) = start(&[]).await;
    let (first, first_echo) = send_with(&gateway, &[]).await;
    let (second, _) = send_with(&gateway, &[]).await;

    let returned = first
        .header("x-request-id")
        .expect("response carries X-Request-Id");
    assert!(!returned.is_empty());
    assert_eq!(
        received(&first_echo, "x-request-id"),
        Some(returned),
        "backend saw another id"
    );
    assert_ne!(
        second.header("x-request-id"),
        Some(returned),
        "ids repeat across requests"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_propagated_when_valid() {
    let (_backend, _config, gateway) = start(&[]).await;
    let id = "client-chosen-id-42";
    let (response, echoed) = send_with(&gateway, &[("x-request-id", id)]).await;

    assert_eq!(received(&echoed, "x-request-id"), Some(id));
    assert_eq!(response.header("x-request-id"), Some(id));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_of_200_bytes_kept() {
    let (_backend, _config, gateway) = start(&[]).await;
    let id = "b".repeat(200);
    let (response, echoed) = send_with(&gateway, &[("x-request-id", &id)]).await;

    assert_eq!(received(&echoed, "x-request-id"), Some(id.as_str()));
    assert_eq!(response.header("x-request-id"), Some(id.as_str()));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_replaced_when_invalid() {
    let (_backend, _config, gateway) = start(&[]).await;
    let too_long = "a".repeat(201);
    for id in [too_long.as_str(), "has space", "tab\there", ""] {
        let (response, echoed) = send_with(&gateway, &[("x-request-id", id)]).await;

        let returned = response
            .header("x-request-id")
            .expect("response carries X-Request-Id");
        assert_ne!(returned, id, "invalid id {id:?} kept");
        assert!(!returned.is_empty(), "empty id generated for {id:?}");
        assert_eq!(
            received(&echoed, "x-request-id"),
            Some(returned),
            "for {id:?}"
        );
    }
}
