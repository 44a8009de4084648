use std::sync::Arc;

use super::*;
use crate::state::SnapshotStore;
use crate::test_support::{DEADLINE, TempDir, route, route_with_bad_regex};

/// Starts the watcher on `root` after an initial load.
fn start(
    root: PathBuf,
) -> (
    Arc<SnapshotStore>,
    watch::Sender<bool>,
    tokio::task::JoinHandle<anyhow::Result<()>>,
) {
    let store = Arc::new(SnapshotStore::new());
    let mut reloader = Reloader::new(root, Arc::clone(&store));
    reloader.reload().expect("initial load");
    let (shutdown, receiver) = watch::channel(false);
    let hangup = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup())
        .expect("install SIGHUP handler");
    let task = tokio::spawn(run(reloader, hangup, receiver));
    (store, shutdown, task)
}

/// Waits until the store serves `generation` or later.
async fn wait_for_generation(store: &SnapshotStore, generation: u64) -> bool {
    let deadline = Instant::now() + DEADLINE;
    while Instant::now() < deadline {
        if store.load().generation >= generation {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    false
}

/// Waits until the watcher has registered its watch, by touching a file
/// until a reload is seen. Writes in the same folder before the watch
/// exists would otherwise be missed.
async fn wait_until_watching(dir: &TempDir, store: &SnapshotStore, file: &str, text: &str) {
    let deadline = Instant::now() + DEADLINE;
    let start = store.load().generation;
    while Instant::now() < deadline {
        dir.write(file, text);
        let wait = Instant::now() + QUIET_PERIOD * 4;
        while Instant::now() < wait {
            if store.load().generation > start {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    panic!("watcher never reloaded");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn folder_change_publishes_new_snapshot() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (store, shutdown, task) = start(dir.path().to_path_buf());
    assert_eq!(store.load().generation, 1);

    wait_until_watching(
        &dir,
        &store,
        "b.yaml",
        &route("b", "b.example.com", "/b", "b1"),
    )
    .await;
    assert_eq!(store.load().snapshot.ir().routes.len(), 2);

    shutdown.send(true).expect("watcher listens");
    task.await
        .expect("watcher task")
        .expect("watcher stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_file_replaced_by_rename_reloads() {
    let dir = TempDir::new();
    let file = dir.write("routes.yaml", &route("a", "a.example.com", "/a", "a1"));
    // A sibling file that is not the configuration; its changes are ignored.
    dir.write("other.yaml", &route("x", "x.example.com", "/x", "x1"));
    let (store, shutdown, task) = start(file);
    assert_eq!(store.load().snapshot.ir().routes.len(), 1);

    let two = format!(
        "{}---\n{}",
        route("a", "a.example.com", "/a", "a1"),
        route("b", "b.example.com", "/b", "b1")
    );
    wait_until_watching(&dir, &store, "routes.yaml", &two).await;
    assert_eq!(store.load().snapshot.ir().routes.len(), 2);

    shutdown.send(true).expect("watcher listens");
    task.await
        .expect("watcher task")
        .expect("watcher stops cleanly");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_edit_keeps_serving_last_version() {
    let dir = TempDir::new();
    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a1"));
    let (store, shutdown, task) = start(dir.path().to_path_buf());
    let good = store.load().snapshot.version().to_owned();

    wait_until_watching(
        &dir,
        &store,
        "a.yaml",
        &route_with_bad_regex("a", "a.example.com"),
    )
    .await;
    let published = store.load();
    assert_eq!(published.snapshot.version(), good);
    assert!(
        published
            .diagnostics
            .iter()
            .any(|d| d.object.name == "a" && d.outcome == portcullis_compiler::Outcome::Rejected)
    );

    dir.write("a.yaml", &route("a", "a.example.com", "/a", "a2"));
    assert!(wait_for_generation(&store, published.generation + 1).await);
    assert_ne!(store.load().snapshot.version(), good);

    shutdown.send(true).expect("watcher listens");
    task.await
        .expect("watcher task")
        .expect("watcher stops cleanly");
}

#[test]
fn file_filter_accepts_configmap_swaps() {
    let filter = Filter::FileName(OsString::from("routes.yaml"));
    let event = |path: &str| Event::new(EventKind::Any).add_path(PathBuf::from(path));
    assert!(is_relevant(&event("/etc/portcullis/routes.yaml"), &filter));
    assert!(is_relevant(&event("/etc/portcullis/..data"), &filter));
    assert!(!is_relevant(&event("/etc/portcullis/other.yaml"), &filter));
    let access = Event::new(EventKind::Access(notify::event::AccessKind::Any))
        .add_path(PathBuf::from("/etc/portcullis/routes.yaml"));
    assert!(!is_relevant(&access, &filter));
}
