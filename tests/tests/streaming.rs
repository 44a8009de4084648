//! Large bodies stream through the gateway in both directions, over
//! HTTP/1.1 and HTTP/2, without the gateway holding them in memory, and a
//! slow reader on either side holds back the sender instead of growing the
//! gateway's buffers.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use http::{Method, Response, StatusCode, Version};
use hyper::body::Incoming;
use portcullis_e2e::proto::conn::{self, Collected};
use portcullis_e2e::proto::manifest;
use portcullis_e2e::proto::pattern::{self, PatternBody, PatternCheck, StreamingBackend};
use portcullis_e2e::{ConfigDir, Gateway};
use tokio::net::TcpStream;

/// Size of each transfer: 200 MiB.
const TRANSFER_BYTES: u64 = 200 * 1024 * 1024;

/// Peak resident memory the gateway may reach while streaming.
const PEAK_RSS_LIMIT_KIB: u64 = 64 * 1024;

/// Bytes a sender may get ahead of a reader that has stopped: kernel socket
/// buffers on two connections plus the gateway's own buffers stay well
/// under this, while a gateway that buffers whole bodies exceeds it.
const IN_FLIGHT_LIMIT: u64 = 64 * 1024 * 1024;

/// How long a reader stops reading in the backpressure tests. At the
/// transfer rates measured here (hundreds of MB/s) an unbounded buffer
/// would pass [`IN_FLIGHT_LIMIT`] well within it.
const STALL: Duration = Duration::from_secs(1);

/// Upper bound on one transfer through a debug build, so a stalled stream
/// fails the test instead of hanging it.
const TRANSFER_TIMEOUT: Duration = Duration::from_secs(300);

const HOST: &str = "stream.example.test";

async fn start() -> (StreamingBackend, ConfigDir, Gateway) {
    let backend = pattern::backend().await;
    let config = ConfigDir::new();
    config.write(
        "routes.yaml",
        manifest::catch_all("stream", HOST, &backend.backend.endpoint()),
    );
    let gateway = Gateway::builder().config_dir(config.path()).start().await;
    (backend, config, gateway)
}

async fn send(
    gateway: &Gateway,
    request: http::Request<PatternBody>,
) -> anyhow::Result<Response<Incoming>> {
    let stream = TcpStream::connect(gateway.http_addr()).await?;
    if request.version() == Version::HTTP_2 {
        conn::send_http2(stream, request).await
    } else {
        conn::send_http1(stream, request).await
    }
}

fn upload_request(version: Version, path: &str, body: PatternBody) -> http::Request<PatternBody> {
    let mut request = conn::request(version, "http", HOST, path, body);
    *request.method_mut() = Method::POST;
    request
        .headers_mut()
        .insert("content-length", TRANSFER_BYTES.into());
    request
}

fn download_request(version: Version) -> http::Request<PatternBody> {
    let path = format!("{}?bytes={TRANSFER_BYTES}", pattern::DOWNLOAD_PATH);
    // An empty generated body keeps one request type for both directions.
    conn::request(version, "http", HOST, &path, PatternBody::new(0))
}

/// Checks the backend's report of a finished upload and the gateway's
/// peak memory.
fn assert_upload_intact(gateway: &Gateway, response: &Collected) {
    assert_eq!(
        response.head.status,
        StatusCode::OK,
        "body: {:?}",
        response.body
    );
    let report = response.json().expect("backend report");
    assert_eq!(
        report["received"], TRANSFER_BYTES,
        "bytes the backend received"
    );
    assert_eq!(
        report["firstMismatch"],
        serde_json::Value::Null,
        "corrupted upload"
    );
    assert_peak_rss(gateway);
}

fn assert_download_intact(gateway: &Gateway, check: &PatternCheck) {
    assert_eq!(check.received, TRANSFER_BYTES, "bytes the client received");
    assert_eq!(check.first_mismatch, None, "corrupted download");
    assert_peak_rss(gateway);
}

fn assert_peak_rss(gateway: &Gateway) {
    let peak = gateway.peak_rss_kib();
    eprintln!("gateway peak RSS: {peak} KiB");
    assert!(peak < PEAK_RSS_LIMIT_KIB, "gateway peak RSS {peak} KiB");
}

