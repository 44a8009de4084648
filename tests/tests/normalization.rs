//! Path normalization before matching and forwarding, driven with raw
//! request lines because HTTP clients rewrite odd paths themselves.

use portcullis_e2e::proto::manifest;
use portcullis_e2e::proto::raw::{self, RawResponse};
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use serde_json::json;

const HOST: &str = "norm.example.test";

/// Backends behind `Exact /admin`, `Prefix /public` and `Prefix /`.
struct Setup {
    _admin: Backend,
    _public: Backend,
    _other: Backend,
    _config: ConfigDir,
    gateway: Gateway,
}

async fn start(extra_args: &[&str]) -> Setup {
    let admin = Backend::echo("admin").await;
    let public = Backend::echo("public").await;
    let other = Backend::echo("catch-all").await;
    let config = ConfigDir::new();
    let spec = json!({
        "hostnames": [HOST],
        "rules": [
            manifest::path_rule("Exact", "/admin", &admin.endpoint()),
            manifest::path_rule("Prefix", "/public", &public.endpoint()),
            manifest::path_rule("Prefix", "/", &other.endpoint()),
        ],
    });
    config.write("routes.yaml", manifest::route("paths", spec));
    let gateway = Gateway::builder()
        .config_dir(config.path())
        .args(extra_args.iter().copied())
        .start()
        .await;
    Setup {
        _admin: admin,
        _public: public,
        _other: other,
        _config: config,
        gateway,
    }
}

async fn get(setup: &Setup, target: &str) -> RawResponse {
    raw::exchange(setup.gateway.http_addr(), &raw::get(HOST, target))
        .await
        .unwrap_or_else(|error| panic!("GET {target}: {error:#}"))
}

/// Sends `target` and checks which backend responded and the path it
/// received.
async fn assert_reaches(setup: &Setup, target: &str, backend: &str, path: &str) {
    let response = get(setup, target).await;
    let body = String::from_utf8_lossy(&response.body).into_owned();
    assert_eq!(response.status, 200, "GET {target}: {body}");
    assert_eq!(
        response.header("x-backend"),
        Some(backend),
        "GET {target}: {body}"
    );
    let echoed = response.json().expect("echo body");
    assert_eq!(
        echoed["path"], path,
        "path the backend received for {target}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_paths_reach_their_rules() {
    let setup = start(&[]).await;
    assert_reaches(&setup, "/admin", "admin", "/admin").await;
    assert_reaches(&setup, "/public/x", "public", "/public/x").await;
    assert_reaches(&setup, "/elsewhere", "catch-all", "/elsewhere").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dot_segments_removed_before_matching() {
    let setup = start(&[]).await;
    assert_reaches(&setup, "/public/../admin", "admin", "/admin").await;
    assert_reaches(&setup, "/public/./x/../y", "public", "/public/y").await;
    assert_reaches(&setup, "/../../admin", "admin", "/admin").await;
    assert_reaches(&setup, "/public/%2e%2e/admin", "admin", "/admin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unreserved_escapes_decoded() {
    let setup = start(&[]).await;
    assert_reaches(&setup, "/%61dmin", "admin", "/admin").await;
    assert_reaches(&setup, "/public/%7Euser", "public", "/public/~user").await;
    // Escapes of other characters stay encoded, with uppercase hex.
    assert_reaches(&setup, "/public/a%3ab", "public", "/public/a%3Ab").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn query_left_untouched() {
    let setup = start(&[]).await;
    let query = "next=%2Fadmin%2f..&tilde=%7e&dots=/../x";
    let response = get(&setup, &format!("/public/./x?{query}")).await;

    assert_eq!(
        response.status,
        200,
        "{}",
        String::from_utf8_lossy(&response.body)
    );
    assert_eq!(response.header("x-backend"), Some("public"));
    let echoed = response.json().expect("echo body");
    assert_eq!(echoed["path"], "/public/x");
    assert_eq!(
        echoed["query"], query,
        "query must reach the backend as sent"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn paths_are_case_sensitive() {
    let setup = start(&[]).await;
    assert_reaches(&setup, "/ADMIN", "catch-all", "/ADMIN").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_slash_rejected_by_default() {
    let setup = start(&[]).await;
    for target in ["/admin%2f..", "/admin%2F..", "/public%5cx"] {
        let response = get(&setup, target).await;
        assert_eq!(response.status, 400, "GET {target}");
        let error = response.json().expect("JSON error body");
        assert_eq!(
            error["error"]["code"], "encoded_slash_rejected",
            "GET {target}"
        );
        assert_eq!(error["error"]["status"], 400, "GET {target}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_slash_decoded_when_configured() {
    let setup = start(&["--encoded-slash", "decode"]).await;
    // `/admin/..` collapses to `/`, which only the catch-all takes.
    assert_reaches(&setup, "/admin%2f..", "catch-all", "/").await;
    assert_reaches(&setup, "/public%2Fx", "public", "/public/x").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn encoded_slash_kept_when_configured() {
    let setup = start(&["--encoded-slash", "keep"]).await;
    // The escape stays inside its segment, so `..` is not a dot segment.
    assert_reaches(&setup, "/admin%2f..", "catch-all", "/admin%2F..").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slashes_merged_by_default() {
    let setup = start(&[]).await;
    assert_reaches(&setup, "//admin", "admin", "/admin").await;
    assert_reaches(&setup, "/public//x///y", "public", "/public/x/y").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slashes_kept_when_merging_disabled() {
    let setup = start(&["--merge-slashes", "false"]).await;
    assert_reaches(&setup, "//admin", "catch-all", "//admin").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn invalid_targets_rejected() {
    let setup = start(&[]).await;
    // The asterisk form is for OPTIONS only, and then not a path to route.
    let asterisk = format!("OPTIONS * HTTP/1.1\r\nHost: {HOST}\r\nConnection: close\r\n\r\n");
    let response = raw::exchange(setup.gateway.http_addr(), asterisk.as_bytes())
        .await
        .expect("OPTIONS * exchange");
    assert_eq!(response.status, 400, "OPTIONS *");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_percent_escape_rejected() {
    let setup = start(&[]).await;
    // RFC 3986 allows `%` only before two hex digits.
    let response = get(&setup, "/public/%zz").await;
    assert_eq!(response.status, 400, "GET /public/%zz");
}
