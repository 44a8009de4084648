//! Error responses: JSON bodies with stable codes and the request id, and
//! the gateway's defences against malformed, oversized and slow clients.

use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{self, Response};
use portcullis_e2e::proto::manifest;
use portcullis_e2e::proto::raw;
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio::net::TcpStream;

const HOST: &str = "errors.example.test";

async fn start_with(manifests: &str, extra_args: &[&str]) -> (ConfigDir, Gateway) {
    let config = ConfigDir::new();
    config.write("routes.yaml", manifests);
    let gateway = Gateway::builder()
        .config_dir(config.path())
        .args(extra_args.iter().copied())
        .start()
        .await;
    (config, gateway)
}

/// Starts a gateway whose only Route sends everything on [`HOST`] to an
/// echo backend.
async fn start_echo(extra_args: &[&str]) -> (Backend, ConfigDir, Gateway) {
    let backend = Backend::echo("echo").await;
    let route = manifest::catch_all("echo", HOST, &backend.endpoint());
    let (config, gateway) = start_with(&route, extra_args).await;
    (backend, config, gateway)
}

async fn get(gateway: &Gateway, host: &str, path: &str) -> Response {
    client::get(gateway.http_addr(), host, path).await
}

/// Checks the JSON error body: status, code, a message and the request id
/// that the response header also carries.
fn assert_error(response: &Response, status: u16, code: &str) {
    assert_eq!(
        response.status.as_u16(),
        status,
        "body: {}",
        response.text()
    );
    assert_eq!(
        response
            .header("content-type")
            .map(|value| value.starts_with("application/json")),
        Some(true),
        "content type of a {code} error"
    );
    let body = response.json();
    let error = &body["error"];
    assert_eq!(error["status"], status, "error.status: {body}");
    assert_eq!(error["code"], code, "error.code: {body}");
    let message = error["message"].as_str().unwrap_or_default();
    assert!(!message.is_empty(), "error.message is empty: {body}");
    let header = response
        .header("x-request-id")
        .expect("error carries X-Request-Id");
    assert_eq!(error["requestId"], header, "error.requestId: {body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unknown_route_returns_404() {
    let backend = Backend::echo("known").await;
    let (_config, gateway) = start_with(
        &manifest::catch_all("known", HOST, &backend.endpoint()),
        &[],
    )
    .await;

    let response = get(&gateway, "unknown.example.test", "/").await;

    assert_error(&response, 404, "route_not_found");
    assert_eq!(backend.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_id_echoed_in_error_body() {
    let (_backend, _config, gateway) = start_echo(&[]).await;
    let mut request = client::request(Method::GET, "unknown.example.test", "/", Bytes::new());
    request.headers_mut().insert(
        "x-request-id",
        "error-trace-7".parse().expect("valid value"),
    );

    let response = client::send_ok(gateway.http_addr(), request).await;

    assert_error(&response, 404, "route_not_found");
    assert_eq!(response.header("x-request-id"), Some("error-trace-7"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_port_returns_502() {
    let endpoint = format!("127.0.0.1:{}", client::closed_port());
    let (_config, gateway) = start_with(&manifest::catch_all("closed", HOST, &endpoint), &[]).await;

    let response = get(&gateway, HOST, "/").await;

    assert_error(&response, 502, "upstream_connect_failed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn service_without_endpoints_returns_503() {
    let route = manifest::route(
        "empty",
        json!({
            "hostnames": [HOST],
            "rules": [{"backends": [{"name": "empty", "port": 80}]}],
        }),
    );
    let manifests = manifest::documents([manifest::service("empty", 80), route]);
    let (_config, gateway) = start_with(&manifests, &[]).await;

    let response = get(&gateway, HOST, "/").await;

    assert_error(&response, 503, "no_healthy_backend");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn silent_backend_returns_504() {
    let silent = Backend::start(|_request| std::future::pending()).await;
    let (_config, gateway) = start_with(
        &manifest::catch_all("silent", HOST, &silent.endpoint()),
        &["--response-timeout", "1"],
    )
    .await;

    let started = Instant::now();
    let response = get(&gateway, HOST, "/").await;
    let elapsed = started.elapsed();

    assert_error(&response, 504, "upstream_timeout");
    assert!(
        elapsed >= Duration::from_millis(900),
        "responded after {elapsed:?}"
    );
    assert!(
        elapsed < Duration::from_secs(10),
        "responded after {elapsed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_request_returns_400() {
    let (_backend, _config, gateway) = start_echo(&[]).await;
    let malformed: [&[u8]; 3] = [
        b"GET /x HTTP/1.1\r\nHost: errors.example.test\r\nNo colon here\r\n\r\n",
        b"GET /x HTTP/1.1\r\nHost: errors.example.test\r\nContent-Length: -5\r\n\r\n",
        b"GET /has space HTTP/1.1\r\nHost: errors.example.test\r\n\r\n",
    ];
    for request in malformed {
        let response = raw::exchange(gateway.http_addr(), request)
            .await
            .unwrap_or_else(|error| panic!("{:?}: {error:#}", String::from_utf8_lossy(request)));
        assert_eq!(
            response.status,
            400,
            "{:?}",
            String::from_utf8_lossy(request)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_header_returns_431() {
    let backend = Backend::echo("big").await;
    let (_config, gateway) =
        start_with(&manifest::catch_all("big", HOST, &backend.endpoint()), &[]).await;
    let value = "v".repeat(100 * 1024);
    let request =
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\nX-Big: {value}\r\nConnection: close\r\n\r\n");

    let response = raw::exchange(gateway.http_addr(), request.as_bytes())
        .await
        .expect("response to a 100 KiB header");

    assert_eq!(response.status, 431);
    assert_eq!(backend.hits(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_head_disconnected_after_timeout() {
    let (_backend, _config, gateway) = start_echo(&["--header-read-timeout", "1"]).await;
    let mut stream = TcpStream::connect(gateway.http_addr())
        .await
        .expect("connect");
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes())
        .await
        .expect("write a partial head");

    let open_for = raw::wait_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("gateway closes a connection whose head never ends");

    assert!(
        open_for >= Duration::from_millis(900),
        "closed after {open_for:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trickling_head_disconnected_after_timeout() {
    let (_backend, _config, gateway) = start_echo(&["--header-read-timeout", "1"]).await;
    let mut stream = TcpStream::connect(gateway.http_addr())
        .await
        .expect("connect");
    let started = Instant::now();
    stream
        .write_all(format!("GET / HTTP/1.1\r\nHost: {HOST}\r\n").as_bytes())
        .await
        .expect("write a partial head");

    // One header line every 100 ms keeps the connection busy; the timeout
    // covers the whole head, not the gap between bytes. The loop stops at
    // the first failed write, which is the gateway closing the connection.
    for index in 0..100 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        let line = format!("X-Slow-{index}: x\r\n");
        if stream.write_all(line.as_bytes()).await.is_err() {
            break;
        }
    }
    let open_for = raw::wait_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("gateway closes a connection whose head trickles in");

    let total = started.elapsed();
    assert!(
        total < Duration::from_secs(5),
        "connection stayed open {total:?} ({open_for:?} after the writes)"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn garbage_input_does_not_crash() {
    let backend = Backend::echo("survivor").await;
    let (_config, mut gateway) = start_with(
        &manifest::catch_all("survivor", HOST, &backend.endpoint()),
        &[],
    )
    .await;

    for input in garbage_inputs() {
        if let Ok(mut stream) = TcpStream::connect(gateway.http_addr()).await {
            let _ = stream.write_all(&input).await;
            let _ = stream.shutdown().await;
            // The response, if any, does not matter; only that it ends.
            let _ = raw::wait_closed(&mut stream, Duration::from_secs(5)).await;
        }
    }

    assert_eq!(
        gateway.wait_exit(Duration::ZERO).await,
        None,
        "gateway exited; log:\n{}",
        gateway.log_text()
    );
    let response = get(&gateway, HOST, "/after-garbage").await;
    assert_eq!(response.status, StatusCode::OK);
    assert_eq!(response.header("x-backend"), Some("survivor"));
}

/// Inputs that are not valid HTTP, or valid HTTP at the edges of parsers.
fn garbage_inputs() -> Vec<Vec<u8>> {
    let mut inputs: Vec<Vec<u8>> = [
        &b"\x16\x03\x01\x00\xa5\x01\x00\x00\xa1\x03\x03"[..],
        b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\x00\x00\x12\x04\x00\x00\x00\x00\x00garbage",
        b"\0\0\0\0\0\0\0\0\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /\xff\xfe HTTP/1.1\r\nHost: errors.example.test\r\n\r\n",
        b"POST / HTTP/1.1\r\nHost: errors.example.test\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n",
        b"POST / HTTP/1.1\r\nHost: errors.example.test\r\nContent-Length: 5\r\nContent-Length: 6\r\n\r\nhello",
        b"POST / HTTP/1.1\r\nHost: errors.example.test\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
        b"GET / HTTP/1.1\r\nHost: errors.example.test\r\n\tfolded: header\r\n\r\n",
        b"\r\n\r\n\r\n\r\n",
    ]
    .iter()
    .map(|input| input.to_vec())
    .collect();
    inputs.push(format!("GET /{} HTTP/1.1\r\n\r\n", "a".repeat(200_000)).into_bytes());
    inputs.extend((0..20u64).map(pseudo_random_bytes));
    inputs
}

/// 4 KiB of xorshift bytes from `seed`, so every run sends the same input.
fn pseudo_random_bytes(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..4096)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state.to_le_bytes()[0]
        })
        .collect()
}
