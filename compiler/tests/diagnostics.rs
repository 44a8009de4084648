//! One diagnostic per resource, with field paths and reasons.

mod common;

use common::{compile_yaml, route, route_in};
use portcullis_compiler::{Outcome, compile, parse_documents};

const BACKEND: &str = "backends: [{endpoint: \"127.0.0.1:9\"}]";

/// Compiles one Route and returns its (field, reason) errors, from parsing
/// or compiling.
fn errors_of(spec: &str) -> Vec<(String, String)> {
    let yaml = route("r", spec);
    let (resources, mut diagnostics) = parse_documents(&yaml, "test.yaml");
    diagnostics.extend(compile(&resources).diagnostics);
    assert_eq!(
        diagnostics.len(),
        1,
        "one diagnostic per resource: {diagnostics:#?}"
    );
    let diagnostic = &diagnostics[0];
    assert_eq!(diagnostic.object.to_string(), "Route/default/r");
    diagnostic
        .errors
        .iter()
        .map(|e| (e.field.clone(), e.reason.clone()))
        .collect()
}

#[test]
fn invalid_routes_name_field_and_reason() {
    let cases = [
        (
            "rules:\n- matches: [{path: {type: Regex, value: \"/a(\"}}]\n  BACKEND",
            "spec.rules[0].matches[0].path.value",
            "InvalidRegex",
        ),
        (
            "rules:\n- matches: [{path: {type: Glob, value: \"/a/[\"}}]\n  BACKEND",
            "spec.rules[0].matches[0].path.value",
            "InvalidGlob",
        ),
        (
            "rules:\n- matches: [{path: {type: Template, value: \"/a/{x}/{x}\"}}]\n  BACKEND",
            "spec.rules[0].matches[0].path.value",
            "InvalidTemplate",
        ),
        (
            "rules:\n- matches: [{path: {type: Exact, value: a}}]\n  BACKEND",
            "spec.rules[0].matches[0].path.value",
            "InvalidPath",
        ),
        (
            "rules:\n- matches: [{timeWindow: {start: \"09:00\", end: \"17:00\", timeZone: Mars/Base}}]\n  BACKEND",
            "spec.rules[0].matches[0].timeWindow.timeZone",
            "InvalidTimeZone",
        ),
        (
            "rules:\n- backends: [{endpoint: \"no-port\"}]",
            "spec.rules[0].backends[0].endpoint",
            "InvalidEndpoint",
        ),
        (
            "rules:\n- backends: [{endpoint: \"a:1\"}]\n  directResponse: {status: 204}",
            "spec.rules[0]",
            "ConflictingFields",
        ),
        (
            "rules:\n- backends: [{name: svc}]",
            "spec.rules[0].backends[0].port",
            "FieldRequired",
        ),
        (
            "hostnames: [a.example.com, A.example.com]\nrules:\n- BACKEND",
            "spec.hostnames[1]",
            "DuplicateHostname",
        ),
        (
            "rules:\n- matches: [{path: {type: Exact, value: /a}}]\n  filters: [{type: URLRewrite, urlRewrite: {path: {type: ReplacePrefixMatch, value: /b}}}]\n  BACKEND",
            "spec.rules[0].filters[0].urlRewrite.path.type",
            "InvalidFilter",
        ),
        (
            "rules:\n- matches: [{path: {type: Template, value: \"/u/{id}\"}}, {path: {value: /v}}]\n  filters: [{type: RequestHeaderModifier, requestHeaderModifier: {set: [{name: x-id, value: \"{id}\"}]}}]\n  BACKEND",
            "spec.rules[0].filters[0].requestHeaderModifier.set[0].value",
            "InvalidTemplate",
        ),
        (
            "rules:\n- matches: [{headers: [{name: x, type: Present, value: y}]}]\n  BACKEND",
            "spec.rules[0].matches[0].headers[0].value",
            "FieldNotAllowed",
        ),
        (
            "rules:\n- matches: [{graphql: {}}]\n  BACKEND",
            "spec.rules[0].matches[0].graphql",
            "FieldRequired",
        ),
        (
            "rules:\n- BACKEND\n  filters: [{type: RequestRedirect}]",
            "spec.rules[0].filters[0].requestRedirect",
            "ConflictingFields",
        ),
        (
            "rules:\n- backends: [{endpoint: \"a:1\", weight: 0}]",
            "spec.rules[0].backends",
            "NoWeight",
        ),
        (
            "rules:\n- matches: [{path: {value: /}, colour: blue}]\n  BACKEND",
            "spec.rules[0].matches[0].colour",
            "UnknownField",
        ),
        (
            "priority: 2000000\nrules:\n- BACKEND",
            "spec.priority",
            "OutOfRange",
        ),
        ("rules: []", "spec.rules", "TooFew"),
        (
            "rules:\n- matches: [{methods: [FETCH]}]\n  BACKEND",
            "spec.rules[0].matches[0].methods[0]",
            "NotSupported",
        ),
    ];
    for (spec, field, reason) in cases {
        let spec = spec.replace("BACKEND", BACKEND);
        let errors = errors_of(&spec);
        assert!(
            errors.iter().any(|(f, r)| f == field && r == reason),
            "expected {field} {reason} for spec:\n{spec}\ngot {errors:?}"
        );
    }
}

