use std::sync::Arc;

use portcullis_channel::save_persisted;
use portcullis_compiler::{Snapshot, compile, parse_documents};

use super::*;
use crate::test_support::{TempDir, route};

fn snapshot_of(names: &[&str]) -> Snapshot {
    let yaml: Vec<String> = names
        .iter()
        .map(|name| route(name, &format!("{name}.example.com"), "/", name))
        .collect();
    let (resources, diagnostics) = parse_documents(&yaml.join("---\n"), "control-test.yaml");
    assert!(
        diagnostics.is_empty(),
        "parse diagnostics: {diagnostics:#?}"
    );
    let compiled = compile(&resources);
    assert_eq!(compiled.snapshot.ir().routes.len(), names.len());
    compiled.snapshot
}

fn applier(reject_route: Option<&str>) -> Applier {
    let reject_route = reject_route.map(|value| {
        let mut errors = Vec::new();
        let parsed = settings::parse_route_name(value, &mut errors);
        parsed.expect("valid route name")
    });
    Applier {
        store: Arc::new(SnapshotStore::new()),
        reject_route,
    }
}

#[test]
fn apply_publishes_and_returns_version() {
    let applier = applier(None);
    let snapshot = snapshot_of(&["web"]);

    let version = applier.apply(snapshot.ir().clone()).expect("applied");

    assert_eq!(version, snapshot.version());
    assert!(applier.store.is_ready());
    let published = applier.store.load();
    assert_eq!(published.snapshot.version(), snapshot.version());
    assert_eq!(published.generation, 1);
    assert!(published.diagnostics.is_empty());
}

#[test]
fn apply_rejects_snapshot_with_hooked_route() {
    let applier = applier(Some("default/blocked"));
    let good = snapshot_of(&["web"]);
    applier.apply(good.ir().clone()).expect("applied");

    let bad = snapshot_of(&["web", "blocked"]);
    let nack = applier.apply(bad.ir().clone()).expect_err("rejected");

    assert!(nack.reason.contains("default/blocked"), "{}", nack.reason);
    let resource = nack.resource.expect("resource named");
    assert_eq!(resource.kind, "Route");
    assert_eq!(resource.namespace, "default");
    assert_eq!(resource.name, "blocked");
    assert_eq!(applier.store.load().snapshot.version(), good.version());
}

#[test]
fn apply_hook_ignores_same_name_in_other_namespace() {
    let applier = applier(Some("other/web"));
    let snapshot = snapshot_of(&["web"]);

    assert!(applier.apply(snapshot.ir().clone()).is_ok());
}

#[test]
fn apply_rejects_snapshot_that_does_not_build() {
    let applier = applier(None);
    let snapshot = snapshot_of(&["web"]);
    let json = serde_json::to_string(snapshot.ir()).expect("serializes");
    let broken = json.replace(
        r#""type":"Prefix","value":"/""#,
        r#""type":"Regex","value":"(""#,
    );
    assert_ne!(broken, json, "the path match was rewritten");
    let ir = serde_json::from_str(&broken).expect("still a snapshot");

    let nack = applier.apply(ir).expect_err("rejected");

    assert!(nack.reason.contains("cannot be built"), "{}", nack.reason);
    assert!(!applier.store.is_ready());
}

#[test]
fn restore_without_file_serves_nothing() {
    let dir = TempDir::new();
    let store = SnapshotStore::new();

    let version = restore_blocking(&dir.path().join("missing.json"), &store);

    assert_eq!(version, None);
    assert!(!store.is_ready());
}

#[test]
fn restore_serves_saved_snapshot() {
    let dir = TempDir::new();
    let path = dir.path().join("cache.json");
    let snapshot = snapshot_of(&["web"]);
    save_persisted(&path, "operator-version", snapshot.ir()).expect("saved");
    let store = SnapshotStore::new();

    let version = restore_blocking(&path, &store);

    assert_eq!(version.as_deref(), Some("operator-version"));
    assert!(store.is_ready());
    assert_eq!(store.load().snapshot.version(), snapshot.version());
}

#[test]
fn restore_skips_corrupted_file() {
    let dir = TempDir::new();
    let path = dir.path().join("cache.json");
    let snapshot = snapshot_of(&["web"]);
    save_persisted(&path, "operator-version", snapshot.ir()).expect("saved");
    let mut bytes = std::fs::read(&path).expect("read");
    let position = bytes
        .iter()
        .rposition(|byte| *byte == b'b')
        .expect("the route name contains b");
    bytes[position] = b'c';
    std::fs::write(&path, bytes).expect("write");
    let store = SnapshotStore::new();

    let version = restore_blocking(&path, &store);

    assert_eq!(version, None);
    assert!(!store.is_ready());
}

#[test]
fn error_chain_joins_causes() {
    let inner = std::io::Error::other("disk gone");
    let outer = portcullis_channel::PersistError::Io {
        operation: "read",
        path: "/x/cache.json".into(),
        source: inner,
    };

    let line = error_chain(&outer);

    assert_eq!(
        line,
        "cannot read persisted snapshot /x/cache.json: disk gone"
    );
}

#[test]
fn replica_name_fallback_order() {
    let name = |flag: Option<&str>, pod: Option<&str>, host: Option<&str>| {
        settings::choose_replica_name(
            flag.map(str::to_owned),
            pod.map(str::to_owned),
            host.map(str::to_owned),
        )
    };
    assert_eq!(name(Some("a"), Some("b"), Some("c")).as_deref(), Some("a"));
    assert_eq!(name(None, Some("b"), Some("c")).as_deref(), Some("b"));
    assert_eq!(name(None, Some(" "), Some("c\n")).as_deref(), Some("c"));
    assert_eq!(name(None, None, None), None);
}

#[test]
fn route_name_needs_namespace_and_name() {
    for bad in ["web", "/web", "default/", "a/b/c"] {
        let mut errors = Vec::new();
        assert_eq!(settings::parse_route_name(bad, &mut errors), None, "{bad}");
        assert_eq!(errors.len(), 1, "{bad}");
    }
}
