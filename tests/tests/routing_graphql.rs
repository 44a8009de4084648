//! GraphQL operation matching through the real binary: the operation
//! name and type come from a JSON POST body, and the backend receives that
//! body unchanged.

use bytes::Bytes;
use http::{Method, StatusCode};
use portcullis_e2e::client::{Response, request, send_ok};
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: graphql, namespace: default}
spec:
  hostnames: [gql.example.com]
  rules:
    - name: get-user
      matches: [{path: {type: Exact, value: /graphql}, graphql: {operationName: GetUser}}]
      backends: [{endpoint: "$USERS"}]
    - name: mutations
      matches: [{path: {type: Exact, value: /graphql}, graphql: {operationType: mutation}}]
      backends: [{endpoint: "$MUTATIONS"}]
    - name: other
      matches: [{path: {type: Exact, value: /graphql}}]
      backends: [{endpoint: "$OTHER"}]
"#;

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    users: Backend,
    mutations: Backend,
    other: Backend,
}

impl Fixture {
    async fn start() -> Self {
        Self::start_with(&[]).await
    }

    async fn start_with(args: &[&str]) -> Self {
        let users = Backend::echo("users").await;
        let mutations = Backend::echo("mutations").await;
        let other = Backend::echo("other").await;
        let routes = ROUTES
            .replace("$USERS", &users.endpoint())
            .replace("$MUTATIONS", &mutations.endpoint())
            .replace("$OTHER", &other.endpoint());
        let dir = ConfigDir::new();
        dir.write("routes.yaml", routes);
        let gateway = Gateway::builder()
            .config_dir(dir.path())
            .args(args)
            .start()
            .await;
        Self {
            gateway,
            _dir: dir,
            users,
            mutations,
            other,
        }
    }

    async fn post(&self, body: &'static str) -> Response {
        let mut request = request(
            Method::POST,
            "gql.example.com",
            "/graphql",
            Bytes::from_static(body.as_bytes()),
        );
        let json = http::HeaderValue::from_static("application/json");
        request
            .headers_mut()
            .insert(http::header::CONTENT_TYPE, json);
        send_ok(self.gateway.http_addr(), request).await
    }
}

/// Whitespace, key order and escapes are kept to show the body is passed
/// through byte for byte rather than re-serialized.
const GET_USER: &str = "{ \"variables\" : {\"id\": \"7\"},\n  \"operationName\":\"GetUser\",\
    \"query\":\"query GetUser($id: ID!) { user(id: $id) { name } } query Other { me { id } }\" }";

#[tokio::test]
async fn operation_name_selects_rule() {
    let fixture = Fixture::start().await;

    let response = fixture.post(GET_USER).await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("users"));
}

#[tokio::test]
async fn backend_receives_original_body_bytes() {
    let fixture = Fixture::start().await;

    let response = fixture.post(GET_USER).await;

    assert_eq!(response.backend(), Some("users"), "{}", response.text());
    let seen = fixture.users.last_request();
    assert_eq!(seen.body, Bytes::from_static(GET_USER.as_bytes()));
    let length = seen.headers.get(http::header::CONTENT_LENGTH);
    if let Some(length) = length {
        assert_eq!(length.as_bytes(), GET_USER.len().to_string().as_bytes());
    }
}

#[tokio::test]
async fn anonymous_mutation_matches_operation_type() {
    let fixture = Fixture::start().await;

    let response = fixture
        .post(r#"{"query":"mutation { addUser(name: \"x\") { id } }"}"#)
        .await;

    assert_eq!(response.backend(), Some("mutations"), "{}", response.text());
    assert_eq!(fixture.users.hits(), 0);
}

#[tokio::test]
async fn single_operation_found_without_operation_name() {
    let fixture = Fixture::start().await;

    let response = fixture
        .post(r#"{"query":"query GetUser { user(id: 1) { name } }"}"#)
        .await;

    assert_eq!(response.backend(), Some("users"), "{}", response.text());
}

#[tokio::test]
async fn other_operation_falls_through() {
    let fixture = Fixture::start().await;

    let other_name = fixture
        .post(r#"{"query":"query ListUsers { users { id } }"}"#)
        .await;
    let shorthand = fixture.post(r#"{"query":"{ me { id } }"}"#).await;

    assert_eq!(other_name.backend(), Some("other"), "{}", other_name.text());
    assert_eq!(shorthand.backend(), Some("other"), "{}", shorthand.text());
    assert_eq!(fixture.users.hits() + fixture.mutations.hits(), 0);
}

#[tokio::test]
async fn invalid_json_does_not_match_and_is_forwarded() {
    let fixture = Fixture::start().await;
    let body = "{\"operationName\":\"GetUser\", not json";

    let response = fixture.post(body).await;

    assert_eq!(response.backend(), Some("other"), "{}", response.text());
    assert_eq!(
        fixture.other.last_request().body,
        Bytes::from_static(body.as_bytes())
    );
}

#[tokio::test]
async fn get_request_does_not_match_graphql_rule() {
    let fixture = Fixture::start().await;

    let request = request(
        Method::GET,
        "gql.example.com",
        "/graphql?operationName=GetUser",
        Bytes::new(),
    );
    let response = send_ok(fixture.gateway.http_addr(), request).await;

    assert_eq!(response.backend(), Some("other"), "{}", response.text());
}

#[tokio::test]
async fn oversized_body_forwarded_unmatched() {
    let fixture = Fixture::start_with(&["--graphql-max-body", "64"]).await;
    assert!(GET_USER.len() > 64, "the body must exceed the limit");

    let response = fixture.post(GET_USER).await;

    assert_eq!(response.backend(), Some("other"), "{}", response.text());
    assert_eq!(
        fixture.other.last_request().body,
        Bytes::from_static(GET_USER.as_bytes())
    );
    assert_eq!(fixture.users.hits(), 0);
}
