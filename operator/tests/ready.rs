//! `Ready`: every connected data-plane replica runs a snapshot with the
//! Route's current generation, confirmed by ACKs on the snapshot channel.

mod common;

use common::replica::{Answer, Pki, Replica};
use common::{Operator, route, service_with_endpoints};
use portcullis_compiler::ObjectRef;

fn flags(pki: &Pki) -> Vec<String> {
    pki.operator_flags()
}

fn start_operator(cluster: &common::Cluster, namespace: &str, pki: &Pki) -> Operator {
    let flags = flags(pki);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Operator::start(cluster, namespace, &flags)
}

/// Waits until `count` replicas are connected to `operator`.
fn wait_replicas(operator: &Operator, count: u64) {
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while operator.metric("portcullis_operator_connected_replicas") < count {
        assert!(
            std::time::Instant::now() < deadline,
            "{count} replicas did not connect"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }
}

fn generation(route: &serde_json::Value) -> i64 {
    route["metadata"]["generation"]
        .as_i64()
        .expect("generation is set")
}

#[test]
fn ready_after_both_replicas_ack() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("ready");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let _a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let _b = Replica::start("replica-b", address, &pki, Answer::Ack);
    wait_replicas(&operator, 2);

    cluster.apply(&service_with_endpoints(&namespace, "web"));
    cluster.apply(&route(
        &namespace,
        "shop",
        "{hostnames: [shop.example.com], rules: [{backends: [{name: web, port: 80}]}]}",
    ));
    cluster.wait_condition(&namespace, "shop", "Ready");
    let route = cluster.route(&namespace, "shop");
    let ready = common::condition(&route, "Ready").expect("Ready is present");
    assert_eq!(
        ready["observedGeneration"].as_i64(),
        Some(generation(&route))
    );
    assert_eq!(ready["reason"], "Ready");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("all 2 connected replicas"), "{message}");
    assert!(operator.metric("portcullis_operator_snapshots_published_total") >= 1);
    assert_eq!(operator.metric("portcullis_operator_connected_replicas"), 2);
}

#[test]
fn edit_bumps_ready_generation_after_both_acks() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("edit");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let _a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let b = Replica::start("replica-b", address, &pki, Answer::Ack);
    wait_replicas(&operator, 2);
    let backend = r#"backends: [{endpoint: "127.0.0.1:9000"}]"#;
    cluster.apply(&route(
        &namespace,
        "edited",
        &format!("{{hostnames: [one.example.com], rules: [{{{backend}}}]}}"),
    ));
    cluster.wait_condition(&namespace, "edited", "Ready");
    let first = generation(&cluster.route(&namespace, "edited"));

    b.set_answer(Answer::Hold);
    cluster.apply(&route(
        &namespace,
        "edited",
        &format!("{{hostnames: [two.example.com], rules: [{{{backend}}}]}}"),
    ));
    let waiting = cluster.wait_for_condition(&namespace, "edited", "Ready", |ready| {
        ready["message"]
            .as_str()
            .is_some_and(|message| message.contains("waits for an ACK from replica-b"))
    });
    assert_eq!(waiting["status"], "True");
    assert_eq!(
        waiting["observedGeneration"].as_i64(),
        Some(first),
        "Ready stays at the generation both replicas run"
    );
    let route = cluster.route(&namespace, "edited");
    let second = generation(&route);
    assert!(second > first);
    let programmed = common::condition(&route, "Programmed").expect("Programmed is present");
    assert_eq!(programmed["observedGeneration"].as_i64(), Some(second));

    b.set_answer(Answer::Ack);
    let ready = cluster.wait_for_condition(&namespace, "edited", "Ready", |ready| {
        ready["observedGeneration"].as_i64() == Some(second)
    });
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "Ready");
}

