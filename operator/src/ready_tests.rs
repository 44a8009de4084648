use portcullis_compiler::ObjectRef;
use portcullis_compiler::ir::{RouteIr, SnapshotIr};

use super::*;

fn key() -> RouteKey {
    ("shop".to_owned(), "web".to_owned())
}

fn snapshot(generation: i64) -> SnapshotIr {
    let route = RouteIr {
        namespace: "shop".to_owned(),
        name: "web".to_owned(),
        generation: Some(generation),
        hostnames: Vec::new(),
        priority: 0,
        rules: Vec::new(),
    };
    SnapshotIr {
        routes: vec![route],
        ..SnapshotIr::default()
    }
}

fn history() -> History {
    let mut history = History::default();
    history.record("v1", &snapshot(1));
    history.record("v2", &snapshot(2));
    history
}

fn replica(name: &str, acked: Option<&str>) -> ReplicaView {
    ReplicaView {
        name: name.to_owned(),
        connected: true,
        acked_version: acked.map(str::to_owned),
        nacked: None,
    }
}

#[test]
fn all_replicas_acked_current_generation() {
    let replicas = [replica("a", Some("v2")), replica("b", Some("v2"))];
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &replicas, &history());
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, 2);
}

#[test]
fn older_generation_keeps_ready_at_oldest() {
    let replicas = [replica("a", Some("v2")), replica("b", Some("v1"))];
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &replicas, &history());
    assert_eq!(ready.status, "True");
    assert_eq!(ready.observed_generation, 1);
    assert!(
        ready.message.contains("waits for an ACK from b"),
        "{}",
        ready.message
    );
}

#[test]
fn replica_without_ack_is_pending() {
    let replicas = [replica("a", Some("v2")), replica("b", None)];
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &replicas, &history());
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "Pending");
    assert!(ready.message.contains('b'));
}

#[test]
fn disconnected_replicas_do_not_count() {
    let mut gone = replica("gone", None);
    gone.connected = false;
    let replicas = [replica("a", Some("v2")), gone];
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &replicas, &history());
    assert_eq!(ready.status, "True");
}

#[test]
fn no_connected_replica_is_unknown() {
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &[], &history());
    assert_eq!(ready.status, "Unknown");
    assert_eq!(ready.reason, "NoReplicas");
    let ready = ready_condition(
        &key(),
        2,
        true,
        Channel::Disabled,
        &[replica("a", Some("v2"))],
        &history(),
    );
    assert_eq!(ready.status, "Unknown");
}

#[test]
fn nack_blaming_route_names_replica() {
    let mut b = replica("b", Some("v1"));
    b.nacked = Some((
        "v2".to_owned(),
        "bad pattern".to_owned(),
        Some(ObjectRef::new("Route", "shop", "web")),
    ));
    let replicas = [replica("a", Some("v2")), b];
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &replicas, &history());
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "Rejected");
    assert!(
        ready
            .message
            .contains("replica b rejected snapshot v2: bad pattern"),
        "{}",
        ready.message
    );
}

#[test]
fn nack_blaming_other_route_is_not_rejection() {
    let mut b = replica("b", Some("v1"));
    b.nacked = Some((
        "v2".to_owned(),
        "bad".to_owned(),
        Some(ObjectRef::new("Route", "shop", "other")),
    ));
    let ready = ready_condition(&key(), 2, true, Channel::Enabled, &[b], &history());
    assert_ne!(ready.reason, "Rejected");
}

#[test]
fn unprogrammed_route_is_not_ready() {
    let ready = ready_condition(
        &key(),
        3,
        false,
        Channel::Enabled,
        &[replica("a", Some("v2"))],
        &history(),
    );
    assert_eq!(ready.status, "False");
    assert_eq!(ready.reason, "Invalid");
}

#[test]
fn history_forgets_oldest_versions() {
    let mut history = History::default();
    for index in 0..=HISTORY_VERSIONS {
        history.record(&format!("v{index}"), &snapshot(index as i64));
    }
    assert_eq!(history.generation_in("v0", &key()), None);
    assert_eq!(
        history.generation_in(&format!("v{HISTORY_VERSIONS}"), &key()),
        Some(HISTORY_VERSIONS as i64)
    );
}
