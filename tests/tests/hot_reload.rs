//! Configuration reloads under continuous load.
//!
//! Eight clients send requests on keep-alive connections while a writer
//! rewrites the configuration folder 50 times, adding, changing and removing
//! routes, and once writing an invalid Route. Every request must succeed, no
//! connection may break, and every response must come from the configuration
//! that was current when the request started or from a later one.
//!
//! Version `N` of the configuration contains:
//! - Route `version`: `GET /version` returns the body `N`;
//! - Route `proxied`: `/proxied` goes to an echo backend with the request
//!   header `x-config-version: N`;
//! - Routes `extra-K` for the `K` that [`extra_present`] selects: `/extra/K`
//!   returns `extra-K:N` and the response header `x-config-version: N`.
//!
//! The writer publishes `N` in `applied` only after the admin endpoint
//! reports a new snapshot version and a probe of `/version` returns `N`.
//! Each client reads `applied` just before sending, so a response older than
//! that value means a request saw a configuration that had already been
//! replaced.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::backend::Backend;
use portcullis_e2e::client::{self, Connection, Response};
use portcullis_e2e::gateway::{ConfigDir, Gateway, LogLine};

/// Configuration versions written after the initial version 0.
const VERSIONS: u64 = 50;
/// The version whose `version` Route carries an invalid regular expression.
const INVALID_VERSION: u64 = 25;
/// Extra routes, some of which each version adds or removes.
const EXTRA_ROUTES: u64 = 6;
const CLIENTS: usize = 8;
/// Time allowed for one written version to be served.
const APPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// Upper bound on the client loops, in case the writer never stops them.
const LOAD_LIMIT: Duration = Duration::from_secs(300);
const POLL_INTERVAL: Duration = Duration::from_millis(20);
const HOST: &str = "reload.example";
/// Failure messages kept for the assertion output. Every failure is counted.
const MAX_KEPT_FAILURES: usize = 20;

/// State shared between the writer and the clients.
#[derive(Debug, Default)]
struct Shared {
    /// Highest version the writer has finished applying.
    applied: AtomicU64,
    /// Highest version the writer has started to write.
    written: AtomicU64,
    stop: AtomicBool,
    failures: Mutex<Vec<String>>,
    failure_count: AtomicU64,
    /// Versions seen in `/version` responses, to show the load spanned swaps.
    seen_versions: Mutex<BTreeSet<u64>>,
}

/// Requests sent and reconnections made by one client.
#[derive(Debug, Default)]
struct ClientStats {
    requests: u64,
    reconnects: u64,
}

/// Returns whether Route `extra-{route}` exists in configuration `version`.
/// Two of the six are absent in each version, a different pair than in the
/// version before.
fn extra_present(route: u64, version: u64) -> bool {
    !(version + route).is_multiple_of(3)
}

/// Returns the path of request number `index` of client `client`.
fn request_path(client: usize, index: u64) -> String {
    let slot = (client as u64 + index) % (EXTRA_ROUTES + 2);
    match slot {
        0 => "/version".to_owned(),
        1 => "/proxied".to_owned(),
        route => format!("/extra/{}", route - 2),
    }
}

// === manifests ===

fn version_route(version: u64, invalid: bool) -> String {
    // The bad expression sits in a second match of an existing rule, so the
    // whole Route must be rejected while its previous version keeps serving.
    let invalid_match = if invalid {
        "        - path:\n            type: Regex\n            value: \"/version/(unclosed\"\n"
    } else {
        ""
    };
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: version
  namespace: default
spec:
  rules:
    - name: version
      matches:
        - path:
            type: Exact
            value: /version
{invalid_match}      directResponse:
        body: \"{version}\"
"
    )
}

fn proxied_route(version: u64, backend: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: proxied
  namespace: default
spec:
  rules:
    - matches:
        - path:
            value: /proxied
      backends:
        - endpoint: {backend}
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set:
              - name: x-config-version
                value: \"{version}\"
"
    )
}