#[test]
fn nacking_replica_makes_ready_false() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("nack");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let blamed = ObjectRef::new("Route", &namespace, "refused");
    let _a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let _b = Replica::start(
        "replica-b",
        address,
        &pki,
        Answer::Nack("test hook refuses it".to_owned(), Some(blamed)),
    );
    wait_replicas(&operator, 2);

    cluster.apply(&route(
        &namespace,
        "refused",
        r#"{rules: [{backends: [{endpoint: "127.0.0.1:9000"}]}]}"#,
    ));
    // Ready is False/Pending until replica-b's rejection arrives.
    let ready = cluster.wait_for_condition(&namespace, "refused", "Ready", |ready| {
        ready["reason"] == "Rejected"
    });
    let route = cluster.route(&namespace, "refused");
    assert_eq!(ready["status"], "False");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("replica replica-b rejected snapshot"),
        "{message}"
    );
    assert!(message.contains("test hook refuses it"), "{message}");
    assert!(!message.contains("replica-a"), "{message}");
    assert_eq!(
        ready["observedGeneration"].as_i64(),
        Some(generation(&route))
    );
    assert_eq!(
        common::condition(&route, "Accepted").expect("Accepted")["status"],
        "True"
    );

    let event = cluster.wait_event(&namespace, "ReplicaRejected", "refused");
    assert_eq!(event["type"], "Warning");
}

#[test]
fn ready_unknown_without_replicas() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("alone");
    let pki = Pki::new();
    let _operator = start_operator(&cluster, &namespace, &pki);
    cluster.apply(&route(
        &namespace,
        "alone",
        r#"{rules: [{backends: [{endpoint: "127.0.0.1:9000"}]}]}"#,
    ));
    let ready = cluster.wait_for_condition(&namespace, "alone", "Ready", |ready| {
        ready["status"] == "Unknown"
    });
    assert_eq!(ready["reason"], "NoReplicas");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("no data-plane replica is connected"),
        "{message}"
    );
}

#[test]
fn operator_restart_keeps_ready() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("restart");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let _a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let _b = Replica::start("replica-b", address, &pki, Answer::Ack);
    wait_replicas(&operator, 2);
    cluster.apply(&route(
        &namespace,
        "steady",
        r#"{rules: [{backends: [{endpoint: "127.0.0.1:9000"}]}]}"#,
    ));
    cluster.wait_condition(&namespace, "steady", "Ready");
    let before = cluster.route(&namespace, "steady")["status"].clone();
    drop(operator);

    // The new operator listens where the replicas reconnect.
    let mut flags = pki.operator_flags();
    let listen = flags
        .iter()
        .position(|flag| flag == "--snapshot-listen")
        .expect("flag present")
        + 1;
    flags[listen] = address.to_string();
    flags.extend(["--ready-grace-seconds".to_owned(), "30".to_owned()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let restarted = Operator::start(&cluster, &namespace, &flags);
    wait_replicas(&restarted, 2);
    // A pass after the reconnect takes one debounce period; a few seconds
    // show whether that pass changed anything.
    std::thread::sleep(std::time::Duration::from_secs(3));
    let after = cluster.route(&namespace, "steady")["status"].clone();
    assert_eq!(after, before, "status changed across the restart");
    assert_eq!(
        restarted.metric("portcullis_operator_status_writes_total"),
        0
    );
}

#[test]
fn replica_from_other_ca_rejected() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("foreign");
    let pki = Pki::new();
    let foreign = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let _intruder = Replica::start("intruder", address, &foreign, Answer::Ack);
    let deadline = std::time::Instant::now() + common::DEADLINE;
    while operator.metric("portcullis_operator_channel_rejected_handshakes_total") == 0 {
        assert!(
            std::time::Instant::now() < deadline,
            "the handshake was never rejected"
        );
        std::thread::sleep(std::time::Duration::from_millis(100));
    }

    cluster.apply(&route(
        &namespace,
        "private",
        r#"{rules: [{backends: [{endpoint: "127.0.0.1:9000"}]}]}"#,
    ));
    let ready = cluster.wait_for_condition(&namespace, "private", "Ready", |ready| {
        ready["status"] == "Unknown"
    });
    assert_eq!(ready["reason"], "NoReplicas");
    assert_eq!(operator.metric("portcullis_operator_connected_replicas"), 0);
}
