//! Configuration that parses but would break traffic at request time:
//! framing headers, hostnames that are not hostnames, mismatched TLS keys,
//! non-IP endpoints, misspelt kinds and folder symlink loops.

mod common;

use common::{compile_yaml, route, route_in};
use portcullis_compiler::{Diagnostic, Outcome, compile, parse_documents};

/// Compiles one Route and returns its (field, reason) errors.
fn errors_of(spec: &str) -> Vec<(String, String)> {
    let (resources, mut diagnostics) = parse_documents(&route("r", spec), "test.yaml");
    diagnostics.extend(compile(&resources).diagnostics);
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    diagnostics[0]
        .errors
        .iter()
        .map(|error| (error.field.clone(), error.reason.clone()))
        .collect()
}

fn expect_error(spec: &str, field: &str, reason: &str) {
    let errors = errors_of(spec);
    assert!(
        errors.contains(&(field.to_owned(), reason.to_owned())),
        "expected {field} {reason} for {spec}; got {errors:?}"
    );
}

#[test]
fn framing_headers_are_rejected() {
    for name in [
        "content-length",
        "Transfer-Encoding",
        "connection",
        "keep-alive",
        "upgrade",
        "te",
        "trailer",
        "proxy-connection",
        "host",
    ] {
        let spec = format!(
            "rules:\n- directResponse: {{status: 200, headers: [{{name: x-ok, value: a}}, {{name: {name}, value: \"1\"}}], body: hop}}"
        );
        expect_error(
            &spec,
            "spec.rules[0].directResponse.headers[1].name",
            "InvalidHeader",
        );
        let spec = format!(
            "rules:\n- filters: [{{type: ResponseHeaderModifier, responseHeaderModifier: {{add: [{{name: {name}, value: \"1\"}}]}}}}]\n  backends: [{{endpoint: \"127.0.0.1:9\"}}]"
        );
        expect_error(
            &spec,
            "spec.rules[0].filters[0].responseHeaderModifier.add[0].name",
            "InvalidHeader",
        );
    }
}

#[test]
fn request_modifier_rejects_framing_not_host() {
    let modifier = |name: &str| {
        format!(
            "rules:\n- filters: [{{type: RequestHeaderModifier, requestHeaderModifier: {{set: [{{name: {name}, value: \"1\"}}]}}}}]\n  backends: [{{endpoint: \"127.0.0.1:9\"}}]"
        )
    };
    expect_error(
        &modifier("content-length"),
        "spec.rules[0].filters[0].requestHeaderModifier.set[0].name",
        "InvalidHeader",
    );
    assert_eq!(errors_of(&modifier("host")), Vec::new());
    assert_eq!(errors_of(&modifier("x-tenant")), Vec::new());
}

#[test]
fn framing_header_message_names_fix() {
    let (resources, _) = parse_documents(
        &route(
            "r",
            "rules:\n- directResponse: {status: 200, headers: [{name: content-length, value: \"1\"}]}",
        ),
        "test.yaml",
    );
    let compiled = compile(&resources);
    let message = &compiled.diagnostics[0].errors[0].message;
    assert!(message.contains("gateway sets"), "{message}");
    assert!(message.contains("remove the header"), "{message}");
}

#[test]
fn redirect_hostname_must_be_plain_hostname() {
    let redirect = |hostname: &str| {
        format!(
            "rules:\n- matches: [{{path: {{type: Template, value: \"/r/{{x}}\"}}}}]\n  filters: [{{type: RequestRedirect, requestRedirect: {{hostname: \"{hostname}\"}}}}]\n  directResponse: {{status: 200}}"
        )
    };
    let field = "spec.rules[0].filters[0].requestRedirect.hostname";
    for hostname in ["{x}", "evil.com/x", "*.example.com", "a b"] {
        expect_error(&redirect(hostname), field, "InvalidHostname");
    }
    assert_eq!(errors_of(&redirect("www.example.com")), Vec::new());
}

#[test]
fn rewrite_hostname_allows_variables_only() {
    let rewrite = |hostname: &str| {
        format!(
            "rules:\n- matches: [{{path: {{type: Template, value: \"/r/{{x}}\"}}}}]\n  filters: [{{type: URLRewrite, urlRewrite: {{hostname: \"{hostname}\"}}}}]\n  backends: [{{endpoint: \"127.0.0.1:9\"}}]"
        )
    };
    let field = "spec.rules[0].filters[0].urlRewrite.hostname";
    for hostname in ["evil.com/x", "{x}/a", "*.example.com", "a?b"] {
        expect_error(&rewrite(hostname), field, "InvalidHostname");
    }
    expect_error(&rewrite("{y}.internal"), field, "InvalidTemplate");
    assert_eq!(errors_of(&rewrite("{x}.internal")), Vec::new());
    assert_eq!(errors_of(&rewrite("backend.example.com")), Vec::new());
}

/// A TLS Secret manifest with the given PEM texts.
fn tls_secret(name: &str, cert_pem: &str, key_pem: &str) -> String {
    let indent = |pem: &str| {
        pem.lines()
            .map(|l| format!("    {l}\n"))
            .collect::<String>()
    };
    format!(
        "---\napiVersion: v1\nkind: Secret\nmetadata: {{name: {name}}}\ntype: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(cert_pem),
        indent(key_pem)
    )
}

