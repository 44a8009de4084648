//! Helpers shared by the compiler's integration tests.

#![allow(dead_code)]

use std::net::{IpAddr, Ipv4Addr};

use portcullis_compiler::{
    Compiled, GraphqlInfo, Lookup, RequestView, Resource, compile, parse_documents,
};

/// Parses YAML manifests, failing the test on any parse diagnostic.
pub fn resources(yaml: &str) -> Vec<Resource> {
    let (resources, diagnostics) = parse_documents(yaml, "test.yaml");
    assert!(
        diagnostics.is_empty(),
        "parse diagnostics: {diagnostics:#?}"
    );
    resources
}

/// Compiles YAML manifests.
pub fn compile_yaml(yaml: &str) -> Compiled {
    compile(&resources(yaml))
}

/// A request with everything but method, host and path left empty.
pub struct Request {
    pub method: http::Method,
    pub host: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: http::HeaderMap,
    pub country: Option<String>,
    pub now: jiff::Timestamp,
}

impl Request {
    pub fn new(method: &str, host: &str, path: &str) -> Self {
        Self {
            method: method.parse().expect("valid method"),
            host: host.to_owned(),
            path: path.to_owned(),
            query: None,
            headers: http::HeaderMap::new(),
            country: None,
            now: "2024-06-03T12:00:00Z".parse().expect("valid timestamp"),
        }
    }

    pub fn header(mut self, name: &'static str, value: &str) -> Self {
        self.headers
            .append(name, value.parse().expect("valid header value"));
        self
    }

    pub fn query(mut self, query: &str) -> Self {
        self.query = Some(query.to_owned());
        self
    }

    pub fn country(mut self, country: &str) -> Self {
        self.country = Some(country.to_owned());
        self
    }

    pub fn at(mut self, timestamp: &str) -> Self {
        self.now = timestamp.parse().expect("valid timestamp");
        self
    }

    pub fn view<'a>(&'a self, graphql: GraphqlInfo<'a>) -> RequestView<'a> {
        RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_addr: IpAddr::V4(Ipv4Addr::LOCALHOST),
            country: self.country.as_deref(),
            graphql,
            now: self.now,
        }
    }
}

/// Looks up `request` and formats the winner as `namespace/name rule.match`,
/// `none` or `needs-body`.
pub fn winner(compiled: &Compiled, request: &Request) -> String {
    winner_with(compiled, request, GraphqlInfo::NotRead)
}

pub fn winner_with(compiled: &Compiled, request: &Request, graphql: GraphqlInfo<'_>) -> String {
    match compiled.snapshot.table().lookup(&request.view(graphql)) {
        Lookup::Matched(matched) => format!(
            "{}/{} {}.{}",
            matched.rule.route.namespace,
            matched.rule.route.name,
            matched.rule.index,
            matched.match_index
        ),
        Lookup::NotFound => "none".to_owned(),
        Lookup::NeedsBody => "needs-body".to_owned(),
    }
}

/// Formats a Route manifest in the default namespace.
pub fn route(name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata:\n  name: {name}\nspec:\n{}\n",
        indent(spec)
    )
}

/// Formats a Route manifest in a namespace.
pub fn route_in(namespace: &str, name: &str, spec: &str) -> String {
    format!(
        "---\napiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata:\n  name: {name}\n  namespace: {namespace}\nspec:\n{}\n",
        indent(spec)
    )
}

fn indent(text: &str) -> String {
    text.lines().map(|line| format!("  {line}\n")).collect()
}
