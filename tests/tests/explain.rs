//! Route explanations from the admin listener and the offline `explain`
//! subcommand, and `check` findings for an invalid Route.

use std::ffi::OsString;
use std::path::Path;

use http::{Method, StatusCode};
use portcullis_e2e::client;
use portcullis_e2e::proto::cli;
use portcullis_e2e::proto::manifest;
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use serde_json::{Value, json};

const HOST: &str = "explain.example.test";

/// Three Routes on one host and path prefix: `api-get` (priority 10, GET
/// only), `api-post` (priority 10, POST only) and `api-any` (priority 0,
/// every method). A GET is won by `api-get`, fails `api-post`'s method
/// condition and outranks `api-any`.
fn write_routes(config: &ConfigDir, endpoint: &str) {
    let route = |name: &str, priority: i32, methods: Value| {
        manifest::route(
            name,
            json!({
                "hostnames": [HOST],
                "priority": priority,
                "rules": [{
                    "matches": [{"path": {"type": "Prefix", "value": "/api"}, "methods": methods}],
                    "backends": [{"endpoint": endpoint}],
                }],
            }),
        )
    };
    config.write(
        "routes.yaml",
        manifest::documents([
            route("api-get", 10, json!(["GET"])),
            route("api-post", 10, json!(["POST"])),
            route("api-any", 0, json!([])),
        ]),
    );
}

fn candidate<'a>(explanation: &'a Value, route: &str) -> &'a Value {
    explanation["candidates"]
        .as_array()
        .and_then(|candidates| {
            candidates
                .iter()
                .find(|candidate| candidate["route"]["name"] == route)
        })
        .unwrap_or_else(|| panic!("no candidate for Route {route}: {explanation:#}"))
}

/// Checks the explanation of `GET /api/items`.
fn assert_get_explained(explanation: &Value) {
    assert_eq!(
        explanation["winner"]["route"]["name"], "api-get",
        "{explanation:#}"
    );
    assert_eq!(explanation["winner"]["outcome"], "won", "{explanation:#}");

    let won = candidate(explanation, "api-get");
    assert_eq!(won["outcome"], "won", "{explanation:#}");

    let by_method = candidate(explanation, "api-post");
    assert_eq!(by_method["outcome"], "notMatched", "{explanation:#}");
    let reason = by_method["reason"].as_str().unwrap_or_default();
    assert!(
        reason.to_lowercase().contains("method"),
        "reason {reason:?} does not name the method"
    );

    let by_priority = candidate(explanation, "api-any");
    assert_eq!(by_priority["outcome"], "outranked", "{explanation:#}");
    assert_eq!(by_priority["priority"], 0, "{explanation:#}");
    let reason = by_priority["reason"].as_str().unwrap_or_default();
    assert!(
        !reason.is_empty(),
        "outranked candidate without a reason: {explanation:#}"
    );

    let action = explanation["action"].as_str().unwrap_or_default();
    assert!(
        !action.is_empty(),
        "winner without an action: {explanation:#}"
    );
}