fn extra_route(route: u64, version: u64) -> String {
    // Switching the match type changes the compiled matcher, not only the
    // response, on every version.
    let kind = if version.is_multiple_of(2) {
        "Exact"
    } else {
        "Prefix"
    };
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: extra-{route}
  namespace: default
spec:
  priority: {version}
  rules:
    - matches:
        - path:
            type: {kind}
            value: /extra/{route}
      directResponse:
        headers:
          - name: x-config-version
            value: \"{version}\"
        body: \"extra-{route}:{version}\"
"
    )
}

/// Writes every file of `version`. The `version` Route goes last, so once a
/// probe of `/version` returns `version`, the other files are on disk too.
fn write_version(dir: &ConfigDir, version: u64, backend: &str) {
    for route in 0..EXTRA_ROUTES {
        let name = format!("extra-{route}.yaml");
        if extra_present(route, version) {
            dir.write(&name, extra_route(route, version));
        } else if dir.path().join(&name).exists() {
            dir.remove(&name);
        }
    }
    dir.write("proxied.yaml", proxied_route(version, backend));
    dir.write(
        "version.yaml",
        version_route(version, version == INVALID_VERSION),
    );
}

// === checks on responses ===

/// Parses the version out of `text`, which must start with `prefix`.
fn parse_version(text: &str, prefix: &str) -> Result<u64, String> {
    text.strip_prefix(prefix)
        .and_then(|rest| rest.parse().ok())
        .ok_or_else(|| format!("expected a body {prefix}<version>, got {text:?}"))
}

/// Checks that `version` lies between the version applied when the request
/// started and the highest version written when the response arrived.
fn check_range(version: u64, applied: u64, written: u64) -> Result<(), String> {
    if version < applied {
        return Err(format!(
            "served version {version} after version {applied} was applied"
        ));
    }
    if version > written {
        return Err(format!(
            "served version {version} before it was written ({written})"
        ));
    }
    Ok(())
}

fn check_version(response: &Response, applied: u64, written: u64) -> Result<u64, String> {
    if response.status != StatusCode::OK {
        return Err(format!("status {}: {}", response.status, response.text()));
    }
    let version = parse_version(&response.text(), "")?;
    check_range(version, applied, written)?;
    if version == INVALID_VERSION {
        return Err(format!(
            "served version {version} of the rejected Route version"
        ));
    }
    Ok(version)
}

fn check_proxied(response: &Response, applied: u64, written: u64) -> Result<(), String> {
    if response.status != StatusCode::OK {
        return Err(format!("status {}: {}", response.status, response.text()));
    }
    let echo = serde_json::from_slice::<serde_json::Value>(&response.body)
        .map_err(|err| format!("echo body is not JSON ({err}): {}", response.text()))?;
    let header = echo["headers"]["x-config-version"]
        .as_str()
        .unwrap_or_default();
    let version = parse_version(header, "")?;
    // Route proxied is valid in every version, the invalid one included.
    check_range(version, applied, written)
}

/// Checks a response for `/extra/{route}`: either the route's body from an
/// allowed version, or a 404 while some allowed version lacks the route.
fn check_extra(route: u64, response: &Response, applied: u64, written: u64) -> Result<(), String> {
    if response.status == StatusCode::NOT_FOUND {
        let json = serde_json::from_slice::<serde_json::Value>(&response.body).unwrap_or_default();
        if json["error"]["code"] != "route_not_found" {
            return Err(format!("404 without route_not_found: {}", response.text()));
        }
        return match (applied..=written).any(|version| !extra_present(route, version)) {
            true => Ok(()),
            false => Err(format!(
                "404 for extra-{route}, present in [{applied}, {written}]"
            )),
        };
    }
    if response.status != StatusCode::OK {
        return Err(format!("status {}: {}", response.status, response.text()));
    }
    let version = parse_version(&response.text(), &format!("extra-{route}:"))?;
    let header = response.header("x-config-version").unwrap_or_default();
    if header != version.to_string() {
        return Err(format!(
            "body version {version} with header x-config-version {header:?}"
        ));
    }
    if !extra_present(route, version) {
        return Err(format!(
            "extra-{route} served from version {version}, which lacks it"
        ));
    }
    check_range(version, applied, written)
}

