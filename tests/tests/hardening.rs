//! Requests that try to slip past routing or hold resources: protocol
//! upgrades other than WebSocket, connections that never send a request,
//! and HTTP/1.1 requests without a Host.

use std::time::Duration;

use portcullis_e2e::proto::{manifest, raw};
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use tokio::net::TcpStream;

const HOST: &str = "hardening.example.test";

async fn start_echo(extra_args: &[&str]) -> (Backend, ConfigDir, Gateway) {
    let backend = Backend::echo("echo").await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("echo", HOST, &backend.endpoint()),
    );
    let gateway = Gateway::builder()
        .config_dir(config.path())
        .args(extra_args.iter().copied())
        .start()
        .await;
    (backend, config, gateway)
}

#[tokio::test]
async fn h2c_upgrade_is_forwarded_as_plain_request() {
    let (backend, _config, gateway) = start_echo(&[]).await;
    let request = format!(
        "GET /open HTTP/1.1\r\nHost: {HOST}\r\nConnection: Upgrade, HTTP2-Settings\r\n\
         Upgrade: h2c\r\nHTTP2-Settings: AAMAAABkAAQAoAAAAAIAAAAA\r\n\r\n"
    );

    let response = raw::exchange(gateway.http_addr(), request.as_bytes())
        .await
        .expect("gateway answers");

    assert_eq!(
        response.status, 200,
        "an h2c upgrade must not switch protocols"
    );
    let seen = backend.last_request();
    assert!(
        !seen.headers.contains_key("upgrade"),
        "the backend must not see the Upgrade header: {:?}",
        seen.headers
    );
    assert!(!seen.headers.contains_key("http2-settings"));
}

#[tokio::test]
async fn silent_connection_is_closed_after_header_timeout() {
    let (_backend, _config, gateway) = start_echo(&["--header-read-timeout", "1"]).await;
    let mut stream = TcpStream::connect(gateway.http_addr())
        .await
        .expect("connect");

    let waited = raw::wait_closed(&mut stream, Duration::from_secs(10))
        .await
        .expect("the gateway closes a connection that sends nothing");

    assert!(
        waited >= Duration::from_millis(900),
        "closed too early: {waited:?}"
    );
}

#[tokio::test]
async fn http11_request_without_host_is_rejected() {
    let (backend, _config, gateway) = start_echo(&[]).await;

    let response = raw::exchange(
        gateway.http_addr(),
        b"GET / HTTP/1.1\r\nConnection: close\r\n\r\n",
    )
    .await
    .expect("gateway answers");

    assert_eq!(response.status, 400);
    let body = response.json().expect("JSON error body");
    assert_eq!(body["error"]["code"], "bad_request");
    assert_eq!(backend.hits(), 0);
}

#[tokio::test]
async fn http10_request_without_host_is_not_rejected() {
    let (_backend, _config, gateway) = start_echo(&[]).await;

    let response = raw::exchange(gateway.http_addr(), b"GET / HTTP/1.0\r\n\r\n")
        .await
        .expect("gateway answers");

    assert_eq!(
        response.status, 404,
        "HTTP/1.0 needs no Host; no Route serves an empty host"
    );
}

#[tokio::test]
async fn untrusted_client_headers_not_forwarded() {
    let (backend, _config, gateway) = start_echo(&["--country-header", "cf-ipcountry"]).await;
    let request = format!(
        "GET / HTTP/1.1\r\nHost: {HOST}\r\ncf-ipcountry: DE\r\nx-real-ip: 203.0.113.9\r\n\
         Connection: close\r\n\r\n"
    );

    let response = raw::exchange(gateway.http_addr(), request.as_bytes())
        .await
        .expect("gateway answers");

    assert_eq!(response.status, 200);
    let seen = backend.last_request();
    assert!(
        !seen.headers.contains_key("cf-ipcountry"),
        "{:?}",
        seen.headers
    );
    assert!(
        !seen.headers.contains_key("x-real-ip"),
        "{:?}",
        seen.headers
    );
}

#[tokio::test]
async fn trusted_country_header_is_forwarded() {
    let (backend, _config, gateway) = start_echo(&[
        "--country-header",
        "cf-ipcountry",
        "--trusted-proxy",
        "127.0.0.1/32",
    ])
    .await;
    let request =
        format!("GET / HTTP/1.1\r\nHost: {HOST}\r\ncf-ipcountry: DE\r\nConnection: close\r\n\r\n");

    let response = raw::exchange(gateway.http_addr(), request.as_bytes())
        .await
        .expect("gateway answers");

    assert_eq!(response.status, 200);
    assert_eq!(backend.last_request().headers["cf-ipcountry"], "DE");
}