async fn upload(gateway: &Gateway, version: Version) {
    let request = upload_request(
        version,
        pattern::UPLOAD_PATH,
        PatternBody::new(TRANSFER_BYTES),
    );
    let started = Instant::now();
    let exchange = async { conn::collect(send(gateway, request).await?).await };
    let response = tokio::time::timeout(TRANSFER_TIMEOUT, exchange)
        .await
        .expect("upload finished within the timeout")
        .expect("upload through the gateway");
    eprintln!(
        "{version:?} upload of {TRANSFER_BYTES} bytes took {:?}",
        started.elapsed()
    );

    assert_upload_intact(gateway, &response);
}

async fn download(gateway: &Gateway, version: Version) {
    let started = Instant::now();
    let exchange = async {
        let response = send(gateway, download_request(version)).await?;
        let status = response.status();
        let check = PatternCheck::read_all(&mut response.into_body()).await?;
        anyhow::Ok((status, check))
    };
    let (status, check) = tokio::time::timeout(TRANSFER_TIMEOUT, exchange)
        .await
        .expect("download finished within the timeout")
        .expect("download through the gateway");
    eprintln!(
        "{version:?} download of {TRANSFER_BYTES} bytes took {:?}",
        started.elapsed()
    );

    assert_eq!(status, StatusCode::OK);
    assert_download_intact(gateway, &check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_200_mib_over_http1() {
    let (_backend, _config, gateway) = start().await;
    upload(&gateway, Version::HTTP_11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_200_mib_over_http1() {
    let (_backend, _config, gateway) = start().await;
    download(&gateway, Version::HTTP_11).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn upload_200_mib_over_h2c() {
    let (_backend, _config, gateway) = start().await;
    upload(&gateway, Version::HTTP_2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn download_200_mib_over_h2c() {
    let (_backend, _config, gateway) = start().await;
    download(&gateway, Version::HTTP_2).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_client_holds_back_download() {
    let (backend, _config, gateway) = start().await;
    let response = send(&gateway, download_request(Version::HTTP_11))
        .await
        .expect("download response head");
    assert_eq!(response.status(), StatusCode::OK);

    // The client reads nothing for a while, as a slow mobile client would.
    tokio::time::sleep(STALL).await;
    let pulled = backend.download_progress.load(Ordering::SeqCst);
    assert!(
        pulled < IN_FLIGHT_LIMIT,
        "gateway pulled {pulled} bytes for a stalled client"
    );

    let check = tokio::time::timeout(
        TRANSFER_TIMEOUT,
        PatternCheck::read_all(&mut response.into_body()),
    )
    .await
    .expect("download finished within the timeout")
    .expect("download body");
    assert_download_intact(&gateway, &check);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_backend_holds_back_upload() {
    let (backend, _config, gateway) = start().await;
    let pushed = Arc::new(AtomicU64::new(0));
    let body = PatternBody::new(TRANSFER_BYTES).with_progress(Arc::clone(&pushed));
    let path = format!("{}?hold", pattern::UPLOAD_PATH);
    let request = upload_request(Version::HTTP_11, &path, body);
    let addr = gateway.http_addr();
    let upload = tokio::spawn(async move {
        let stream = TcpStream::connect(addr).await?;
        conn::collect(conn::send_http1(stream, request).await?).await
    });

    let deadline = Instant::now() + Duration::from_secs(10);
    while backend.backend.hits() == 0 {
        assert!(
            Instant::now() < deadline,
            "upload never reached the backend"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    // The backend reads nothing for a while, as a busy backend would.
    tokio::time::sleep(STALL).await;
    let sent = pushed.load(Ordering::SeqCst);
    assert!(
        sent < IN_FLIGHT_LIMIT,
        "gateway accepted {sent} bytes the backend did not read"
    );

    backend.upload_release.add_permits(1);
    let response = tokio::time::timeout(TRANSFER_TIMEOUT, upload)
        .await
        .expect("upload finished within the timeout")
        .expect("upload task")
        .expect("upload through the gateway");
    assert_upload_intact(&gateway, &response);
}
