use super::*;
use crate::test_support::{TempDir, route, route_with_bad_regex};

fn reloader(dir: &TempDir) -> (Reloader, Arc<SnapshotStore>) {
    let store = Arc::new(SnapshotStore::new());
    (
        Reloader::new(dir.path().to_path_buf(), Arc::clone(&store)),
        store,
    )
}

fn published_version(outcome: ReloadOutcome) -> String {
    match outcome {
        ReloadOutcome::Published { version, .. } => version,
        other => panic!("expected a published snapshot, got {other:?}"),
    }
}

fn diagnostic_of<'a>(store: &'a Published, kind: &str, name: &str) -> &'a Diagnostic {
    store
        .diagnostics
        .iter()
        .find(|diagnostic| diagnostic.object.kind == kind && diagnostic.object.name == name)
        .unwrap_or_else(|| panic!("no diagnostic for {kind} {name}: {:?}", store.diagnostics))
}

use crate::state::Published;

#[test]
fn initial_load_publishes_generation_one() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);

    let outcome = reloader.reload().expect("folder is readable");
    assert!(matches!(
        outcome,
        ReloadOutcome::Published { generation: 1, .. }
    ));
    assert!(store.is_ready());
    let published = store.load();
    assert_eq!(published.snapshot.ir().routes.len(), 1);
    assert_eq!(
        diagnostic_of(&published, "Route", "a").outcome,
        Outcome::Accepted
    );
}

#[test]
fn empty_folder_still_makes_store_ready() {
    let dir = TempDir::new();
    let (mut reloader, store) = reloader(&dir);
    reloader.reload().expect("folder is readable");
    assert!(store.is_ready());
    assert_eq!(store.load().generation, 1);
}

#[test]
fn unchanged_files_do_not_publish() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);
    let version = published_version(reloader.reload().expect("readable"));

    let outcome = reloader.reload().expect("readable");
    assert_eq!(outcome, ReloadOutcome::Unchanged { version });
    assert_eq!(store.load().generation, 1);
}

#[test]
fn rejected_edit_keeps_last_accepted_version() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);
    let good = published_version(reloader.reload().expect("readable"));

    dir.write("a.yaml", &route_with_bad_regex("a", "a.example.com"));
    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.version(), good, "old route still served");
    assert_eq!(
        diagnostic_of(&published, "Route", "a").outcome,
        Outcome::Rejected
    );

    // The same bad edit again changes nothing.
    let generation = published.generation;
    let outcome = reloader.reload().expect("readable");
    assert_eq!(
        outcome,
        ReloadOutcome::Unchanged {
            version: good.clone()
        }
    );
    assert_eq!(store.load().generation, generation);

    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a2"));
    let fixed = published_version(reloader.reload().expect("readable"));
    assert_ne!(fixed, good);
    assert_eq!(
        diagnostic_of(&store.load(), "Route", "a").outcome,
        Outcome::Accepted
    );
}

#[test]
fn rejected_edit_of_one_route_keeps_others_current() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    dir.write("b.yaml", &route("b", "b.example.com", "/b", "b1"));
    let (mut reloader, store) = reloader(&dir);
    reloader.reload().expect("readable");

    dir.write("a.yaml", &route_with_bad_regex("a", "a.example.com"));
    dir.write("b.yaml", &route("b", "b.example.com", "/b", "b2"));
    reloader.reload().expect("readable");

    let published = store.load();
    assert_eq!(published.snapshot.ir().routes.len(), 2, "a kept, b updated");
    assert_eq!(
        diagnostic_of(&published, "Route", "a").outcome,
        Outcome::Rejected
    );
    assert_eq!(
        diagnostic_of(&published, "Route", "b").outcome,
        Outcome::Accepted
    );
    let routes = serde_json::to_string(&published.snapshot.ir().routes).expect("json");
    assert!(routes.contains("b2"), "b serves its new version: {routes}");
}

#[test]
fn file_with_invalid_yaml_keeps_its_resources() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);
    let good = published_version(reloader.reload().expect("readable"));

    dir.write("a.yaml", "apiVersion: [unclosed\n  kind: {{{\n");
    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.version(), good);
    let kept = diagnostic_of(&published, "Route", "a");
    assert_eq!(
        kept.outcome,
        Outcome::Accepted,
        "the kept version is listed"
    );
    assert!(
        published.diagnostics.iter().any(is_unreadable),
        "the unreadable document is reported: {:?}",
        published.diagnostics
    );
}

