//! Path matching through the real binary: Exact, segment-aware Prefix,
//! Glob, anchored Regex and Template with captured variables used by
//! filters.

use http::StatusCode;
use portcullis_e2e::client::get;
use portcullis_e2e::{Backend, ConfigDir, Gateway};

const ROUTES: &str = r#"
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: paths, namespace: default}
spec:
  hostnames: [paths.example.com]
  rules:
    - name: exact
      matches: [{path: {type: Exact, value: /exact}}]
      backends: [{endpoint: "$EXACT"}]
    - name: prefix
      matches: [{path: {type: Prefix, value: /api}}]
      backends: [{endpoint: "$PREFIX"}]
    - name: glob-one
      matches: [{path: {type: Glob, value: "/files/*/meta"}}]
      backends: [{endpoint: "$GLOB_ONE"}]
    - name: glob-any
      matches: [{path: {type: Glob, value: "/static/**/*.css"}}]
      backends: [{endpoint: "$GLOB_ANY"}]
    - name: regex
      matches: [{path: {type: Regex, value: "/users/[0-9]+"}}]
      backends: [{endpoint: "$REGEX"}]
    - name: template
      matches: [{path: {type: Template, value: "/items/{id}"}}]
      filters:
        - type: URLRewrite
          urlRewrite: {path: {type: ReplaceFullPath, value: "/v2/items/{id}"}}
        - type: RequestHeaderModifier
          requestHeaderModifier: {set: [{name: x-item-id, value: "{id}"}]}
      backends: [{endpoint: "$TEMPLATE"}]
"#;

struct Fixture {
    gateway: Gateway,
    _dir: ConfigDir,
    exact: Backend,
    prefix: Backend,
    glob_one: Backend,
    glob_any: Backend,
    regex: Backend,
    template: Backend,
}

impl Fixture {
    async fn start() -> Self {
        let exact = Backend::echo("exact").await;
        let prefix = Backend::echo("prefix").await;
        let glob_one = Backend::echo("glob-one").await;
        let glob_any = Backend::echo("glob-any").await;
        let regex = Backend::echo("regex").await;
        let template = Backend::echo("template").await;
        let routes = ROUTES
            .replace("$EXACT", &exact.endpoint())
            .replace("$PREFIX", &prefix.endpoint())
            .replace("$GLOB_ONE", &glob_one.endpoint())
            .replace("$GLOB_ANY", &glob_any.endpoint())
            .replace("$REGEX", &regex.endpoint())
            .replace("$TEMPLATE", &template.endpoint());
        let dir = ConfigDir::new();
        dir.write("routes.yaml", routes);
        let gateway = Gateway::builder().config_dir(dir.path()).start().await;
        Self {
            gateway,
            _dir: dir,
            exact,
            prefix,
            glob_one,
            glob_any,
            regex,
            template,
        }
    }

    /// Returns the name of the backend that served `path`, or the error code.
    async fn route_of(&self, path: &str) -> String {
        let response = get(self.gateway.http_addr(), "paths.example.com", path).await;
        match response.backend() {
            Some(name) => name.to_owned(),
            None => response
                .error_code()
                .unwrap_or_else(|| format!("status {}", response.status)),
        }
    }

    fn total_hits(&self) -> usize {
        [
            &self.exact,
            &self.prefix,
            &self.glob_one,
            &self.glob_any,
            &self.regex,
            &self.template,
        ]
        .iter()
        .map(|backend| backend.hits())
        .sum()
    }
}

#[tokio::test]
async fn exact_path_matches_only_itself() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/exact").await, "exact");
    assert_eq!(fixture.route_of("/exact?x=1").await, "exact");
    assert_eq!(fixture.route_of("/exact/").await, "route_not_found");
    assert_eq!(fixture.route_of("/exact/more").await, "route_not_found");
    assert_eq!(fixture.route_of("/exactly").await, "route_not_found");
}

#[tokio::test]
async fn prefix_respects_segment_boundaries() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/api").await, "prefix");
    assert_eq!(fixture.route_of("/api/").await, "prefix");
    assert_eq!(fixture.route_of("/api/x").await, "prefix");
    assert_eq!(fixture.route_of("/api/x/y").await, "prefix");
    assert_eq!(fixture.route_of("/apix").await, "route_not_found");
    assert_eq!(fixture.route_of("/ap").await, "route_not_found");
}

#[tokio::test]
async fn paths_are_case_sensitive() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/API/x").await, "route_not_found");
    assert_eq!(fixture.route_of("/Exact").await, "route_not_found");
    assert_eq!(fixture.total_hits(), 0);
}

#[tokio::test]
async fn glob_star_matches_one_segment() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/files/report/meta").await, "glob-one");
    assert_eq!(fixture.route_of("/files/a.b-c/meta").await, "glob-one");
    assert_eq!(fixture.route_of("/files/a/b/meta").await, "route_not_found");
    assert_eq!(
        fixture.route_of("/files/report/meta/x").await,
        "route_not_found"
    );
}

#[tokio::test]
async fn glob_double_star_matches_any_depth() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/static/a/site.css").await, "glob-any");
    assert_eq!(fixture.route_of("/static/a/b/c/site.css").await, "glob-any");
    assert_eq!(
        fixture.route_of("/static/a/b/site.js").await,
        "route_not_found"
    );
    assert_eq!(
        fixture.route_of("/other/a/site.css").await,
        "route_not_found"
    );
}

#[tokio::test]
async fn regex_is_anchored_to_whole_path() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/users/42").await, "regex");
    assert_eq!(fixture.route_of("/users/42x").await, "route_not_found");
    assert_eq!(fixture.route_of("/v1/users/42").await, "route_not_found");
    assert_eq!(fixture.route_of("/users/").await, "route_not_found");
}

#[tokio::test]
async fn template_variable_reaches_rewrite_and_header() {
    let fixture = Fixture::start().await;

    let response = get(
        fixture.gateway.http_addr(),
        "paths.example.com",
        "/items/abc-17?x=1",
    )
    .await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("template"));
    let seen = fixture.template.last_request();
    assert_eq!(seen.path, "/v2/items/abc-17");
    assert_eq!(seen.query, "x=1");
    let item_id = seen
        .headers
        .get("x-item-id")
        .map(|value| value.as_bytes().to_vec());
    assert_eq!(item_id.as_deref(), Some(&b"abc-17"[..]));
}

#[tokio::test]
async fn template_variable_matches_one_segment_only() {
    let fixture = Fixture::start().await;

    assert_eq!(fixture.route_of("/items/a/b").await, "route_not_found");
    assert_eq!(fixture.route_of("/items").await, "route_not_found");
    assert_eq!(fixture.template.hits(), 0);
}
