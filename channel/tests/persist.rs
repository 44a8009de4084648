//! Applied snapshots are saved atomically and read back only when intact.

mod common;

use common::{
    REJECTED_ROUTE, RunningClient, RunningServer, TempDir, client_config, replica, snapshot_of,
};
use portcullis_channel::{PersistError, load_persisted, save_persisted};

#[test]
fn saved_snapshot_round_trips() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["saved", "other"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");

    let loaded = load_persisted(&path).expect("load");
    assert_eq!(loaded.version, snapshot.version());
    assert_eq!(&loaded.ir, snapshot.ir());
    let text = std::fs::read_to_string(&path).expect("read");
    assert!(text.starts_with("{\"format\":1,\"version\":"));
    assert!(text.ends_with("}\n"));
}

#[test]
fn saving_again_replaces_the_file() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let first = snapshot_of(&["first"]);
    let second = snapshot_of(&["second"]);
    save_persisted(&path, first.version(), first.ir()).expect("save first");
    save_persisted(&path, second.version(), second.ir()).expect("save second");

    assert_eq!(
        load_persisted(&path).expect("load").version,
        second.version()
    );
    let names: Vec<_> = std::fs::read_dir(dir.path())
        .expect("list folder")
        .map(|entry| entry.expect("entry").file_name())
        .collect();
    assert_eq!(names, ["snapshot.json"], "no temporary file left behind");
}

#[test]
fn flipped_byte_is_rejected_by_checksum() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["flipme"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");

    // Changes a letter of the route name, so the JSON still parses.
    let mut bytes = std::fs::read(&path).expect("read");
    let snapshot_start = bytes
        .windows(11)
        .position(|w| w == b"\"snapshot\":")
        .expect("key");
    let offset = snapshot_start
        + bytes[snapshot_start..]
            .windows(6)
            .position(|w| w == b"flipme")
            .expect("route name");
    bytes[offset] ^= 0x01;
    std::fs::write(&path, &bytes).expect("write");

    let error = load_persisted(&path).expect_err("corrupted file rejected");
    assert!(matches!(error, PersistError::Checksum { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("corrupted"), "{message}");
}

#[test]
fn every_single_byte_flip_is_rejected() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["every"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");
    let original = std::fs::read(&path).expect("read");

    for offset in 0..original.len() {
        let mut bytes = original.clone();
        bytes[offset] ^= 0x20;
        std::fs::write(&path, &bytes).expect("write");
        if let Ok(loaded) = load_persisted(&path) {
            panic!(
                "flip at byte {offset} accepted, loaded version {}",
                loaded.version
            );
        }
    }
}

#[test]
fn truncated_file_is_rejected() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["truncated"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");
    let bytes = std::fs::read(&path).expect("read");
    std::fs::write(&path, &bytes[..bytes.len() / 2]).expect("write");

    let error = load_persisted(&path).expect_err("truncated file rejected");
    assert!(matches!(error, PersistError::Parse { .. }), "{error:?}");
    let message = error.to_string();
    assert!(message.contains(&path.display().to_string()), "{message}");
    assert!(message.contains("truncated"), "{message}");
}

#[test]
fn missing_file_is_an_io_error() {
    let dir = TempDir::new();
    let path = dir.path().join("absent.json");
    let error = load_persisted(&path).expect_err("missing file");
    assert!(
        matches!(
            error,
            PersistError::Io {
                operation: "read",
                ..
            }
        ),
        "{error:?}"
    );
}

#[test]
fn other_format_is_rejected() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["format"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");
    let text = std::fs::read_to_string(&path).expect("read");
    std::fs::write(&path, text.replacen("\"format\":1", "\"format\":2", 1)).expect("write");

    let error = load_persisted(&path).expect_err("format 2 rejected");
    assert!(
        matches!(error, PersistError::UnsupportedFormat { found: 2, .. }),
        "{error:?}"
    );
}

#[test]
fn reformatted_file_is_rejected() {
    let dir = TempDir::new();
    let path = dir.path().join("snapshot.json");
    let snapshot = snapshot_of(&["pretty"]);
    save_persisted(&path, snapshot.version(), snapshot.ir()).expect("save");
    let value: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&path).expect("read")).expect("parse");
    std::fs::write(&path, serde_json::to_string_pretty(&value).expect("print")).expect("write");

    let error = load_persisted(&path).expect_err("reformatted file rejected");
    assert!(matches!(error, PersistError::Layout { .. }), "{error:?}");
}

#[tokio::test]
async fn client_saves_applied_snapshots_only() {
    let dir = TempDir::new();
    let path = dir.path().join("replica").join("snapshot.json");
    std::fs::create_dir_all(path.parent().expect("parent")).expect("create folder");
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let good = snapshot_of(&["kept"]);
    running.server.publish(&good).expect("publish good");
    let mut config = client_config(&pki.client, running.address, "pod-p");
    config.persist_path = Some(path.clone());
    let mut client = RunningClient::start(config);
    assert_eq!(client.next_applied().await, good.version());
    running
        .wait_replicas(|all| {
            replica(all, "pod-p").and_then(|r| r.acked_version.as_deref()) == Some(good.version())
        })
        .await;

    // The ack is sent after the save completes.
    let saved = load_persisted(&path).expect("load saved snapshot");
    assert_eq!(saved.version, good.version());
    assert_eq!(&saved.ir, good.ir());

    let bad = snapshot_of(&["kept", REJECTED_ROUTE]);
    running.server.publish(&bad).expect("publish bad");
    running
        .wait_replicas(|all| replica(all, "pod-p").is_some_and(|r| r.nacked.is_some()))
        .await;
    let saved = load_persisted(&path).expect("load saved snapshot");
    assert_eq!(saved.version, good.version(), "rejected snapshot not saved");

    client.stop().await;
    running.stop().await;
}
