use super::*;
use crate::test_support::{TempDir, route};

/// A Route whose only backend is a Service that does not exist.
const MISSING_SERVICE: &str = "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata: {name: r, namespace: default}
spec:
  rules:
    - backends: [{name: missing, port: 80}]
";

#[test]
fn check_warns_on_unresolved_refs() {
    let dir = TempDir::new();
    dir.write("r.yaml", MISSING_SERVICE);
    let compiled = compile_path(dir.path()).expect("folder compiles");

    let lines = report_lines(&compiled.diagnostics[0]);
    assert_eq!(lines[0], "accepted Route/default/r");
    let warning = &lines[1];
    assert!(
        warning.starts_with(
            "warning Route/default/r field=spec.rules[0].backends[0] reason=BackendNotFound: "
        ),
        "{warning}"
    );
    assert!(warning.contains("Service default/missing"), "{warning}");

    let summary = summary_line(&compiled.diagnostics);
    assert_eq!(
        summary,
        "summary resources=1 accepted=1 unresolved_refs=1: each is listed above as a warning"
    );
}

#[test]
fn check_summary_counts_rejections() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.test", "/", "a"));
    dir.write("b.yaml", &route("a", "a.test", "/", "b"));
    let compiled = compile_path(dir.path()).expect("folder compiles");

    let summary = summary_line(&compiled.diagnostics);
    assert_eq!(summary, "summary resources=2 accepted=1 rejected=1");
    let rejected = compiled
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.outcome == Outcome::Rejected)
        .expect("one copy is rejected");
    let message = &rejected.errors[0].message;
    assert!(message.contains("a.yaml"), "{message}");
    assert!(message.contains("b.yaml"), "{message}");
}

#[test]
fn clean_summary_never_says_rejected() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.test", "/", "a"));
    let compiled = compile_path(dir.path()).expect("folder compiles");
    let summary = summary_line(&compiled.diagnostics);
    assert_eq!(summary, "summary resources=1 accepted=1");
}
