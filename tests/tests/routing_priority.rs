//! Ranking through the real binary: explicit priority first, then match
//! specificity, then namespace/name, whatever the order of the files.

use bytes::Bytes;
use http::Method;
use portcullis_e2e::client::{get, request, send_ok};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

fn route(namespace: &str, name: &str, priority: i32, path: &str, endpoint: &str) -> String {
    format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: {name}, namespace: {namespace}}}
spec:
  hostnames: [rank.example.com]
  priority: {priority}
  rules:
    - matches: [{{path: {path}}}]
      backends: [{{endpoint: \"{endpoint}\"}}]
"
    )
}

async fn start(files: &[(&str, String)]) -> (Gateway, ConfigDir) {
    let dir = ConfigDir::new();
    for (name, yaml) in files {
        dir.write(name, yaml);
    }
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;
    (gateway, dir)
}

async fn backend_for(gateway: &Gateway, path: &str) -> String {
    let response = get(gateway.http_addr(), "rank.example.com", path).await;
    let name = response.backend().map(str::to_owned);
    name.unwrap_or_else(|| {
        panic!(
            "no backend answered {path}: {} {}",
            response.status,
            response.text()
        )
    })
}

#[tokio::test]
async fn explicit_priority_beats_specificity() {
    let broad = Backend::echo("broad").await;
    let specific = Backend::echo("specific").await;
    let (gateway, _dir) = start(&[
        (
            "broad.yaml",
            route(
                "default",
                "broad",
                10,
                "{type: Prefix, value: /}",
                &broad.endpoint(),
            ),
        ),
        (
            "specific.yaml",
            route(
                "default",
                "specific",
                0,
                "{type: Exact, value: /shop/cart}",
                &specific.endpoint(),
            ),
        ),
    ])
    .await;

    assert_eq!(backend_for(&gateway, "/shop/cart").await, "broad");
    assert_eq!(specific.hits(), 0);
}

#[tokio::test]
async fn lower_priority_wins_when_higher_does_not_match() {
    let high = Backend::echo("high").await;
    let low = Backend::echo("low").await;
    let (gateway, _dir) = start(&[
        (
            "high.yaml",
            route(
                "default",
                "high",
                5,
                "{type: Prefix, value: /admin}",
                &high.endpoint(),
            ),
        ),
        (
            "low.yaml",
            route(
                "default",
                "low",
                -5,
                "{type: Prefix, value: /}",
                &low.endpoint(),
            ),
        ),
    ])
    .await;

    assert_eq!(backend_for(&gateway, "/admin/users").await, "high");
    assert_eq!(backend_for(&gateway, "/public").await, "low");
}

#[tokio::test]
async fn longer_prefix_wins_at_equal_priority() {
    let shop = Backend::echo("shop").await;
    let cart = Backend::echo("cart").await;
    let (gateway, _dir) = start(&[
        (
            "a.yaml",
            route(
                "default",
                "cart",
                0,
                "{type: Prefix, value: /shop/cart}",
                &cart.endpoint(),
            ),
        ),
        (
            "b.yaml",
            route(
                "default",
                "shop",
                0,
                "{type: Prefix, value: /shop}",
                &shop.endpoint(),
            ),
        ),
    ])
    .await;

    assert_eq!(backend_for(&gateway, "/shop/cart/1").await, "cart");
    assert_eq!(backend_for(&gateway, "/shop/shoes").await, "shop");
}

#[tokio::test]
async fn exact_beats_prefix_of_same_path() {
    let exact = Backend::echo("exact").await;
    let prefix = Backend::echo("prefix").await;
    let (gateway, _dir) = start(&[
        (
            "a.yaml",
            route(
                "default",
                "a-prefix",
                0,
                "{type: Prefix, value: /docs}",
                &prefix.endpoint(),
            ),
        ),
        (
            "b.yaml",
            route(
                "default",
                "b-exact",
                0,
                "{type: Exact, value: /docs}",
                &exact.endpoint(),
            ),
        ),
    ])
    .await;

    assert_eq!(backend_for(&gateway, "/docs").await, "exact");
    assert_eq!(backend_for(&gateway, "/docs/intro").await, "prefix");
}

#[tokio::test]
async fn header_condition_wins_over_bare_path() {
    let plain = Backend::echo("plain").await;
    let beta = Backend::echo("beta").await;
    let conditioned = format!(
        "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {{name: z-beta, namespace: default}}
spec:
  hostnames: [rank.example.com]
  rules:
    - matches: [{{path: {{type: Prefix, value: /app}}, headers: [{{name: x-beta, value: \"1\"}}]}}]
      backends: [{{endpoint: \"{}\"}}]
",
        beta.endpoint()
    );
    let (gateway, _dir) = start(&[
        (
            "a.yaml",
            route(
                "default",
                "a-plain",
                0,
                "{type: Prefix, value: /app}",
                &plain.endpoint(),
            ),
        ),
        ("b.yaml", conditioned),
    ])
    .await;

    let mut with_header = request(Method::GET, "rank.example.com", "/app", Bytes::new());
    with_header
        .headers_mut()
        .insert("x-beta", http::HeaderValue::from_static("1"));
    let response = send_ok(gateway.http_addr(), with_header).await;

    assert_eq!(response.backend(), Some("beta"), "{}", response.text());
    assert_eq!(backend_for(&gateway, "/app").await, "plain");
}

#[tokio::test]
async fn name_order_breaks_ties_whatever_the_file_order() {
    let alpha = Backend::echo("alpha").await;
    let beta = Backend::echo("beta").await;
    let same = "{type: Prefix, value: /same}";
    let alpha_yaml = route("default", "alpha", 0, same, &alpha.endpoint());
    let beta_yaml = route("default", "beta", 0, same, &beta.endpoint());

    let orders = [
        [
            ("a.yaml", beta_yaml.clone()),
            ("b.yaml", alpha_yaml.clone()),
        ],
        [("a.yaml", alpha_yaml), ("b.yaml", beta_yaml)],
    ];
    for files in orders {
        let (gateway, _dir) = start(&files).await;
        assert_eq!(
            backend_for(&gateway, "/same").await,
            "alpha",
            "files {:?}",
            files[0].0
        );
    }
}

#[tokio::test]
async fn namespace_sorts_before_name_in_ties() {
    let first = Backend::echo("team-a/zeta").await;
    let second = Backend::echo("team-b/alpha").await;
    let same = "{type: Prefix, value: /same}";
    let (gateway, _dir) = start(&[
        (
            "1.yaml",
            route("team-b", "alpha", 0, same, &second.endpoint()),
        ),
        (
            "2.yaml",
            route("team-a", "zeta", 0, same, &first.endpoint()),
        ),
    ])
    .await;

    assert_eq!(backend_for(&gateway, "/same").await, "team-a/zeta");
}