#[test]
fn rejected_route_leaves_others_serving() {
    let yaml = [
        route("bad", "rules:\n- matches: [{path: {type: Regex, value: \"(\"}}]\n  backends: [{endpoint: \"a:1\"}]"),
        route("good", "rules:\n- backends: [{endpoint: \"a:1\"}]"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let outcomes: Vec<(String, Outcome)> = compiled
        .diagnostics
        .iter()
        .map(|d| (d.object.name.clone(), d.outcome))
        .collect();
    assert_eq!(
        outcomes,
        [
            ("bad".to_owned(), Outcome::Rejected),
            ("good".to_owned(), Outcome::Accepted)
        ]
    );
    assert_eq!(compiled.snapshot.ir().routes.len(), 1);
    assert_eq!(compiled.snapshot.table().len(), 1);
}

#[test]
fn unparsable_document_names_source_and_index() {
    let yaml = format!(
        "{}---\napiVersion: v1\nkind: Service\nmetadata: {{name: s}}\nspec: {{ports: [{{port: \"x\"}}]}}\n",
        route("ok", &format!("rules:\n- {BACKEND}"))
    );
    let (resources, diagnostics) = parse_documents(&yaml, "conf/app.yaml");
    assert_eq!(resources.len(), 1);
    assert_eq!(diagnostics.len(), 1);
    let error = &diagnostics[0].errors[0];
    assert_eq!(error.field, "spec.ports[0].port");
    assert!(
        error.message.contains("conf/app.yaml document 1"),
        "{}",
        error.message
    );
}

#[test]
fn missing_service_is_unresolved_not_rejected() {
    let compiled = compile_yaml(&route(
        "r",
        "rules:\n- backends: [{name: missing, port: 80}]",
    ));
    let diagnostic = &compiled.diagnostics[0];
    assert_eq!(diagnostic.outcome, Outcome::Accepted);
    assert_eq!(diagnostic.unresolved_refs[0].reason, "BackendNotFound");
    assert_eq!(
        diagnostic.unresolved_refs[0].field,
        "spec.rules[0].backends[0]"
    );
}

const SERVICE: &str = r#"
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{name: http, port: 80, targetPort: web}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080}]
endpoints:
- addresses: [10.0.0.2]
- addresses: [10.0.0.1]
  conditions: {ready: true}
- addresses: [10.0.0.3]
  conditions: {ready: false}
"#;

#[test]
fn service_backend_resolves_ready_endpoints() {
    let yaml = format!(
        "{SERVICE}{}",
        route_in("shop", "r", "rules:\n- backends: [{name: web, port: 80}]")
    );
    let compiled = compile_yaml(&yaml);
    let json = serde_json::to_value(compiled.snapshot.ir()).expect("IR serializes");
    let endpoints =
        &json["routes"][0]["rules"][0]["action"]["forward"][0]["target"]["service"]["endpoints"];
    assert_eq!(
        endpoints,
        &serde_json::json!(["10.0.0.1:8080", "10.0.0.2:8080"])
    );
}

