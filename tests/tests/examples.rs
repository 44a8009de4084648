//! The manifests under `deploy/examples`: every example passes
//! `portcullis check`, and the quickstart serves what its comments promise.

use std::path::{Path, PathBuf};
use std::process::Command;

use http::StatusCode;
use portcullis_e2e::certs::TestCa;
use portcullis_e2e::client::get;
use portcullis_e2e::gateway::{binary_path, workspace_root};
use portcullis_e2e::{Backend, ConfigDir, Gateway};
use serde::Deserialize;

/// Example folders, one per routing factor plus the quickstart.
const EXAMPLES: [&str; 14] = [
    "quickstart",
    "host",
    "paths",
    "method",
    "headers",
    "query",
    "geo",
    "graphql",
    "time-window",
    "canary",
    "priority",
    "fallback",
    "filters",
    "tls",
];

fn example_dir(name: &str) -> PathBuf {
    workspace_root().join("deploy").join("examples").join(name)
}

/// Copies every manifest of an example into a temporary folder, with
/// `replace` applied to each file's text.
fn copy_example(name: &str, replace: &dyn Fn(String) -> String) -> ConfigDir {
    let dir = ConfigDir::new();
    let entries = std::fs::read_dir(example_dir(name)).expect("example folder exists");
    for entry in entries {
        let path = entry.expect("readable folder entry").path();
        let text = std::fs::read_to_string(&path).expect("readable manifest");
        let file_name = path.file_name().expect("file has a name").to_string_lossy();
        dir.write(&file_name, replace(text));
    }
    dir
}

/// Returns (kind, name) of every document in the YAML files of `dir`.
fn resources(dir: &Path) -> Vec<(String, String)> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir(dir).expect("example folder exists") {
        let path = entry.expect("readable folder entry").path();
        if path.extension().is_none_or(|ext| ext != "yaml") {
            continue;
        }
        let text = std::fs::read_to_string(&path).expect("readable manifest");
        for document in serde_yaml_ng::Deserializer::from_str(&text) {
            let value = serde_yaml_ng::Value::deserialize(document)
                .unwrap_or_else(|err| panic!("{} is not valid YAML: {err}", path.display()));
            let kind = value["kind"].as_str().unwrap_or_default().to_owned();
            let name = value["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            if !kind.is_empty() {
                found.push((kind, name));
            }
        }
    }
    found
}

/// Runs `portcullis check` on `dir` and asserts that every resource is
/// accepted.
fn assert_check_accepts(example: &str, dir: &Path) {
    let binary = binary_path();
    assert!(
        binary.exists(),
        "{} not found; build it first: cargo build --workspace --bins",
        binary.display()
    );
    let output = Command::new(&binary)
        .arg("check")
        .arg("--config")
        .arg(dir)
        .output()
        .expect("failed to run portcullis check");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report = format!(
        "{example}:\nstdout:\n{stdout}\nstderr:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );

    assert!(
        output.status.success(),
        "check exited with {}; {report}",
        output.status
    );
    for line in stdout.lines() {
        assert!(
            !line.to_lowercase().contains("rejected"),
            "rejected resource; {report}"
        );
    }
    for (kind, name) in resources(dir) {
        if kind != "Route" {
            continue;
        }
        let accepted = stdout.lines().any(|line| {
            line.contains(&format!("/{name}")) && line.to_lowercase().contains("accepted")
        });
        assert!(accepted, "no accepted line for Route {name}; {report}");
    }
}

#[test]
fn every_factor_has_an_example() {
    for example in EXAMPLES {
        let dir = example_dir(example);
        assert!(dir.is_dir(), "missing example folder {}", dir.display());
        let routes = resources(&dir)
            .into_iter()
            .filter(|(kind, _)| kind == "Route")
            .count();
        assert!(routes > 0, "example {example} has no Route");
    }
}

#[test]
fn check_accepts_every_example() {
    for example in EXAMPLES.into_iter().filter(|example| *example != "tls") {
        assert_check_accepts(example, &example_dir(example));
    }
}

#[test]
fn check_accepts_tls_example_with_its_secret() {
    // The example leaves the Secret to the user, so the test supplies one
    // with a certificate for the Route's hostname.
    let dir = copy_example("tls", &|text| text);
    let leaf = TestCa::new().issue(&["secure.example.com"]);
    dir.write(
        "secret.yaml",
        leaf.secret_yaml("default", "secure-example-com"),
    );

    assert_check_accepts("tls", dir.path());
}

#[tokio::test]
async fn quickstart_serves_direct_responses() {
    let dir = copy_example("quickstart", &|text| text);
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;

    let home = get(gateway.http_addr(), "localhost", "/").await;
    let health = get(gateway.http_addr(), "anything.example", "/healthz").await;

    assert_eq!(home.status, StatusCode::OK, "{}", home.text());
    assert!(
        home.text().starts_with("Welcome to Portcullis"),
        "{}",
        home.text()
    );
    assert_eq!(
        home.header("content-type"),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(health.status, StatusCode::OK, "{}", health.text());
    assert_eq!(health.text(), "ok\n");
    assert_eq!(health.header("cache-control"), Some("no-store"));
}

#[tokio::test]
async fn quickstart_forwards_files_to_backend() {
    // The example points at 127.0.0.1:9000; the test swaps in a backend on
    // an ephemeral port instead.
    let backend = Backend::echo("files").await;
    let endpoint = backend.endpoint();
    let dir = copy_example("quickstart", &|text| {
        text.replace("127.0.0.1:9000", &endpoint)
    });
    let gateway = Gateway::builder().config_dir(dir.path()).start().await;

    let response = get(gateway.http_addr(), "localhost", "/files/readme.txt").await;
    let outside = get(gateway.http_addr(), "localhost", "/filesystem").await;

    assert_eq!(response.status, StatusCode::OK, "{}", response.text());
    assert_eq!(response.backend(), Some("files"));
    assert_eq!(backend.last_request().path, "/readme.txt");
    assert_eq!(outside.status, StatusCode::NOT_FOUND, "{}", outside.text());
}
