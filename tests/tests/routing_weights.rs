//! Weighted backend split through the real binary: 95/5 over 10,000
//! requests sent by 16 concurrent keep-alive connections.

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{Connection, request};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: canary, namespace: default}
spec:
  hostnames: [weights.example.com]
  rules:
    - backends:
        - {endpoint: "$STABLE", weight: 95}
        - {endpoint: "$CANARY", weight: 5}
    - matches: [{path: {type: Prefix, value: /off}}]
      backends:
        - {endpoint: "$STABLE", weight: 1}
        - {endpoint: "$CANARY", weight: 0}
"#;

const REQUESTS: usize = 10_000;
const TASKS: usize = 16;

async fn start() -> (Gateway, ConfigDir, Backend, Backend) {
    let stable = Backend::echo("stable").await;
    let canary = Backend::echo("canary").await;
    let routes = ROUTES
        .replace("$STABLE", &stable.endpoint())
        .replace("$CANARY", &canary.endpoint());
    let dir = ConfigDir::new();
    dir.write("routes.yaml", routes);
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;
    (gateway, dir, stable, canary)
}

/// Sends `total` requests for `path` over `TASKS` keep-alive connections
/// and returns how many each backend served, as (stable, canary).
async fn spread(gateway: &Gateway, path: &'static str, total: usize) -> (usize, usize) {
    let next = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for _ in 0..TASKS {
        let next = Arc::clone(&next);
        let addr = gateway.http_addr();
        tasks.push(tokio::spawn(async move {
            let mut connection = Connection::connect(addr)
                .await
                .expect("connect to the gateway");
            let (mut stable, mut canary) = (0, 0);
            while next.fetch_add(1, Ordering::Relaxed) < total {
                let request = request(Method::GET, "weights.example.com", path, Bytes::new());
                let response = connection.send(request).await.expect("request succeeds");
                assert_eq!(response.status, StatusCode::OK, "{}", response.text());
                match response.backend() {
                    Some("stable") => stable += 1,
                    Some("canary") => canary += 1,
                    other => panic!("unexpected backend {other:?}"),
                }
            }
            (stable, canary)
        }));
    }

    let mut counts = (0, 0);
    for task in tasks {
        let (stable, canary) = task.await.expect("request task finished");
        counts.0 += stable;
        counts.1 += canary;
    }
    counts
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn split_follows_weights_within_tolerance() {
    let (gateway, _dir, stable, canary) = start().await;

    let (to_stable, to_canary) = spread(&gateway, "/", REQUESTS).await;

    assert_eq!(to_stable + to_canary, REQUESTS);
    let stable_share = to_stable as f64 * 100.0 / REQUESTS as f64;
    assert!(
        (93.5..=96.5).contains(&stable_share),
        "stable got {stable_share:.2}% ({to_stable} of {REQUESTS}), expected 95 +/- 1.5"
    );
    assert_eq!(stable.hits(), to_stable);
    assert_eq!(canary.hits(), to_canary);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn zero_weight_backend_gets_nothing() {
    let (gateway, _dir, _stable, canary) = start().await;

    let (to_stable, to_canary) = spread(&gateway, "/off", 500).await;

    assert_eq!(to_stable, 500);
    assert_eq!(to_canary, 0);
    assert_eq!(canary.hits(), 0);
}
