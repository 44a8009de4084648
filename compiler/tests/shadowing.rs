//! Shadowing and duplicate findings name the winner.

mod common;

use common::{compile_yaml, route, route_in};
use portcullis_compiler::{Diagnostic, FindingKind, Outcome};

const BACKEND: &str = "backends: [{endpoint: \"127.0.0.1:9\"}]";

fn rule(matches: &str) -> String {
    format!("rules:\n- matches: {matches}\n  {BACKEND}")
}

fn diagnostic<'a>(diagnostics: &'a [Diagnostic], name: &str) -> &'a Diagnostic {
    diagnostics
        .iter()
        .find(|d| d.object.name == name)
        .expect("diagnostic exists")
}

#[test]
fn prefix_shadows_exact_of_lower_priority() {
    let yaml = [
        route(
            "wide",
            &format!("priority: 10\n{}", rule("[{path: {value: /api}}]")),
        ),
        route(
            "narrow",
            &rule("[{path: {type: Exact, value: /api/users}}]"),
        ),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let findings = &diagnostic(&compiled.diagnostics, "narrow").findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::Shadowed);
    assert_eq!(findings[0].field, "spec.rules[0].matches[0]");
    assert_eq!(findings[0].winner.name, "wide");
    assert_eq!(findings[0].winner_field, "spec.rules[0].matches[0]");
    assert!(
        diagnostic(&compiled.diagnostics, "wide")
            .findings
            .is_empty()
    );
}

#[test]
fn prefix_does_not_shadow_across_segment() {
    let yaml = [
        route(
            "wide",
            &format!("priority: 10\n{}", rule("[{path: {value: /api}}]")),
        ),
        route("other", &rule("[{path: {type: Exact, value: /apix}}]")),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert!(
        diagnostic(&compiled.diagnostics, "other")
            .findings
            .is_empty()
    );
}

#[test]
fn fewer_header_conditions_shadow_superset() {
    let yaml = [
        route("a", &format!("priority: 1\n{}", rule("[{path: {value: /x}, headers: [{name: X-Env, value: prod}]}]"))),
        route("b", &rule("[{path: {value: /x/y}, headers: [{name: x-env, value: prod}, {name: x-beta, type: Present}]}]")),
        route("c", &rule("[{path: {value: /x/z}, headers: [{name: x-beta, type: Present}]}]")),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let findings = &diagnostic(&compiled.diagnostics, "b").findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].winner.name, "a");
    assert!(diagnostic(&compiled.diagnostics, "c").findings.is_empty());
}

#[test]
fn shadowing_works_across_namespaces() {
    let yaml = [
        route_in(
            "team-a",
            "all",
            &format!(
                "hostnames: [\"*.example.com\"]\npriority: 3\n{}",
                rule("[{path: {value: /}}]")
            ),
        ),
        route_in(
            "team-b",
            "shop",
            &format!(
                "hostnames: [shop.example.com]\n{}",
                rule("[{path: {value: /cart}, methods: [GET]}]")
            ),
        ),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let findings = &diagnostic(&compiled.diagnostics, "shop").findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].winner.namespace, "team-a");
    assert_eq!(findings[0].winner.name, "all");
}

#[test]
fn narrower_hostnames_are_not_shadowed_by_other_hosts() {
    let yaml = [
        route(
            "a",
            &format!(
                "hostnames: [a.example.com]\npriority: 3\n{}",
                rule("[{path: {value: /}}]")
            ),
        ),
        route(
            "b",
            &format!(
                "hostnames: [a.example.com, b.example.com]\n{}",
                rule("[{path: {value: /x}}]")
            ),
        ),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    assert!(diagnostic(&compiled.diagnostics, "b").findings.is_empty());
}

#[test]
fn identical_matches_are_duplicates() {
    let yaml = [
        route_in(
            "x",
            "first",
            &rule("[{path: {type: Template, value: \"/u/{id}\"}, methods: [GET]}]"),
        ),
        route_in(
            "y",
            "second",
            &rule("[{path: {type: Template, value: \"/u/{id}\"}, methods: [GET]}]"),
        ),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let findings = &diagnostic(&compiled.diagnostics, "second").findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::Duplicate);
    assert_eq!(findings[0].winner.namespace, "x");
    assert!(
        findings[0].message.contains("Route/x/first"),
        "{}",
        findings[0].message
    );
    assert!(
        diagnostic(&compiled.diagnostics, "first")
            .findings
            .is_empty()
    );
}

#[test]
fn later_rule_of_same_route_can_be_shadowed() {
    let spec = format!(
        "rules:\n- matches: [{{path: {{value: /a}}}}]\n  {BACKEND}\n- matches: [{{path: {{value: /a}}}}]\n  {BACKEND}"
    );
    let compiled = compile_yaml(&route("r", &spec));
    let findings = &compiled.diagnostics[0].findings;
    assert_eq!(findings.len(), 1);
    assert_eq!(findings[0].kind, FindingKind::Duplicate);
    assert_eq!(findings[0].field, "spec.rules[1].matches[0]");
    assert_eq!(findings[0].winner_field, "spec.rules[0].matches[0]");
}

#[test]
fn duplicated_route_findings_go_to_accepted_copy() {
    let yaml = [
        route(
            "wide",
            &format!("priority: 10\n{}", rule("[{path: {value: /api}}]")),
        ),
        route("narrow", &rule("[{path: {type: Exact, value: /api/1}}]")),
        route("narrow", &rule("[{path: {type: Exact, value: /api/2}}]")),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let copies: Vec<&Diagnostic> = compiled
        .diagnostics
        .iter()
        .filter(|d| d.object.name == "narrow")
        .collect();
    assert_eq!(copies.len(), 2);
    for copy in copies {
        let expected = usize::from(copy.outcome == Outcome::Accepted);
        assert_eq!(copy.findings.len(), expected, "{copy:?}");
    }
}