#[test]
fn tls_secret_with_other_key_is_rejected() {
    let key = rcgen::KeyPair::generate().expect("key generates");
    let other = rcgen::KeyPair::generate().expect("key generates");
    let cert = rcgen::CertificateParams::new(vec!["a.example.com".to_owned()])
        .expect("params")
        .self_signed(&key)
        .expect("certificate signs");
    let yaml = format!(
        "{}{}{}",
        tls_secret("mismatch", &cert.pem(), &other.serialize_pem()),
        tls_secret("good", &cert.pem(), &key.serialize_pem()),
        route(
            "r",
            "hostnames: [a.example.com]\ntls: {certificateRefs: [{name: mismatch}]}\nrules:\n- backends: [{endpoint: \"a:1\"}]"
        ),
    );
    let compiled = compile_yaml(&yaml);
    let find = |name: &str| -> &Diagnostic {
        compiled
            .diagnostics
            .iter()
            .find(|d| d.object.name == name)
            .expect("diagnostic exists")
    };

    let secret = find("mismatch");
    assert_eq!(secret.outcome, Outcome::Rejected);
    assert_eq!(secret.errors[0].reason, "InvalidSecret");
    assert!(secret.errors[0].message.contains("does not match"));
    assert_eq!(find("good").outcome, Outcome::Accepted);

    let refs = &find("r").unresolved_refs;
    assert_eq!(refs[0].reason, "InvalidSecret");
    assert!(refs[0].message.contains("Secret default/mismatch"));
    assert!(refs[0].message.contains("does not match"));
    assert!(compiled.snapshot.certificates().is_empty());
}

const SERVICE_WITH_NAME_ENDPOINT: &str = r#"
---
apiVersion: v1
kind: Service
metadata: {name: web, namespace: shop}
spec:
  ports: [{port: 80, targetPort: 9001}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-def
  namespace: shop
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
endpoints:
- addresses: [not-an-ip, 10.0.0.1]
- addresses: ["fd00::1"]
"#;

#[test]
fn endpoint_slice_hostname_is_skipped() {
    let yaml = format!(
        "{SERVICE_WITH_NAME_ENDPOINT}{}",
        route_in("shop", "r", "rules:\n- backends: [{name: web, port: 80}]")
    );
    let compiled = compile_yaml(&yaml);
    let json = serde_json::to_value(compiled.snapshot.ir()).expect("IR serializes");
    let endpoints =
        &json["routes"][0]["rules"][0]["action"]["forward"][0]["target"]["service"]["endpoints"];
    assert_eq!(
        endpoints,
        &serde_json::json!(["10.0.0.1:9001", "[fd00::1]:9001"])
    );

    let route = compiled
        .diagnostics
        .iter()
        .find(|d| d.object.kind == "Route")
        .expect("route diagnostic");
    assert_eq!(route.outcome, Outcome::Accepted);
    assert_eq!(route.unresolved_refs.len(), 1, "{route:#?}");
    let error = &route.unresolved_refs[0];
    assert_eq!(error.reason, "InvalidEndpoint");
    assert_eq!(error.field, "spec.rules[0].backends[0]");
    assert!(error.message.contains("EndpointSlice shop/web-def"));
    assert!(error.message.contains("not-an-ip"));
}

#[test]
fn misspelt_portcullis_kind_is_rejected() {
    for (api_version, kind) in [
        ("portcullis.io/v1alpha1", "Rout"),
        ("portcullis.io/v2", "Route"),
    ] {
        let yaml =
            format!("apiVersion: {api_version}\nkind: {kind}\nmetadata: {{name: r}}\nspec: {{}}\n");
        let (resources, diagnostics) = parse_documents(&yaml, "conf/routes.yaml");
        assert!(resources.is_empty());
        assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
        let error = &diagnostics[0].errors[0];
        assert_eq!(error.reason, "UnknownKind");
        assert!(
            error.message.contains("conf/routes.yaml"),
            "{}",
            error.message
        );
        assert!(error.message.contains(kind), "{}", error.message);
    }

    let (_, diagnostics) =
        parse_documents("apiVersion: example.com/v1\nkind: Widget\n", "other.yaml");
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
}

#[cfg(unix)]
#[test]
fn load_path_reads_symlink_loops_once() {
    let dir =
        std::env::temp_dir().join(format!("portcullis-compiler-loops-{}", std::process::id()));
    let inner = dir.join("conf");
    std::fs::create_dir_all(&inner).expect("temp dir is writable");
    let backend = "rules:\n- backends: [{endpoint: \"a:1\"}]";
    std::fs::write(inner.join("routes.yaml"), route("main", backend)).expect("write routes");
    std::os::unix::fs::symlink(&inner, inner.join("self")).expect("link to itself");
    std::os::unix::fs::symlink("..", inner.join("up")).expect("link to parent");

    let loaded = portcullis_compiler::load_path(&inner);
    std::fs::remove_dir_all(&dir).expect("temp dir removes");
    let (resources, diagnostics) = loaded.expect("folder loads");

    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(resources.len(), 1);
}
