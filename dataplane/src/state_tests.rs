use std::sync::Weak;
use std::sync::mpsc::channel;

use super::*;
use crate::test_support::{DEADLINE, wait_for};

fn empty_snapshot() -> Snapshot {
    compile(&[]).snapshot
}

/// Records the name of the thread that drops it.
struct DropProbe(Sender<Option<String>>);

impl Drop for DropProbe {
    fn drop(&mut self) {
        let name = std::thread::current().name().map(str::to_owned);
        let _ = self.0.send(name);
    }
}

#[test]
fn store_starts_empty_and_not_ready() {
    let store = SnapshotStore::new();
    assert!(!store.is_ready());
    assert_eq!(store.load().generation, 0);
}

#[test]
fn publish_sets_ready_and_bumps_generation() {
    let store = SnapshotStore::new();
    assert_eq!(store.publish(empty_snapshot(), Vec::new()), 1);
    assert!(store.is_ready());
    assert_eq!(store.publish(empty_snapshot(), Vec::new()), 2);
    assert_eq!(store.load().generation, 2);
}

#[test]
fn load_after_publish_sees_new_snapshot() {
    let store = SnapshotStore::new();
    let before = store.load();
    store.publish(empty_snapshot(), Vec::new());
    let after = store.load();
    assert_eq!(before.generation, 0);
    assert_eq!(after.generation, 1);
    assert!(!Arc::ptr_eq(&before, &after));
}

#[test]
fn held_snapshot_outlives_publish() {
    let store = SnapshotStore::new();
    store.publish(empty_snapshot(), Vec::new());
    let held = store.load();
    let weak: Weak<Published> = Arc::downgrade(&held);

    store.publish(empty_snapshot(), Vec::new());
    assert_eq!(held.generation, 1, "a request keeps the snapshot it loaded");

    // Once the reaper holds its reference, dropping ours is not the last drop.
    assert!(wait_for(|| Arc::strong_count(&held) == 2));
    drop(held);
    assert!(wait_for(|| weak.upgrade().is_none()), "reaper frees it");
}

#[test]
fn reaper_drops_on_its_own_thread() {
    let (sender, receiver) = channel();
    let (probe_sender, probe_receiver) = channel();
    let thread = std::thread::Builder::new()
        .name("snapshot-reaper".to_owned())
        .spawn(move || reap(receiver))
        .expect("spawn reaper");

    let held = Arc::new(DropProbe(probe_sender));
    sender.send(Arc::clone(&held)).expect("reaper is running");
    assert!(wait_for(|| Arc::strong_count(&held) == 2));
    drop(held);

    let dropped_on = probe_receiver
        .recv_timeout(DEADLINE)
        .expect("reaper drops the retired value");
    assert_eq!(dropped_on.as_deref(), Some("snapshot-reaper"));

    drop(sender);
    thread.join().expect("reaper stops when the store is gone");
}

#[test]
fn reaper_keeps_value_while_held() {
    let (sender, receiver) = channel();
    let (probe_sender, probe_receiver) = channel();
    let thread = std::thread::spawn(move || reap(receiver));

    let held = Arc::new(DropProbe(probe_sender));
    sender.send(Arc::clone(&held)).expect("reaper is running");

    // Several reap intervals pass while a request still holds the value.
    let outcome = probe_receiver.recv_timeout(REAP_INTERVAL * 4);
    assert!(outcome.is_err(), "value was dropped while held");

    drop(sender);
    thread.join().expect("reaper stops");
    drop(held);
}
