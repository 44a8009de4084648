//! Fallbacks and direct responses through the real binary: a Service with
//! no endpoints, a static endpoint on a closed port, and the JSON errors
//! returned when no fallback is set.

use http::StatusCode;
use portcullis_e2e::client::{Response, closed_port, get};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: v1
kind: Service
metadata: {name: empty, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: 8080}]
---
apiVersion: v1
kind: Service
metadata: {name: live, namespace: default}
spec:
  ports: [{name: http, port: 80, targetPort: $LIVE_PORT}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: live-1
  namespace: default
  labels: {kubernetes.io/service-name: live}
addressType: IPv4
ports: [{name: http, port: $LIVE_PORT, protocol: TCP}]
endpoints:
  - addresses: ["127.0.0.1"]
    conditions: {ready: true}
---
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: fallbacks, namespace: default}
spec:
  hostnames: [fallback.example.com]
  rules:
    - name: empty-service-with-fallback
      matches: [{path: {type: Prefix, value: /maintenance}}]
      backends: [{name: empty, port: 80}]
      fallback:
        directResponse:
          status: 503
          headers: [{name: retry-after, value: "120"}]
          body: down for maintenance
    - name: live-service-with-fallback
      matches: [{path: {type: Prefix, value: /live}}]
      backends: [{name: live, port: 80}]
      fallback:
        directResponse: {status: 503, body: should not be used}
    - name: closed-port-with-fallback
      matches: [{path: {type: Prefix, value: /closed}}]
      backends: [{endpoint: "127.0.0.1:$CLOSED_PORT"}]
      fallback:
        backends: [{endpoint: "$FALLBACK"}]
    - name: empty-service
      matches: [{path: {type: Prefix, value: /no-fallback/empty}}]
      backends: [{name: empty, port: 80}]
    - name: closed-port
      matches: [{path: {type: Prefix, value: /no-fallback/closed}}]
      backends: [{endpoint: "127.0.0.1:$CLOSED_PORT"}]
    - name: teapot
      matches: [{path: {type: Template, value: "/teapot/{kind}"}}]
      directResponse:
        status: 418
        headers:
          - {name: x-teapot, value: "{kind}"}
          - {name: content-type, value: text/plain}
        body: "I am a {kind} teapot"
"#;

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    live: Backend,
    fallback: Backend,
}

impl Fixture {
    async fn start() -> Self {
        let live = Backend::echo("live").await;
        let fallback = Backend::echo("fallback").await;
        let routes = ROUTES
            .replace("$LIVE_PORT", &live.port().to_string())
            .replace("$CLOSED_PORT", &closed_port().to_string())
            .replace("$FALLBACK", &fallback.endpoint());
        let dir = ConfigDir::new();
        dir.write("routes.yaml", routes);
        let gateway = Gateway::builder().config_dir(dir.path()).start().await;
        Self {
            gateway,
            _dir: dir,
            live,
            fallback,
        }
    }

    async fn get(&self, path: &str) -> Response {
        get(self.gateway.http_addr(), "fallback.example.com", path).await
    }
}

fn assert_gateway_error(response: &Response, status: StatusCode, code: &str) {
    assert_eq!(response.status, status, "{}", response.text());
    let body = response.json();
    assert_eq!(body["error"]["status"], status.as_u16(), "{body}");
    assert_eq!(body["error"]["code"], code, "{body}");
    assert!(
        body["error"]["message"]
            .as_str()
            .is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    let request_id = response
        .header("x-request-id")
        .expect("x-request-id header");
    assert_eq!(body["error"]["requestId"], request_id, "{body}");
}

#[tokio::test]
async fn empty_service_uses_fallback_response() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/maintenance/page").await;

    assert_eq!(
        response.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        response.text()
    );
    assert_eq!(response.header("retry-after"), Some("120"));
    assert_eq!(response.text(), "down for maintenance");
}

#[tokio::test]
async fn service_with_endpoints_skips_fallback() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/live/x").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("live"));
    assert_eq!(fixture.live.last_request().path, "/live/x");
}

#[tokio::test]
async fn closed_port_uses_fallback_backend() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/closed/resource").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("fallback"));
    assert_eq!(fixture.fallback.last_request().path, "/closed/resource");
}

#[tokio::test]
async fn empty_service_without_fallback_returns_503() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/no-fallback/empty").await;

    assert_gateway_error(
        &response,
        StatusCode::SERVICE_UNAVAILABLE,
        "no_healthy_backend",
    );
}

#[tokio::test]
async fn closed_port_without_fallback_returns_502() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/no-fallback/closed").await;

    assert_gateway_error(
        &response,
        StatusCode::BAD_GATEWAY,
        "upstream_connect_failed",
    );
    assert_eq!(fixture.fallback.hits(), 0);
}

#[tokio::test]
async fn direct_response_sets_status_headers_and_body() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/teapot/green").await;

    assert_eq!(
        response.status,
        StatusCode::IM_A_TEAPOT,
        "{}",
        response.text()
    );
    assert_eq!(response.header("x-teapot"), Some("green"));
    assert_eq!(response.header("content-type"), Some("text/plain"));
    assert_eq!(response.text(), "I am a green teapot");
    assert!(response.header("x-request-id").is_some());
}

#[tokio::test]
async fn unmatched_path_returns_route_not_found() {
    let fixture = Fixture::start().await;

    let response = fixture.get("/nothing-here").await;

    assert_gateway_error(&response, StatusCode::NOT_FOUND, "route_not_found");
    assert_eq!(fixture.live.hits() + fixture.fallback.hits(), 0);
}