#[test]
fn unparsable_field_keeps_last_accepted_version() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);
    let good = published_version(reloader.reload().expect("readable"));

    let broken = "apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: a
  namespace: default
spec:
  rules: 5
";
    dir.write("a.yaml", broken);
    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.version(), good);
    assert_eq!(
        diagnostic_of(&published, "Route", "a").outcome,
        Outcome::Rejected
    );
}

#[test]
fn deleted_resource_is_removed() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    dir.write("b.yaml", &route("b", "b.example.com", "/b", "b1"));
    let (mut reloader, store) = reloader(&dir);
    reloader.reload().expect("readable");
    assert_eq!(store.load().snapshot.ir().routes.len(), 2);

    dir.remove("b.yaml");
    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.ir().routes.len(), 1);
    assert!(published.diagnostics.iter().all(|d| d.object.name != "b"));
}

#[test]
fn new_invalid_resource_is_rejected_without_fallback() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (mut reloader, store) = reloader(&dir);
    reloader.reload().expect("readable");

    dir.write("c.yaml", &route_with_bad_regex("c", "c.example.com"));
    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.ir().routes.len(), 1);
    assert_eq!(
        diagnostic_of(&published, "Route", "c").outcome,
        Outcome::Rejected
    );
}

#[test]
fn deleting_a_kept_resource_removes_it() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    dir.write("b.yaml", &route("b", "b.example.com", "/b", "b1"));
    let (mut reloader, store) = reloader(&dir);
    reloader.reload().expect("readable");

    dir.write("b.yaml", &route_with_bad_regex("b", "b.example.com"));
    reloader.reload().expect("readable");
    assert_eq!(store.load().snapshot.ir().routes.len(), 2);

    dir.remove("b.yaml");
    reloader.reload().expect("readable");
    assert_eq!(store.load().snapshot.ir().routes.len(), 1);
}

#[test]
fn configmap_layout_loads_each_resource_once() {
    let dir = TempDir::new();
    let data = dir.path().join("..2024_01_01_00_00_00.000000000");
    std::fs::create_dir(&data).expect("create data dir");
    std::fs::write(
        data.join("routes.yaml"),
        route("a", "a.example.com", "/a", "a1"),
    )
    .expect("write routes");
    std::os::unix::fs::symlink(&data, dir.path().join("..data")).expect("link ..data");
    std::os::unix::fs::symlink("..data/routes.yaml", dir.path().join("routes.yaml"))
        .expect("link routes.yaml");
    let (mut reloader, store) = reloader(&dir);

    reloader.reload().expect("readable");
    let published = store.load();
    assert_eq!(published.snapshot.ir().routes.len(), 1);
    let route_diagnostics = published
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.object.kind == "Route")
        .count();
    assert_eq!(route_diagnostics, 1);
}

#[test]
fn missing_root_is_an_error() {
    let dir = TempDir::new();
    let store = Arc::new(SnapshotStore::new());
    let mut reloader = Reloader::new(dir.path().join("missing.yaml"), Arc::clone(&store));
    let error = reloader.reload().expect_err("path does not exist");
    assert!(error.to_string().contains("missing.yaml"), "{error}");
    assert!(!store.is_ready());
}

#[test]
fn duplicated_route_keeps_same_copy_across_reloads() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("same", "x.example.com", "/", "copy-a"));
    dir.write("b.yaml", &route("same", "x.example.com", "/", "copy-b"));
    let (mut reloader, store) = reloader(&dir);
    let first = published_version(reloader.reload().expect("readable"));
    let routes = serde_json::to_string(&store.load().snapshot.ir().routes).expect("json");
    assert!(routes.contains("copy-a"), "{routes}");

    dir.write("c.yaml", &route("other", "x.example.com", "/o", "other"));
    reloader.reload().expect("readable");
    let published = store.load();
    let routes = serde_json::to_string(&published.snapshot.ir().routes).expect("json");
    assert!(routes.contains("copy-a"), "{routes}");
    assert!(!routes.contains("copy-b"), "{routes}");
    let outcomes: Vec<Outcome> = published
        .diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.object.name == "same")
        .map(|diagnostic| diagnostic.outcome)
        .collect();
    assert_eq!(outcomes.len(), 2);
    assert!(outcomes.contains(&Outcome::Accepted));
    assert!(outcomes.contains(&Outcome::Rejected));

    dir.remove("c.yaml");
    let back = published_version(reloader.reload().expect("readable"));
    assert_eq!(back, first, "the same files give the first version again");
}