#[test]
fn cross_namespace_service_needs_grant() {
    let without = format!(
        "{SERVICE}{}",
        route_in(
            "web",
            "r",
            "rules:\n- backends: [{name: web, namespace: shop, port: 80}]"
        )
    );
    let compiled = compile_yaml(&without);
    let diagnostic = compiled
        .diagnostics
        .iter()
        .find(|d| d.object.kind == "Route")
        .expect("route diagnostic");
    assert_eq!(diagnostic.unresolved_refs[0].reason, "RefNotPermitted");
    let grant = r#"
---
apiVersion: gateway.networking.k8s.io/v1beta1
kind: ReferenceGrant
metadata: {name: allow-web, namespace: shop}
spec:
  from: [{group: portcullis.io, kind: Route, namespace: web}]
  to: [{group: "", kind: Service, name: web}]
"#;
    let compiled = compile_yaml(&format!("{without}{grant}"));
    let diagnostic = compiled
        .diagnostics
        .iter()
        .find(|d| d.object.kind == "Route")
        .expect("route diagnostic");
    assert!(
        diagnostic.unresolved_refs.is_empty(),
        "{:?}",
        diagnostic.unresolved_refs
    );
}

#[test]
fn tls_secret_becomes_certificate_with_route_hostnames() {
    let key = rcgen::KeyPair::generate().expect("key generates");
    let cert = rcgen::CertificateParams::new(vec!["a.example.com".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate signs");
    let indent = |pem: String| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    let secret = format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: cert}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert.pem()),
        indent(key.serialize_pem())
    );
    let routes = [
        route("a", "hostnames: [A.example.com]\ntls: {certificateRefs: [{name: cert}]}\nrules:\n- backends: [{endpoint: \"a:1\"}]"),
        route("b", "hostnames: [b.example.com]\ntls: {certificateRefs: [{name: cert}, {name: gone}]}\nrules:\n- backends: [{endpoint: \"a:1\"}]"),
    ]
    .concat();
    let compiled = compile_yaml(&format!("{secret}{routes}"));
    let certificates = compiled.snapshot.certificates();
    assert_eq!(certificates.len(), 1);
    assert_eq!(
        certificates[0].hostnames,
        ["a.example.com", "b.example.com"]
    );
    assert!(!format!("{:?}", certificates[0]).contains("PRIVATE KEY"));
    let b = compiled
        .diagnostics
        .iter()
        .find(|d| d.object.name == "b")
        .expect("route b");
    assert_eq!(b.unresolved_refs[0].reason, "SecretNotFound");
}

#[test]
fn invalid_tls_secret_is_rejected() {
    let secret = "---\napiVersion: v1\nkind: Secret\nmetadata: {name: bad}\ntype: kubernetes.io/tls\nstringData: {tls.crt: nope, tls.key: nope}\n";
    let compiled = compile_yaml(secret);
    assert_eq!(compiled.diagnostics[0].outcome, Outcome::Rejected);
    assert_eq!(compiled.diagnostics[0].errors[0].field, "data[tls.crt]");
}

#[test]
fn load_path_reads_yaml_files_in_sorted_order() {
    let dir = std::env::temp_dir().join(format!("portcullis-compiler-load-{}", std::process::id()));
    let nested = dir.join("nested");
    std::fs::create_dir_all(&nested).expect("temp dir is writable");
    let backend = "rules:\n- backends: [{endpoint: \"a:1\"}]";
    std::fs::write(dir.join("b.yaml"), route("second", backend)).expect("write b.yaml");
    std::fs::write(nested.join("a.yml"), route("first", backend)).expect("write a.yml");
    std::fs::write(dir.join("notes.txt"), "not yaml").expect("write notes.txt");
    std::fs::write(dir.join("empty.yaml"), "---\n---\n").expect("write empty.yaml");
    let (resources, diagnostics) = portcullis_compiler::load_path(&dir).expect("folder loads");
    std::fs::remove_dir_all(&dir).expect("temp dir removes");
    assert!(diagnostics.is_empty(), "{diagnostics:?}");
    let names: Vec<String> = resources
        .iter()
        .filter_map(|resource| match resource {
            portcullis_compiler::Resource::Route(route) => route.metadata.name.clone(),
            _ => None,
        })
        .collect();
    assert_eq!(names, ["second", "first"]);
    assert!(portcullis_compiler::load_path(&dir).is_err());
}
