//! After convergence the operator writes no status and publishes no
//! snapshot: it never triggers itself into a loop.

mod common;

use std::time::Duration;

use common::replica::{Answer, Pki, Replica};
use common::{Operator, route, service_with_endpoints};

/// Quiet period over which no status write may happen.
const QUIET: Duration = Duration::from_secs(30);

#[test]
fn converged_operator_writes_no_status() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("quiet");
    let pki = Pki::new();
    let flags = pki.operator_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    let operator = Operator::start(&cluster, &namespace, &flags);
    let address = operator.snapshot.expect("snapshot listener started");
    let _a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let _b = Replica::start("replica-b", address, &pki, Answer::Ack);
    cluster.apply(&service_with_endpoints(&namespace, "web"));
    let backend = "{rules: [{backends: [{name: web, port: 80}]}]}";
    cluster.apply(&route(&namespace, "ok", backend));
    cluster.apply(&route(
        &namespace,
        "missing",
        "{rules: [{backends: [{name: nope, port: 80}]}]}",
    ));
    let bad = r#"{rules: [{matches: [{path: {type: Regex, value: "(("}}], backends: [{endpoint: "127.0.0.1:1"}]}]}"#;
    cluster.apply(&route(&namespace, "bad", bad));
    cluster.wait_condition(&namespace, "ok", "ResolvedRefs=True");
    cluster.wait_for_condition(&namespace, "ok", "Ready", |ready| {
        ready["message"]
            .as_str()
            .is_some_and(|message| message.starts_with("all 2 connected replicas"))
    });
    cluster.wait_condition(&namespace, "missing", "ResolvedRefs=False");
    cluster.wait_condition(&namespace, "bad", "Accepted=False");

    let before = operator.metric("portcullis_operator_status_writes_total");
    let published = operator.metric("portcullis_operator_snapshots_published_total");
    assert!(
        before >= 3,
        "each Route got a status write, counted {before}"
    );
    std::thread::sleep(QUIET);
    let after = operator.metric("portcullis_operator_status_writes_total");
    assert_eq!(
        after, before,
        "status writes during {QUIET:?} after convergence"
    );
    assert_eq!(
        operator.metric("portcullis_operator_snapshots_published_total"),
        published,
        "an unchanged configuration publishes no new version"
    );
    assert_eq!(
        operator.metric("portcullis_operator_reconcile_errors_total"),
        0
    );
}
