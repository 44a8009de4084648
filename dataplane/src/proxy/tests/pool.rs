//! Upstream pool against real backends.

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode, Version};
use http_body_util::BodyExt;

use super::support::{Backend, BackendOptions, closed_port};
use crate::proxy::body::empty;
use crate::proxy::pool::{ConnectError, Pool, Protocol};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

fn get(uri: &str, version: Version) -> Request<crate::proxy::body::ProxyBody> {
    let mut request = Request::new(empty());
    *request.uri_mut() = uri.parse().unwrap();
    *request.version_mut() = version;
    request
        .headers_mut()
        .insert("host", http::HeaderValue::from_static("backend.test"));
    request
}

/// Waits, with a deadline, until the pool contains `count` idle connections.
async fn wait_idle(pool: &Pool, endpoint: &str, count: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
    while pool.idle_count(endpoint) != count {
        assert!(
            tokio::time::Instant::now() < deadline,
            "pool never reached {count} idle"
        );
        tokio::task::yield_now().await;
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

async fn round_trip(pool: &Arc<Pool>, endpoint: &Arc<str>) -> bool {
    let checkout = pool.checkout(endpoint, Protocol::Http1).await.unwrap();
    let reused = checkout.reused;
    let response = checkout
        .send(get("/", Version::HTTP_11), true)
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    response.into_body().collect().await.unwrap();
    reused
}

#[tokio::test]
async fn http1_connection_is_reused() {
    let backend = Backend::start(BackendOptions::default()).await;
    let pool = Pool::new(CONNECT_TIMEOUT);
    let endpoint: Arc<str> = Arc::from(backend.addr.to_string());

    assert!(!round_trip(&pool, &endpoint).await);
    wait_idle(&pool, &endpoint, 1).await;
    assert!(round_trip(&pool, &endpoint).await);
    wait_idle(&pool, &endpoint, 1).await;
    assert_eq!(backend.connection_count(), 1);
}

#[tokio::test]
async fn closed_connection_is_not_reused() {
    let backend = Backend::start(BackendOptions {
        close: true,
        ..BackendOptions::default()
    })
    .await;
    let pool = Pool::new(CONNECT_TIMEOUT);
    let endpoint: Arc<str> = Arc::from(backend.addr.to_string());

    assert!(!round_trip(&pool, &endpoint).await);
    assert!(!round_trip(&pool, &endpoint).await);
    assert_eq!(backend.connection_count(), 2);
    assert_eq!(pool.idle_count(&endpoint), 0);
}

#[tokio::test]
async fn abandoned_body_is_not_pooled() {
    let backend = Backend::start(BackendOptions::default()).await;
    let pool = Pool::new(CONNECT_TIMEOUT);
    let endpoint: Arc<str> = Arc::from(backend.addr.to_string());

    let checkout = pool.checkout(&endpoint, Protocol::Http1).await.unwrap();
    let response = checkout
        .send(get("/", Version::HTTP_11), true)
        .await
        .unwrap();
    drop(response);

    assert!(!round_trip(&pool, &endpoint).await);
    assert_eq!(backend.connection_count(), 2);
}

#[tokio::test]
async fn refused_connect_is_an_error() {
    let pool = Pool::new(CONNECT_TIMEOUT);
    let endpoint: Arc<str> = Arc::from(closed_port().await.to_string());
    let error = pool.checkout(&endpoint, Protocol::Http1).await.unwrap_err();
    assert!(matches!(error, ConnectError::Io { .. }), "{error:?}");
}

#[tokio::test]
async fn http2_connection_is_shared() {
    let backend = Backend::start(BackendOptions {
        http2_only: true,
        ..BackendOptions::default()
    })
    .await;
    let pool = Pool::new(CONNECT_TIMEOUT);
    let endpoint: Arc<str> = Arc::from(backend.addr.to_string());
    let uri = format!("http://{}/grpc", backend.addr);

    let first = pool.checkout(&endpoint, Protocol::Http2).await.unwrap();
    let second = pool.checkout(&endpoint, Protocol::Http2).await.unwrap();
    assert!(!first.reused);
    assert!(second.reused);
    let (a, b) = tokio::join!(
        first.send(get(&uri, Version::HTTP_2), true),
        second.send(get(&uri, Version::HTTP_2), true),
    );
    assert_eq!(a.unwrap().status(), StatusCode::OK);
    assert_eq!(b.unwrap().status(), StatusCode::OK);
    assert_eq!(backend.connection_count(), 1);
}