async fn start() -> (Backend, ConfigDir, Gateway) {
    let backend = Backend::echo("api").await;
    let config = ConfigDir::new();
    write_routes(&config, &backend.endpoint());
    let gateway = Gateway::builder().config_dir(config.path()).start().await;
    (backend, config, gateway)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_get_explain_lists_candidates() {
    let (backend, _config, gateway) = start().await;
    let path = format!("/explain?method=GET&host={HOST}&path=/api/items");

    let response = client::get(gateway.admin_addr(), "localhost", &path).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let explanation = response.json();
    assert_get_explained(&explanation);
    assert_eq!(explanation["version"], gateway.config_version().await);
    assert_eq!(backend.hits(), 0, "explain must not send traffic");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_post_explain_lists_candidates() {
    let (_backend, _config, gateway) = start().await;
    let query = json!({"method": "GET", "host": HOST, "path": "/api/items", "headers": {}});
    let request = client::request(Method::POST, "localhost", "/explain", query.to_string());

    let response = client::send_ok(gateway.admin_addr(), request).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_get_explained(&response.json());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_explain_post_method_picks_post_route() {
    let (_backend, _config, gateway) = start().await;
    let query = json!({"method": "POST", "host": HOST, "path": "/api/items"});
    let request = client::request(Method::POST, "localhost", "/explain", query.to_string());

    let response = client::send_ok(gateway.admin_addr(), request).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let explanation = response.json();
    assert_eq!(
        explanation["winner"]["route"]["name"], "api-post",
        "{explanation:#}"
    );
    assert_eq!(
        candidate(&explanation, "api-get")["outcome"],
        "notMatched",
        "{explanation:#}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_explain_without_match_has_no_winner() {
    let (_backend, _config, gateway) = start().await;
    let path = format!("/explain?method=GET&host={HOST}&path=/other");

    let response = client::get(gateway.admin_addr(), "localhost", &path).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let explanation = response.json();
    assert_eq!(explanation["winner"], Value::Null, "{explanation:#}");
}

fn explain_args(config: &Path, method: &str, path: &str) -> Vec<OsString> {
    let mut args: Vec<OsString> = [
        "explain", "--method", method, "--host", HOST, "--path", path,
    ]
    .into_iter()
    .map(OsString::from)
    .collect();
    args.push("--config".into());
    args.push(config.into());
    args
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_explain_matches_admin_explain() {
    let backend = Backend::echo("api").await;
    let config = ConfigDir::new();
    write_routes(&config, &backend.endpoint());

    let output = cli::run(explain_args(config.path(), "GET", "/api/items"))
        .await
        .expect("run portcullis explain");

    assert_eq!(
        output.code,
        Some(0),
        "stdout:\n{}\nstderr:\n{}",
        output.stdout,
        output.stderr
    );
    assert_get_explained(&output.json().expect("explanation JSON"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn offline_explain_exit_codes() {
    let backend = Backend::echo("api").await;
    let config = ConfigDir::new();
    write_routes(&config, &backend.endpoint());

    let unmatched = cli::run(explain_args(config.path(), "GET", "/other"))
        .await
        .expect("run portcullis explain");
    assert_eq!(
        unmatched.code,
        Some(1),
        "no match; stderr:\n{}",
        unmatched.stderr
    );
    let explanation = unmatched.json().expect("explanation JSON for no match");
    assert_eq!(explanation["winner"], Value::Null);

    let mut bad = explain_args(config.path(), "GET", "/api/items");
    bad.extend(["--client-addr", "not-an-address"].map(OsString::from));
    let bad = cli::run(bad).await.expect("run portcullis explain");
    assert_eq!(
        bad.code,
        Some(2),
        "bad client address; stderr:\n{}",
        bad.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn check_names_invalid_field() {
    let config = ConfigDir::new();
    config.write(
        "valid.yaml",
        manifest::catch_all("valid", HOST, "127.0.0.1:8080"),
    );
    let invalid = manifest::route(
        "broken",
        json!({
            "hostnames": [HOST],
            "rules": [{
                "matches": [{"path": {"type": "Regex", "value": "/api/(unclosed"}}],
                "backends": [{"endpoint": "127.0.0.1:8080"}],
            }],
        }),
    );
    config.write("invalid.yaml", invalid);

    let args: [OsString; 3] = ["check".into(), "--config".into(), config.path().into()];
    let output = cli::run(args).await.expect("run portcullis check");

    assert_eq!(
        output.code,
        Some(1),
        "stdout:\n{}\nstderr:\n{}",
        output.stdout,
        output.stderr
    );
    let text = format!("{}{}", output.stdout, output.stderr);
    let broken = text
        .lines()
        .find(|line| line.contains("broken"))
        .unwrap_or_else(|| panic!("no line names Route broken:\n{text}"));
    assert!(broken.contains("rejected"), "line for broken: {broken}");
    assert!(
        broken.contains("spec.rules[0].matches[0].path"),
        "line for broken: {broken}"
    );
    assert!(
        broken.to_lowercase().contains("regex"),
        "reason missing: {broken}"
    );
    let valid = text
        .lines()
        .find(|line| line.contains("valid") && !line.contains("broken"))
        .unwrap_or_else(|| panic!("no line names Route valid:\n{text}"));
    assert!(valid.contains("accepted"), "line for valid: {valid}");
}