fn check_response(
    path: &str,
    response: &Response,
    shared: &Shared,
    applied: u64,
) -> Result<(), String> {
    let written = shared.written.load(Ordering::SeqCst);
    if path == "/version" {
        let version = check_version(response, applied, written)?;
        shared
            .seen_versions
            .lock()
            .expect("seen versions lock")
            .insert(version);
        Ok(())
    } else if path == "/proxied" {
        check_proxied(response, applied, written)
    } else {
        let route = path
            .trim_start_matches("/extra/")
            .parse()
            .map_err(|_| "bad path".to_owned())?;
        check_extra(route, response, applied, written)
    }
}

// === clients ===

fn record_failure(shared: &Shared, message: String) {
    shared.failure_count.fetch_add(1, Ordering::SeqCst);
    let mut failures = shared.failures.lock().expect("failures lock");
    if failures.len() < MAX_KEPT_FAILURES {
        failures.push(message);
    }
}

/// Sends requests on one keep-alive connection until the writer stops the
/// load. A transport error ends the client and counts as a failure. A
/// response with `Connection: close` is followed by a new connection.
async fn run_client(id: usize, addr: SocketAddr, shared: Arc<Shared>) -> ClientStats {
    let mut stats = ClientStats::default();
    let started = Instant::now();
    let mut connection = match Connection::connect(addr).await {
        Ok(connection) => connection,
        Err(err) => {
            record_failure(&shared, format!("client {id}: connect failed: {err:#}"));
            return stats;
        }
    };
    while !shared.stop.load(Ordering::SeqCst) && started.elapsed() < LOAD_LIMIT {
        let path = request_path(id, stats.requests);
        let applied = shared.applied.load(Ordering::SeqCst);
        let request = client::request(Method::GET, HOST, &path, Bytes::new());
        stats.requests += 1;
        let response = match connection.send(request).await {
            Ok(response) => response,
            Err(err) => {
                record_failure(&shared, format!("client {id}: GET {path} failed: {err:#}"));
                return stats;
            }
        };
        if let Err(message) = check_response(&path, &response, &shared, applied) {
            record_failure(&shared, format!("client {id}: GET {path}: {message}"));
        }
        if response.header("connection") == Some("close") {
            stats.reconnects += 1;
            connection = match Connection::connect(addr).await {
                Ok(connection) => connection,
                Err(err) => {
                    record_failure(&shared, format!("client {id}: reconnect failed: {err:#}"));
                    return stats;
                }
            };
        }
    }
    stats
}

// === writer ===

