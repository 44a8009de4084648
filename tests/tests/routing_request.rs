//! Method, header and query-parameter matching through the real binary.

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{Response, request, send_ok};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: conditions, namespace: default}
spec:
  hostnames: [req.example.com]
  rules:
    - name: write-methods
      matches: [{path: {type: Exact, value: /method}, methods: [POST, PUT]}]
      backends: [{endpoint: "$MATCHED"}]
    - name: header-exact
      matches:
        - path: {type: Exact, value: /header/exact}
          headers: [{name: X-Env, value: canary}]
      backends: [{endpoint: "$MATCHED"}]
    - name: header-regex
      matches:
        - path: {type: Exact, value: /header/regex}
          headers: [{name: x-version, type: Regex, value: "v[0-9]+"}]
      backends: [{endpoint: "$MATCHED"}]
    - name: header-present
      matches:
        - path: {type: Exact, value: /header/present}
          headers: [{name: x-debug, type: Present}]
      backends: [{endpoint: "$MATCHED"}]
    - name: header-absent
      matches:
        - path: {type: Exact, value: /header/absent}
          headers: [{name: x-legacy, type: Absent}]
      backends: [{endpoint: "$MATCHED"}]
    - name: query-exact
      matches:
        - path: {type: Exact, value: /query/exact}
          queryParams: [{name: tier, value: gold}]
      backends: [{endpoint: "$MATCHED"}]
    - name: query-regex
      matches:
        - path: {type: Exact, value: /query/regex}
          queryParams: [{name: id, type: Regex, value: "[0-9]{3}"}]
      backends: [{endpoint: "$MATCHED"}]
    - name: query-present
      matches:
        - path: {type: Exact, value: /query/present}
          queryParams: [{name: preview, type: Present}]
      backends: [{endpoint: "$MATCHED"}]
"#;

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    matched: Backend,
}

impl Fixture {
    async fn start() -> Self {
        let matched = Backend::echo("matched").await;
        let dir = ConfigDir::new();
        dir.write(
            "routes.yaml",
            ROUTES.replace("$MATCHED", &matched.endpoint()),
        );
        let gateway = Gateway::builder().config_dir(dir.path()).start().await;
        Self {
            gateway,
            _dir: dir,
            matched,
        }
    }

    async fn send(&self, method: Method, path: &str, headers: &[(&str, &str)]) -> Response {
        let mut request = request(method, "req.example.com", path, Bytes::new());
        for (name, value) in headers {
            let name = http::HeaderName::from_bytes(name.as_bytes()).expect("valid header name");
            let value = http::HeaderValue::from_str(value).expect("valid header value");
            request.headers_mut().append(name, value);
        }
        send_ok(self.gateway.http_addr(), request).await
    }

    async fn get(&self, path: &str, headers: &[(&str, &str)]) -> Response {
        self.send(Method::GET, path, headers).await
    }
}

fn assert_matched(response: &Response, case: &str) {
    assert_eq!(
        response.status,
        StatusCode::OK,
        "{case}: {}",
        response.text()
    );
    assert_eq!(response.backend(), Some("matched"), "{case}");
}

fn assert_not_found(response: &Response, case: &str) {
    assert_eq!(
        response.status,
        StatusCode::NOT_FOUND,
        "{case}: {}",
        response.text()
    );
    assert_eq!(
        response.error_code().as_deref(),
        Some("route_not_found"),
        "{case}"
    );
}

#[tokio::test]
async fn method_in_list_matches() {
    let fixture = Fixture::start().await;

    assert_matched(&fixture.send(Method::POST, "/method", &[]).await, "POST");
    assert_matched(&fixture.send(Method::PUT, "/method", &[]).await, "PUT");
    assert_eq!(fixture.matched.last_request().method, Method::PUT);
}

#[tokio::test]
async fn method_outside_list_does_not_match() {
    let fixture = Fixture::start().await;

    for method in [Method::GET, Method::DELETE, Method::PATCH] {
        let case = method.to_string();
        assert_not_found(&fixture.send(method, "/method", &[]).await, &case);
    }
    assert_eq!(fixture.matched.hits(), 0);
}

#[tokio::test]
async fn header_exact_matches_with_any_name_case() {
    let fixture = Fixture::start().await;

    assert_matched(
        &fixture.get("/header/exact", &[("x-env", "canary")]).await,
        "lowercase",
    );
    assert_matched(
        &fixture.get("/header/exact", &[("X-ENV", "canary")]).await,
        "uppercase",
    );
    assert_not_found(
        &fixture.get("/header/exact", &[("x-env", "Canary")]).await,
        "value case",
    );
    assert_not_found(
        &fixture.get("/header/exact", &[("x-env", "canary2")]).await,
        "longer",
    );
    assert_not_found(&fixture.get("/header/exact", &[]).await, "missing");
}

#[tokio::test]
async fn header_regex_matches_whole_value() {
    let fixture = Fixture::start().await;

    assert_matched(
        &fixture.get("/header/regex", &[("x-version", "v12")]).await,
        "v12",
    );
    assert_not_found(
        &fixture
            .get("/header/regex", &[("x-version", "v12-beta")])
            .await,
        "suffix",
    );
    assert_not_found(
        &fixture
            .get("/header/regex", &[("x-version", "beta-v1")])
            .await,
        "prefix",
    );
    assert_not_found(&fixture.get("/header/regex", &[]).await, "missing");
}

#[tokio::test]
async fn header_present_and_absent() {
    let fixture = Fixture::start().await;

    assert_matched(
        &fixture.get("/header/present", &[("X-Debug", "")]).await,
        "empty value",
    );
    assert_matched(
        &fixture.get("/header/present", &[("x-debug", "1")]).await,
        "present",
    );
    assert_not_found(&fixture.get("/header/present", &[]).await, "not present");

    assert_matched(&fixture.get("/header/absent", &[]).await, "absent");
    assert_not_found(
        &fixture.get("/header/absent", &[("X-Legacy", "1")]).await,
        "present",
    );
}

#[tokio::test]
async fn query_exact_compares_decoded_value() {
    let fixture = Fixture::start().await;

    assert_matched(&fixture.get("/query/exact?tier=gold", &[]).await, "plain");
    assert_matched(
        &fixture.get("/query/exact?a=1&tier=%67old", &[]).await,
        "encoded",
    );
    assert_not_found(
        &fixture.get("/query/exact?tier=silver", &[]).await,
        "other value",
    );
    assert_not_found(
        &fixture.get("/query/exact?Tier=gold", &[]).await,
        "name case",
    );
    assert_not_found(&fixture.get("/query/exact", &[]).await, "no query");
}

#[tokio::test]
async fn query_regex_matches_whole_value() {
    let fixture = Fixture::start().await;

    assert_matched(
        &fixture.get("/query/regex?id=123", &[]).await,
        "three digits",
    );
    assert_not_found(
        &fixture.get("/query/regex?id=1234", &[]).await,
        "four digits",
    );
    assert_not_found(&fixture.get("/query/regex?id=12a", &[]).await, "letter");
}

#[tokio::test]
async fn query_present_accepts_any_value() {
    let fixture = Fixture::start().await;

    assert_matched(
        &fixture.get("/query/present?preview", &[]).await,
        "no value",
    );
    assert_matched(&fixture.get("/query/present?preview=0", &[]).await, "value");
    assert_not_found(
        &fixture.get("/query/present?previews=1", &[]).await,
        "other name",
    );
    assert_not_found(&fixture.get("/query/present", &[]).await, "no query");
}
