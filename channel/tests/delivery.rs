//! Snapshots reach replicas on connect and on every publish, and replies
//! reach the operator's replica list.

mod common;

use common::{REJECTED_ROUTE, RunningClient, RunningServer, client_config, replica, snapshot_of};
use portcullis_compiler::ObjectRef;

#[tokio::test]
async fn client_receives_current_then_each_new_snapshot() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let first = snapshot_of(&["alpha"]);
    running.server.publish(&first).expect("publish first");

    let mut client = RunningClient::start(client_config(&pki.client, running.address, "pod-a"));
    assert_eq!(client.next_applied().await, first.version());
    let replicas = running
        .wait_replicas(|all| {
            replica(all, "pod-a").and_then(|r| r.acked_version.as_deref()) == Some(first.version())
        })
        .await;
    let status = replica(&replicas, "pod-a").expect("pod-a listed");
    assert!(status.connected);
    assert_eq!(status.streams, 1);
    assert_eq!(status.reported_version, None);

    let second = snapshot_of(&["alpha", "beta"]);
    running.server.publish(&second).expect("publish second");
    assert_eq!(client.next_applied().await, second.version());
    running
        .wait_replicas(|all| {
            replica(all, "pod-a").and_then(|r| r.acked_version.as_deref()) == Some(second.version())
        })
        .await;
    let status = client.wait_status(|s| s.applied_version.is_some()).await;
    assert_eq!(status.applied_version.as_deref(), Some(second.version()));
    assert_eq!(status.local_version.as_deref(), Some(second.version()));

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn client_connected_before_first_publish_waits_for_it() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let mut client = RunningClient::start(client_config(&pki.client, running.address, "early"));
    running
        .wait_replicas(|all| replica(all, "early").is_some_and(|r| r.connected))
        .await;
    assert!(client.applied.try_recv().is_err(), "nothing published yet");

    let snapshot = snapshot_of(&["late"]);
    running.server.publish(&snapshot).expect("publish");
    assert_eq!(client.next_applied().await, snapshot.version());

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn nack_is_recorded_and_replica_keeps_last_good() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let good = snapshot_of(&["good"]);
    running.server.publish(&good).expect("publish good");
    let mut client = RunningClient::start(client_config(&pki.client, running.address, "pod-n"));
    assert_eq!(client.next_applied().await, good.version());

    let bad = snapshot_of(&["good", REJECTED_ROUTE]);
    running.server.publish(&bad).expect("publish bad");
    let replicas = running
        .wait_replicas(|all| replica(all, "pod-n").is_some_and(|r| r.nacked.is_some()))
        .await;
    let status = replica(&replicas, "pod-n").expect("pod-n listed");
    let nacked = status.nacked.as_ref().expect("nack recorded");
    assert_eq!(nacked.version, bad.version());
    assert_eq!(nacked.reason, "route rejected by the test replica");
    let expected_resource = ObjectRef {
        kind: "Route".to_owned(),
        namespace: "default".to_owned(),
        name: REJECTED_ROUTE.to_owned(),
    };
    assert_eq!(nacked.resource.as_ref(), Some(&expected_resource));
    assert_eq!(status.acked_version.as_deref(), Some(good.version()));
    let client_status = client.status.borrow().clone();
    assert_eq!(
        client_status.applied_version.as_deref(),
        Some(good.version())
    );
    assert!(
        client.applied.try_recv().is_err(),
        "rejected snapshot not applied"
    );

    let fixed = snapshot_of(&["good", "fixed"]);
    running.server.publish(&fixed).expect("publish fixed");
    assert_eq!(client.next_applied().await, fixed.version());
    let replicas = running
        .wait_replicas(|all| {
            replica(all, "pod-n").and_then(|r| r.acked_version.as_deref()) == Some(fixed.version())
        })
        .await;
    let status = replica(&replicas, "pod-n").expect("pod-n listed");
    assert_eq!(status.nacked, None, "ack clears the earlier nack");

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn two_clients_both_receive_pushes() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let first = snapshot_of(&["one"]);
    running.server.publish(&first).expect("publish first");
    let mut a = RunningClient::start(client_config(&pki.client, running.address, "pod-1"));
    let mut b = RunningClient::start(client_config(&pki.client, running.address, "pod-2"));
    assert_eq!(a.next_applied().await, first.version());
    assert_eq!(b.next_applied().await, first.version());

    let second = snapshot_of(&["one", "two"]);
    running.server.publish(&second).expect("publish second");
    assert_eq!(a.next_applied().await, second.version());
    assert_eq!(b.next_applied().await, second.version());
    let replicas = running
        .wait_replicas(|all| {
            all.len() == 2
                && all
                    .iter()
                    .all(|r| r.acked_version.as_deref() == Some(second.version()))
        })
        .await;
    assert_eq!(replicas[0].replica, "pod-1");
    assert_eq!(replicas[1].replica, "pod-2");

    a.stop().await;
    let replicas = running
        .wait_replicas(|all| replica(all, "pod-1").is_some_and(|r| !r.connected))
        .await;
    assert!(replica(&replicas, "pod-2").expect("pod-2 listed").connected);
    b.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn known_version_is_acknowledged_without_apply() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let snapshot = snapshot_of(&["persisted"]);
    running.server.publish(&snapshot).expect("publish");
    let mut config = client_config(&pki.client, running.address, "pod-k");
    config.last_version = Some(snapshot.version().to_owned());
    let mut client = RunningClient::start(config);

    let replicas = running
        .wait_replicas(|all| {
            replica(all, "pod-k").and_then(|r| r.acked_version.as_deref())
                == Some(snapshot.version())
        })
        .await;
    let status = replica(&replicas, "pod-k").expect("pod-k listed");
    assert_eq!(status.reported_version.as_deref(), Some(snapshot.version()));
    assert!(client.applied.try_recv().is_err(), "apply not called again");

    client.stop().await;
    running.stop().await;
}

#[tokio::test]
async fn publish_same_version_twice_succeeds() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    let snapshot = snapshot_of(&["same"]);
    running.server.publish(&snapshot).expect("publish");
    running.server.publish(&snapshot).expect("publish again");
    assert_eq!(
        running.server.published_version().as_deref(),
        Some(snapshot.version())
    );
    running.stop().await;
}
