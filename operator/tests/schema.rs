//! The API server itself rejects invalid Routes at `kubectl apply` time,
//! by the CRD's OpenAPI schema and CEL rules.

mod common;

use common::route;

#[test]
fn invalid_routes_rejected_by_kubectl_apply() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("schema");
    let backend = r#"backends: [{endpoint: "127.0.0.1:9000"}]"#;
    let cases = [
        (
            "service without port",
            "{rules: [{backends: [{name: web}]}]}".to_owned(),
            "port is required with a Service name",
        ),
        (
            "name and endpoint",
            r#"{rules: [{backends: [{name: web, port: 80, endpoint: "127.0.0.1:1"}]}]}"#.to_owned(),
            "set exactly one of name (a Service) and endpoint (a static address)",
        ),
        (
            "backends and direct response",
            format!("{{rules: [{{{backend}, directResponse: {{status: 200}}}}]}}"),
            "set exactly one of backends and directResponse",
        ),
        (
            "relative prefix path",
            format!(
                "{{rules: [{{matches: [{{path: {{type: Prefix, value: nope}}}}], {backend}}}]}}"
            ),
            "path value must start with '/' unless type is Regex",
        ),
        (
            "no rules",
            "{rules: []}".to_owned(),
            "spec.rules in body should have at least 1 items",
        ),
        (
            "hostname with a space",
            format!("{{hostnames: [\"bad host\"], rules: [{{{backend}}}]}}"),
            "spec.hostnames[0] in body should match",
        ),
        (
            "unknown field",
            format!("{{bogus: 1, rules: [{{{backend}}}]}}"),
            "unknown field \"spec.bogus\"",
        ),
    ];
    for (case, spec, expected) in cases {
        let manifest = route(&namespace, "invalid", &spec);
        let output = cluster.kubectl(&["apply", "-f", "-"], Some(&manifest));
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(
            !output.status.success(),
            "{case}: kubectl apply accepted:\n{manifest}"
        );
        assert!(
            stderr.contains(expected),
            "{case}: message {stderr:?} lacks {expected:?}"
        );
    }
    let listed = cluster.kubectl_ok(&["get", "routes", "-n", &namespace, "-o", "name"]);
    assert!(
        listed.trim().is_empty(),
        "no invalid Route may be stored: {listed}"
    );
}
