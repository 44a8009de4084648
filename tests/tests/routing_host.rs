//! Host matching through the real binary: exact and wildcard hostnames,
//! case-insensitive, with the port ignored.

use http::StatusCode;
use portcullis_e2e::client::get;
use portcullis_e2e::{Backend, ConfigDir, Gateway};

async fn host_gateway(exact: &Backend, wildcard: &Backend) -> (ConfigDir, Gateway) {
    let dir = ConfigDir::new();
    dir.write(
        "routes.yaml",
        format!(
            "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: exact, namespace: default}}
spec:
  hostnames: [a.example.com]
  rules:
    - backends: [{{endpoint: \"{exact}\"}}]
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: wildcard, namespace: default}}
spec:
  hostnames: [\"*.example.com\"]
  rules:
    - backends: [{{endpoint: \"{wildcard}\"}}]
",
            exact = exact.endpoint(),
            wildcard = wildcard.endpoint(),
        ),
    );
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;
    (dir, gateway)
}

#[tokio::test]
async fn exact_host_beats_wildcard() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    let response = get(gateway.http_addr(), "a.example.com", "/").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("exact"));
}

#[tokio::test]
async fn wildcard_matches_one_or_more_labels() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    for host in ["b.example.com", "a.b.example.com", "x.y.z.example.com"] {
        let response = get(gateway.http_addr(), host, "/").await;
        assert_eq!(
            response.status,
            StatusCode::OK,
            "{host}: {}",
            response.text()
        );
        assert_eq!(response.backend(), Some("wildcard"), "{host}");
    }
}

#[tokio::test]
async fn wildcard_does_not_match_apex_or_other_domains() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    for host in [
        "example.com",
        "aexample.com",
        "a.example.org",
        "example.com.evil.test",
    ] {
        let response = get(gateway.http_addr(), host, "/").await;
        assert_eq!(
            response.status,
            StatusCode::NOT_FOUND,
            "{host}: {}",
            response.text()
        );
        assert_eq!(
            response.error_code().as_deref(),
            Some("route_not_found"),
            "{host}"
        );
    }
    assert_eq!(exact.hits() + wildcard.hits(), 0);
}

#[tokio::test]
async fn host_match_ignores_case() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    let upper = get(gateway.http_addr(), "A.EXAMPLE.COM", "/").await;
    let mixed = get(gateway.http_addr(), "B.Example.Com", "/").await;

    assert_eq!(upper.backend(), Some("exact"), "{}", upper.text());
    assert_eq!(mixed.backend(), Some("wildcard"), "{}", mixed.text());
}

#[tokio::test]
async fn host_match_ignores_port() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    let exact_with_port = get(gateway.http_addr(), "a.example.com:8443", "/").await;
    let wildcard_with_port = get(gateway.http_addr(), "b.example.com:80", "/").await;

    assert_eq!(
        exact_with_port.backend(),
        Some("exact"),
        "{}",
        exact_with_port.text()
    );
    assert_eq!(
        wildcard_with_port.backend(),
        Some("wildcard"),
        "{}",
        wildcard_with_port.text()
    );
}

#[tokio::test]
async fn route_without_hostnames_takes_every_host() {
    let backend = Backend::echo("any").await;
    let dir = ConfigDir::new();
    dir.write(
        "routes.yaml",
        format!(
            "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: any, namespace: default}}
spec:
  rules:
    - backends: [{{endpoint: \"{}\"}}]
",
            backend.endpoint()
        ),
    );
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;

    for host in ["example.com", "anything.test", "127.0.0.1"] {
        let response = get(gateway.http_addr(), host, "/").await;
        assert_eq!(
            response.backend(),
            Some("any"),
            "{host}: {}",
            response.text()
        );
    }
}

#[tokio::test]
async fn wildcard_does_not_match_empty_labels() {
    let (exact, wildcard) = (
        Backend::echo("exact").await,
        Backend::echo("wildcard").await,
    );
    let (_dir, gateway) = host_gateway(&exact, &wildcard).await;

    // A DNS label is never empty, so these hosts name no subdomain of
    // example.com. The gateway may reject them (400) or find no route (404).
    for host in [".example.com", "a..example.com"] {
        let response = get(gateway.http_addr(), host, "/").await;
        let status = response.status;
        let rejected = status == StatusCode::BAD_REQUEST || status == StatusCode::NOT_FOUND;
        assert!(rejected, "{host}: {status} {}", response.text());
    }
    assert_eq!(wildcard.hits(), 0);
}
