//! Cluster changes reach the data-plane replicas through new snapshots,
//! without any Route change: rotated TLS Secrets and endpoint changes.

mod common;

use common::replica::{Answer, Pki, Replica};
use common::{Operator, route, service_with_endpoints};
use portcullis_compiler::ir::SnapshotIr;

fn start_operator(cluster: &common::Cluster, namespace: &str, pki: &Pki) -> Operator {
    let flags = pki.operator_flags();
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Operator::start(cluster, namespace, &flags)
}

/// Builds a `kubernetes.io/tls` Secret with a new self-signed certificate
/// for `hostname`, and returns it with the certificate's PEM.
fn tls_secret(namespace: &str, name: &str, hostname: &str) -> (String, String) {
    let key = rcgen::KeyPair::generate().expect("generate a key");
    let params =
        rcgen::CertificateParams::new(vec![hostname.to_owned()]).expect("certificate parameters");
    let cert = params
        .self_signed(&key)
        .expect("sign the certificate")
        .pem();
    let indent = |pem: &str| {
        pem.lines()
            .map(|line| format!("    {line}\n"))
            .collect::<String>()
    };
    let manifest = format!(
        "apiVersion: v1\nkind: Secret\nmetadata: {{name: {name}, namespace: {namespace}}}\n\
         type: kubernetes.io/tls\nstringData:\n  tls.crt: |\n{}  tls.key: |\n{}",
        indent(&cert),
        indent(&key.serialize_pem()),
    );
    (manifest, cert)
}

fn certificate_of(ir: &SnapshotIr, secret: &str) -> Option<String> {
    ir.certificates
        .iter()
        .find(|certificate| certificate.secret.name == secret)
        .map(|certificate| certificate.cert_pem.clone())
}

#[test]
fn rotated_secret_reaches_replicas() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("tls");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let a = Replica::start("replica-a", address, &pki, Answer::Ack);
    let b = Replica::start("replica-b", address, &pki, Answer::Ack);
    let spec = r#"{hostnames: [secure.example.com], tls: {certificateRefs: [{name: site-tls}]}, rules: [{backends: [{endpoint: "127.0.0.1:9000"}]}]}"#;
    cluster.apply(&route(&namespace, "secure", spec));
    cluster.wait_condition(&namespace, "secure", "ResolvedRefs=False");
    let refs = common::condition(&cluster.route(&namespace, "secure"), "ResolvedRefs")
        .expect("ResolvedRefs");
    assert_eq!(refs["reason"], "SecretNotFound");

    let (manifest, first) = tls_secret(&namespace, "site-tls", "secure.example.com");
    cluster.apply(&manifest);
    cluster.wait_condition(&namespace, "secure", "ResolvedRefs=True");
    for replica in [&a, &b] {
        let ir = replica.wait_applied("the first certificate", |ir| {
            certificate_of(ir, "site-tls").is_some_and(|pem| pem.trim() == first.trim())
        });
        let certificate = &ir.certificates[0];
        assert_eq!(certificate.hostnames, vec!["secure.example.com".to_owned()]);
    }

    let (manifest, second) = tls_secret(&namespace, "site-tls", "secure.example.com");
    assert_ne!(first, second);
    cluster.apply_server_side(&manifest);
    for replica in [&a, &b] {
        replica.wait_applied("the rotated certificate", |ir| {
            certificate_of(ir, "site-tls").is_some_and(|pem| pem.trim() == second.trim())
        });
    }
}

#[test]
fn endpoint_change_reaches_replicas() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("endpoints");
    let pki = Pki::new();
    let operator = start_operator(&cluster, &namespace, &pki);
    let address = operator.snapshot.expect("snapshot listener started");
    let replica = Replica::start("replica-a", address, &pki, Answer::Ack);
    cluster.apply(&service_with_endpoints(&namespace, "web"));
    cluster.apply(&route(
        &namespace,
        "web",
        "{rules: [{backends: [{name: web, port: 80}]}]}",
    ));
    let endpoints = |ir: &SnapshotIr| serde_json::to_string(ir).unwrap_or_default();
    replica.wait_applied("endpoint 127.0.0.1:8080", |ir| {
        endpoints(ir).contains("127.0.0.1:8080")
    });
    let generation = cluster.route(&namespace, "web")["metadata"]["generation"].clone();

    let slice = format!(
        "apiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\n\
         metadata: {{name: web-1, namespace: {namespace}, labels: {{kubernetes.io/service-name: web}}}}\n\
         addressType: IPv4\nports: [{{name: http, port: 8080}}]\n\
         endpoints: [{{addresses: [127.0.0.2], conditions: {{ready: true}}}}]\n"
    );
    cluster.apply_server_side(&slice);
    let ir = replica.wait_applied("endpoint 127.0.0.2:8080", |ir| {
        endpoints(ir).contains("127.0.0.2:8080")
    });
    assert!(
        !endpoints(&ir).contains("127.0.0.1:8080"),
        "the old endpoint is gone"
    );
    assert_eq!(
        cluster.route(&namespace, "web")["metadata"]["generation"],
        generation,
        "the Route did not change"
    );
}
