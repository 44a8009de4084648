//! Manifests for the gateway's configuration folder, written as JSON
//! documents: YAML 1.2 accepts JSON, and `json!` keeps the nesting right.

use serde_json::{Value, json};

/// Namespace of every test resource.
pub const NAMESPACE: &str = "default";

/// Builds a `Route` named `name` with `spec`.
pub fn route(name: &str, spec: Value) -> String {
    json!({
        "apiVersion": "portcullis.io/v1alpha1",
        "kind": "Route",
        "metadata": {"name": name, "namespace": NAMESPACE, "generation": 1},
        "spec": spec,
    })
    .to_string()
}

/// Builds a `Route` for `hostname` with one rule that sends every request to the
/// static `endpoint`.
pub fn catch_all(name: &str, hostname: &str, endpoint: &str) -> String {
    route(
        name,
        json!({
            "hostnames": [hostname],
            "rules": [{"backends": [{"endpoint": endpoint}]}],
        }),
    )
}

/// Builds a rule whose only match is a path match of `kind` (`Exact`, `Prefix`,
/// ...) on `value`, forwarding to the static `endpoint`.
pub fn path_rule(kind: &str, value: &str, endpoint: &str) -> Value {
    json!({
        "matches": [{"path": {"type": kind, "value": value}}],
        "backends": [{"endpoint": endpoint}],
    })
}

/// Builds a `Service` with one TCP port and, unless an EndpointSlice is added,
/// no endpoints.
pub fn service(name: &str, port: u16) -> String {
    json!({
        "apiVersion": "v1",
        "kind": "Service",
        "metadata": {"name": name, "namespace": NAMESPACE},
        "spec": {"ports": [{"name": "http", "port": port, "protocol": "TCP"}]},
    })
    .to_string()
}

/// Joins manifests into one multi-document YAML stream.
pub fn documents<I, S>(manifests: I) -> String
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let parts: Vec<String> = manifests
        .into_iter()
        .map(|manifest| manifest.as_ref().to_owned())
        .collect();
    parts.join("\n---\n") + "\n"
}
