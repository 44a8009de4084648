//! Replicas survive operator restarts: they keep their last snapshot and
//! converge on the new operator's snapshot once it is back.

mod common;

use common::{RunningClient, RunningServer, client_config, replica, snapshot_of};
use tokio::net::TcpListener;

#[tokio::test]
async fn client_reconnects_after_server_restart() {
    let pki = common::Pki::new();
    let first_server = RunningServer::start(&pki.server).await;
    let address = first_server.address;
    let first = snapshot_of(&["before"]);
    first_server.server.publish(&first).expect("publish first");
    let mut client = RunningClient::start(client_config(&pki.client, address, "pod-r"));
    assert_eq!(client.next_applied().await, first.version());

    first_server.stop().await;
    let status = client.wait_status(|s| !s.connected).await;
    assert_eq!(status.applied_version.as_deref(), Some(first.version()));
    assert!(status.last_error.is_some());

    let listener = TcpListener::bind(address)
        .await
        .expect("rebind the same address");
    let second_server = RunningServer::start_on(&pki.server, listener);
    let second = snapshot_of(&["before", "after"]);
    second_server
        .server
        .publish(&second)
        .expect("publish second");
    assert_eq!(client.next_applied().await, second.version());
    let replicas = second_server
        .wait_replicas(|all| {
            replica(all, "pod-r").and_then(|r| r.acked_version.as_deref()) == Some(second.version())
        })
        .await;
    let status = replica(&replicas, "pod-r").expect("pod-r listed");
    assert_eq!(status.reported_version.as_deref(), Some(first.version()));
    let client_status = client.wait_status(|s| s.connected).await;
    assert!(client_status.streams_opened >= 2);
    assert_eq!(client_status.consecutive_failures, 0);

    client.stop().await;
    second_server.stop().await;
}

#[tokio::test]
async fn server_records_replica_disconnect() {
    let pki = common::Pki::new();
    let running = RunningServer::start(&pki.server).await;
    running
        .server
        .publish(&snapshot_of(&["x"]))
        .expect("publish");
    let mut client = RunningClient::start(client_config(&pki.client, running.address, "pod-d"));
    client.next_applied().await;
    running
        .wait_replicas(|all| replica(all, "pod-d").is_some_and(|r| r.acked_version.is_some()))
        .await;

    client.stop().await;
    let replicas = running
        .wait_replicas(|all| replica(all, "pod-d").is_some_and(|r| !r.connected))
        .await;
    let status = replica(&replicas, "pod-d").expect("pod-d still listed");
    assert_eq!(status.streams, 0);
    assert!(
        status.acked_version.is_some(),
        "last ack kept after disconnect"
    );
    running.stop().await;
}
