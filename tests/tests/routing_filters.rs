//! Filters on matched requests through the real binary: request and
//! response header changes, URL rewrites and redirects.

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{Response, request, send_ok};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: filters, namespace: default}
spec:
  hostnames: [filters.example.com]
  rules:
    - name: headers
      matches: [{path: {type: Prefix, value: /headers}}]
      filters:
        - type: RequestHeaderModifier
          requestHeaderModifier:
            set: [{name: x-tenant, value: blue}]
            add: [{name: x-tag, value: added}]
            remove: [x-secret]
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set: [{name: cache-control, value: no-store}]
            add: [{name: x-served-by, value: portcullis}]
            remove: [x-backend-internal]
      backends: [{endpoint: "$ECHO"}]
    - name: prefix-rewrite
      matches: [{path: {type: Prefix, value: /old}}]
      filters:
        - type: URLRewrite
          urlRewrite:
            hostname: new.internal
            path: {type: ReplacePrefixMatch, value: /new}
      backends: [{endpoint: "$ECHO"}]
    - name: redirect
      matches: [{path: {type: Prefix, value: /moved}}]
      filters:
        - type: RequestRedirect
          requestRedirect:
            scheme: https
            hostname: www.example.com
            path: {type: ReplacePrefixMatch, value: /here}
            statusCode: 301
      backends: [{endpoint: "$ECHO"}]
"#;

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    echo: Backend,
}

impl Fixture {
    async fn start() -> Self {
        let echo = Backend::echo("echo").await;
        let dir = ConfigDir::new();
        dir.write("routes.yaml", ROUTES.replace("$ECHO", &echo.endpoint()));
        let gateway = Gateway::builder().config_dir(dir.path()).start().await;
        Self {
            gateway,
            _dir: dir,
            echo,
        }
    }

    async fn get(&self, path: &str, headers: &[(&'static str, &'static str)]) -> Response {
        let mut request = request(Method::GET, "filters.example.com", path, Bytes::new());
        for (name, value) in headers {
            let value = http::HeaderValue::from_static(value);
            request.headers_mut().append(*name, value);
        }
        send_ok(self.gateway.http_addr(), request).await
    }
}

fn header_values(headers: &http::HeaderMap, name: &str) -> Vec<String> {
    let values = headers.get_all(name).iter();
    values
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .collect()
}

#[tokio::test]
async fn request_headers_set_added_and_removed() {
    let fixture = Fixture::start().await;
    let sent = [
        ("x-tenant", "red"),
        ("x-tag", "original"),
        ("x-secret", "s3cret"),
    ];

    let response = fixture.get("/headers", &sent).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let seen = fixture.echo.last_request().headers;
    assert_eq!(header_values(&seen, "x-tenant"), ["blue"]);
    assert_eq!(header_values(&seen, "x-tag"), ["original", "added"]);
    assert!(
        seen.get("x-secret").is_none(),
        "x-secret reached the backend"
    );
}

#[tokio::test]
async fn response_headers_set_added_and_removed() {
    let backend = Backend::start(|_request| async {
        let response = http::Response::builder()
            .header("cache-control", "max-age=600")
            .header("x-backend-internal", "node-7")
            .body(portcullis_e2e::backend::full("ok"));
        response.expect("valid response")
    })
    .await;
    let dir = ConfigDir::new();
    dir.write("routes.yaml", ROUTES.replace("$ECHO", &backend.endpoint()));
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;

    let request = request(Method::GET, "filters.example.com", "/headers", Bytes::new());
    let response = send_ok(gateway.http_addr(), request).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(
        header_values(&response.headers, "cache-control"),
        ["no-store"]
    );
    assert_eq!(
        header_values(&response.headers, "x-served-by"),
        ["portcullis"]
    );
    assert!(response.headers.get("x-backend-internal").is_none());
    assert_eq!(response.text(), "ok");
}

#[tokio::test]
async fn unmatched_rule_leaves_headers_alone() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/old/page", &[("x-secret", "kept")]).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let seen = fixture.echo.last_request().headers;
    assert_eq!(header_values(&seen, "x-secret"), ["kept"]);
    assert!(seen.get("x-tenant").is_none());
}

#[tokio::test]
async fn rewrite_replaces_prefix_and_host() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/old/a/b?q=1", &[]).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    let seen = fixture.echo.last_request();
    assert_eq!(seen.path, "/new/a/b");
    assert_eq!(seen.query, "q=1");
    assert_eq!(header_values(&seen.headers, "host"), ["new.internal"]);
}

#[tokio::test]
async fn rewrite_of_bare_prefix_keeps_no_trailing_slash() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/old", &[]).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(fixture.echo.last_request().path, "/new");
}

#[tokio::test]
async fn redirect_skips_backend() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/moved/page?x=1", &[]).await;

    assert_eq!(
        response.status,
        StatusCode::MOVED_PERMANENTLY,
        "{}",
        response.text()
    );
    let location = response.header("location");
    assert_eq!(location, Some("https://www.example.com/here/page?x=1"));
    assert_eq!(fixture.echo.hits(), 0);
}