/// Polls `GET /version` on a new connection until its body is `expected`.
async fn wait_for_probe(gateway: &Gateway, expected: u64) {
    let deadline = Instant::now() + APPLY_TIMEOUT;
    loop {
        let response = client::get(gateway.http_addr(), HOST, "/version").await;
        if response.status == StatusCode::OK && response.text() == expected.to_string() {
            return;
        }
        assert!(
            Instant::now() < deadline,
            "GET /version still returns {} {:?}, expected {expected}; log:\n{}",
            response.status,
            response.text(),
            gateway.log_text()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Writes `version` and waits until it is served. Returns the new snapshot
/// version reported by the admin endpoint.
async fn apply_valid(
    gateway: &Gateway,
    dir: &ConfigDir,
    backend: &str,
    version: u64,
    old: &str,
) -> String {
    write_version(dir, version, backend);
    let snapshot = gateway.wait_for_version_change(old, APPLY_TIMEOUT).await;
    wait_for_probe(gateway, version).await;
    snapshot
}

fn is_version_rejection(line: &LogLine) -> bool {
    line.message() == Some("resource rejected")
        && line
            .field("resource")
            .is_some_and(|resource| resource.contains("version"))
}

/// Writes the invalid version and checks that it is rejected with a log line
/// naming the Route and field, while the previous `/version` keeps serving
/// and the valid files of the same write are applied.
async fn apply_invalid(
    gateway: &Gateway,
    dir: &ConfigDir,
    backend: &str,
    version: u64,
    old: &str,
) -> String {
    let skip = gateway.logs().len();
    write_version(dir, version, backend);

    let line = wait_for_rejection(gateway, skip).await;
    let resource = line.field("resource").unwrap_or_default();
    assert_eq!(
        resource, "Route/default/version",
        "rejection names the Route: {}",
        line.raw
    );
    let field = line.field("field").unwrap_or_default();
    assert!(
        field.contains("path"),
        "rejection names the path field: {}",
        line.raw
    );

    let snapshot = gateway.wait_for_version_change(old, APPLY_TIMEOUT).await;
    let probe = client::get(gateway.http_addr(), HOST, "/version").await;
    assert_eq!(
        probe.text(),
        (version - 1).to_string(),
        "previous Route version keeps serving"
    );
    let extra = (0..EXTRA_ROUTES)
        .find(|route| extra_present(*route, version))
        .expect("every version has an extra route");
    let probe = client::get(gateway.http_addr(), HOST, &format!("/extra/{extra}")).await;
    assert_eq!(
        probe.text(),
        format!("extra-{extra}:{version}"),
        "valid files of the write apply"
    );
    snapshot
}

async fn wait_for_rejection(gateway: &Gateway, skip: usize) -> LogLine {
    let deadline = Instant::now() + APPLY_TIMEOUT;
    loop {
        if let Some(line) = gateway
            .logs()
            .into_iter()
            .skip(skip)
            .find(is_version_rejection)
        {
            return line;
        }
        assert!(
            Instant::now() < deadline,
            "no `resource rejected` line for Route version; log:\n{}",
            gateway.log_text()
        );
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}

/// Writes versions 1 to [`VERSIONS`], publishing each in `applied` once it
/// is served, then stops the clients.
async fn run_writer(gateway: &Gateway, dir: &ConfigDir, backend: &str, shared: &Shared) {
    let mut snapshot = gateway.config_version().await;
    for version in 1..=VERSIONS {
        shared.written.store(version, Ordering::SeqCst);
        snapshot = if version == INVALID_VERSION {
            apply_invalid(gateway, dir, backend, version, &snapshot).await
        } else {
            let snapshot = apply_valid(gateway, dir, backend, version, &snapshot).await;
            shared.applied.store(version, Ordering::SeqCst);
            snapshot
        };
    }
    shared.stop.store(true, Ordering::SeqCst);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reload_under_load_loses_no_request() {
    let backend = Backend::echo("reload").await;
    let dir = ConfigDir::new();
    write_version(&dir, 0, &backend.endpoint());
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;
    wait_for_probe(&gateway, 0).await;

    let shared = Arc::new(Shared::default());
    let clients: Vec<_> = (0..CLIENTS)
        .map(|id| tokio::spawn(run_client(id, gateway.http_addr(), Arc::clone(&shared))))
        .collect();
    run_writer(&gateway, &dir, &backend.endpoint(), &shared).await;

    let mut requests = 0;
    for (id, client) in clients.into_iter().enumerate() {
        let stats = client.await.expect("client task panicked");
        assert!(
            stats.requests >= VERSIONS,
            "client {id} sent only {} requests",
            stats.requests
        );
        eprintln!(
            "client {id}: {} requests, {} reconnects",
            stats.requests, stats.reconnects
        );
        requests += stats.requests;
    }

    let failures = shared.failures.lock().expect("failures lock").clone();
    let failure_count = shared.failure_count.load(Ordering::SeqCst);
    assert_eq!(
        failure_count, 0,
        "{failure_count} of {requests} requests failed, first: {failures:#?}"
    );
    let seen = shared
        .seen_versions
        .lock()
        .expect("seen versions lock")
        .len() as u64;
    assert!(
        seen >= VERSIONS / 2,
        "clients saw only {seen} versions of /version; load missed the swaps"
    );
}
