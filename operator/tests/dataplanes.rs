//! The operator binary with two `portcullis` data-plane binaries against a
//! real API server: `kubectl apply` leads to Ready and to traffic through
//! both data planes, and endpoint changes, rejected snapshots, rotated
//! certificates and an operator outage behave as users expect.
//!
//! Backends are hyper servers on 127.0.0.1, and every port is chosen by the
//! kernel.

mod common;

use std::time::{Duration, Instant};

use common::dataplane::{Backend, DataPlane, DataPlaneFlags, TempDir, endpoint_slice, service};
use common::replica::Pki;
use common::{Cluster, DEADLINE, Operator, condition, route};
use serde_json::Value;

/// Period over which a converged operator must write no status.
const QUIET_PERIOD: Duration = Duration::from_secs(5);

/// An operator for one namespace and its snapshot-channel certificates.
struct ControlPlane {
    pki: Pki,
    operator: Operator,
}

// === impl ControlPlane ===

impl ControlPlane {
    fn start(cluster: &Cluster, namespace: &str) -> Self {
        let pki = Pki::new();
        let flags = pki.operator_flags();
        let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
        let operator = Operator::start(cluster, namespace, &flags);
        Self { pki, operator }
    }

    fn address(&self) -> std::net::SocketAddr {
        self.operator.snapshot.expect("snapshot listener started")
    }

    /// Starts a data plane named `replica` with default flags.
    fn data_plane(&self, replica: &str) -> DataPlane {
        DataPlane::start(&DataPlaneFlags {
            operator: self.address(),
            pki: &self.pki,
            replica,
            cache: None,
            reject_route: None,
        })
    }

    /// Waits until `count` replicas are connected.
    fn wait_replicas(&self, count: u64) {
        wait_replicas(&self.operator, count);
    }
}

fn wait_replicas(operator: &Operator, count: u64) {
    let deadline = Instant::now() + DEADLINE;
    while operator.metric("portcullis_operator_connected_replicas") != count {
        assert!(
            Instant::now() < deadline,
            "{count} replicas did not connect"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

fn generation(route: &Value) -> i64 {
    route["metadata"]["generation"]
        .as_i64()
        .expect("generation is set")
}

/// Waits for Ready with `kubectl wait` and checks that it describes the
/// Route's current generation.
fn wait_ready(cluster: &Cluster, namespace: &str, name: &str) -> Value {
    cluster.wait_condition(namespace, name, "Ready");
    let route = cluster.route(namespace, name);
    let ready = condition(&route, "Ready").expect("Ready is present");
    assert_eq!(
        ready["observedGeneration"].as_i64(),
        Some(generation(&route)),
        "Ready describes the current generation of {name}"
    );
    route
}

/// Routes `/api` on `hostnames` to Service `beta` and every other path to
/// Service `alpha`.
fn shop_route(namespace: &str, hostnames: &str) -> String {
    route(
        namespace,
        "shop",
        &format!(
            "{{hostnames: [{hostnames}], rules: [\
             {{matches: [{{path: {{type: Prefix, value: /api}}}}], backends: [{{name: beta, port: 80}}]}}, \
             {{matches: [{{path: {{type: Prefix, value: /}}}}], backends: [{{name: alpha, port: 80}}]}}]}}"
        ),
    )
}

fn single_backend_route(namespace: &str, name: &str, host: &str, service: &str) -> String {
    route(
        namespace,
        name,
        &format!("{{hostnames: [{host}], rules: [{{backends: [{{name: {service}, port: 80}}]}}]}}"),
    )
}

#[test]
fn routes_steer_both_data_planes() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("traffic");
    let alpha = Backend::start("alpha");
    let beta = Backend::start("beta");
    let control = ControlPlane::start(&cluster, &namespace);
    let planes = [
        control.data_plane("replica-a"),
        control.data_plane("replica-b"),
    ];
    control.wait_replicas(2);

    cluster.apply(&service(&namespace, "alpha", alpha.port()));
    cluster.apply(&service(&namespace, "beta", beta.port()));
    cluster.apply(&shop_route(&namespace, "shop.example.com"));
    cluster.apply(&single_backend_route(
        &namespace,
        "blog",
        "blog.example.com",
        "beta",
    ));
    let shop = wait_ready(&cluster, &namespace, "shop");
    wait_ready(&cluster, &namespace, "blog");
    let ready = condition(&shop, "Ready").expect("Ready is present");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(message.contains("all 2 connected replicas"), "{message}");

    for plane in &planes {
        assert_eq!(
            plane.get("shop.example.com", "/"),
            (200, "alpha".to_owned())
        );
        assert_eq!(
            plane.get("shop.example.com", "/api/orders"),
            (200, "beta".to_owned())
        );
        assert_eq!(
            plane.get("blog.example.com", "/posts"),
            (200, "beta".to_owned())
        );
        let (status, _) = plane.get("unknown.example.com", "/");
        assert_eq!(status, 404, "a host without a Route is not served");
    }
}

#[test]
fn edit_ready_after_both_acks() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("edit");
    let alpha = Backend::start("alpha");
    let beta = Backend::start("beta");
    let control = ControlPlane::start(&cluster, &namespace);
    let a = control.data_plane("replica-a");
    let b = control.data_plane("replica-b");
    control.wait_replicas(2);
    cluster.apply(&service(&namespace, "alpha", alpha.port()));
    cluster.apply(&service(&namespace, "beta", beta.port()));
    cluster.apply(&shop_route(&namespace, "shop.example.com"));
    let first = generation(&wait_ready(&cluster, &namespace, "shop"));

    // A frozen process keeps its connection open but sends no ACK.
    b.pause();
    cluster.apply(&shop_route(
        &namespace,
        "shop.example.com, store.example.com",
    ));
    a.wait_body("store.example.com", "/", "alpha");
    let waiting = cluster.wait_for_condition(&namespace, "shop", "Ready", |ready| {
        ready["message"]
            .as_str()
            .is_some_and(|message| message.contains("waits for an ACK from replica-b"))
    });
    let second = generation(&cluster.route(&namespace, "shop"));
    assert!(second > first, "the edit bumped the generation");
    assert_eq!(
        waiting["observedGeneration"].as_i64(),
        Some(first),
        "Ready stays at the generation both data planes run"
    );
    assert_eq!(waiting["status"], "True");

    b.resume();
    let ready = cluster.wait_for_condition(&namespace, "shop", "Ready", |ready| {
        ready["observedGeneration"].as_i64() == Some(second)
    });
    assert_eq!(ready["status"], "True");
    assert_eq!(ready["reason"], "Ready");
    assert_eq!(b.get("store.example.com", "/"), (200, "alpha".to_owned()));
}

#[test]
fn endpoint_change_moves_traffic() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("endpoints");
    let old = Backend::start("old-pod");
    let new = Backend::start("new-pod");
    let control = ControlPlane::start(&cluster, &namespace);
    let planes = [
        control.data_plane("replica-a"),
        control.data_plane("replica-b"),
    ];
    control.wait_replicas(2);
    cluster.apply(&service(&namespace, "web", old.port()));
    cluster.apply(&single_backend_route(
        &namespace,
        "web",
        "web.example.com",
        "web",
    ));
    let before = wait_ready(&cluster, &namespace, "web");
    for plane in &planes {
        assert_eq!(
            plane.get("web.example.com", "/"),
            (200, "old-pod".to_owned())
        );
    }

    cluster.apply_server_side(&endpoint_slice(&namespace, "web", new.port()));
    for plane in &planes {
        plane.wait_body("web.example.com", "/", "new-pod");
    }
    let after = cluster.route(&namespace, "web");
    assert_eq!(
        generation(&after),
        generation(&before),
        "the Route was not changed"
    );
}

#[test]
fn rejecting_data_plane_makes_ready_false() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("reject");
    let backend = Backend::start("web");
    let control = ControlPlane::start(&cluster, &namespace);
    let a = control.data_plane("replica-a");
    let refused = format!("{namespace}/refused");
    let b = DataPlane::start(&DataPlaneFlags {
        operator: control.address(),
        pki: &control.pki,
        replica: "replica-b",
        cache: None,
        reject_route: Some(&refused),
    });
    control.wait_replicas(2);
    cluster.apply(&service(&namespace, "web", backend.port()));
    cluster.apply(&single_backend_route(
        &namespace,
        "kept",
        "kept.example.com",
        "web",
    ));
    wait_ready(&cluster, &namespace, "kept");

    cluster.apply(&single_backend_route(
        &namespace,
        "refused",
        "refused.example.com",
        "web",
    ));
    let ready = cluster.wait_for_condition(&namespace, "refused", "Ready", |ready| {
        ready["reason"] == "Rejected"
    });
    assert_eq!(ready["status"], "False");
    let message = ready["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("replica-b"),
        "names the replica: {message}"
    );
    assert!(
        !message.contains("replica-a"),
        "blames only replica-b: {message}"
    );
    let route = cluster.route(&namespace, "refused");
    assert_eq!(
        ready["observedGeneration"].as_i64(),
        Some(generation(&route))
    );

    a.wait_body("refused.example.com", "/", "web");
    let (status, _) = b.get("refused.example.com", "/");
    assert_eq!(status, 404, "replica-b keeps its previous snapshot");
    assert_eq!(b.get("kept.example.com", "/"), (200, "web".to_owned()));
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

#[test]
fn rotated_certificate_served_without_restart() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("rotate");
    let backend = Backend::start("web");
    let control = ControlPlane::start(&cluster, &namespace);
    let mut planes = [
        control.data_plane("replica-a"),
        control.data_plane("replica-b"),
    ];
    control.wait_replicas(2);
    let host = "secure.example.com";
    let (secret, first) = tls_secret(&namespace, "site-tls", host);
    cluster.apply(&secret);
    cluster.apply(&service(&namespace, "web", backend.port()));
    cluster.apply(&route(
        &namespace,
        "secure",
        &format!(
            "{{hostnames: [{host}], tls: {{certificateRefs: [{{name: site-tls}}]}}, \
             rules: [{{backends: [{{name: web, port: 80}}]}}]}}"
        ),
    ));
    wait_ready(&cluster, &namespace, "secure");
    for plane in &planes {
        plane.wait_certificate(host, &first);
    }

    let (secret, second) = tls_secret(&namespace, "site-tls", host);
    assert_ne!(first, second);
    cluster.apply_server_side(&secret);
    for plane in &mut planes {
        plane.wait_certificate(host, &second);
        assert!(plane.running(), "the data plane was not restarted");
    }
}

#[test]
fn operator_outage_keeps_traffic_and_status() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    let namespace = cluster.namespace("outage");
    let backend = Backend::start("web");
    let caches = TempDir::new("dataplane-cache");
    let cache_b = caches.file("replica-b.snapshot");
    let control = ControlPlane::start(&cluster, &namespace);
    let address = control.address();
    let flags_b = DataPlaneFlags {
        operator: address,
        pki: &control.pki,
        replica: "replica-b",
        cache: Some(&cache_b),
        reject_route: None,
    };
    let a = control.data_plane("replica-a");
    let b = DataPlane::start(&flags_b);
    control.wait_replicas(2);
    cluster.apply(&service(&namespace, "web", backend.port()));
    cluster.apply(&single_backend_route(
        &namespace,
        "steady",
        "steady.example.com",
        "web",
    ));
    wait_ready(&cluster, &namespace, "steady");
    b.wait_body("steady.example.com", "/", "web");
    let before = cluster.route(&namespace, "steady")["status"].clone();

    drop(control.operator);
    assert_eq!(a.get("steady.example.com", "/"), (200, "web".to_owned()));
    assert_eq!(b.get("steady.example.com", "/"), (200, "web".to_owned()));
    drop(b);
    let b = DataPlane::start(&flags_b);
    b.wait_log("snapshot restored from the cache", |fields| {
        fields["message"] == "snapshot applied" && fields["source"] == "cache"
    });
    assert_eq!(b.get("steady.example.com", "/"), (200, "web".to_owned()));
    assert_eq!(a.get("steady.example.com", "/"), (200, "web".to_owned()));

    let restarted = restart_operator(&cluster, &namespace, &control.pki, address);
    wait_replicas(&restarted, 2);
    assert_no_status_writes(&restarted);
    let after = cluster.route(&namespace, "steady")["status"].clone();
    for type_ in ["Accepted", "ResolvedRefs", "Programmed", "Ready"] {
        let transition = |status: &Value| {
            let conditions = serde_json::json!({ "status": status });
            condition(&conditions, type_).map(|found| found["lastTransitionTime"].clone())
        };
        assert_eq!(
            transition(&after),
            transition(&before),
            "lastTransitionTime of {type_} changed across the restart"
        );
    }
    assert_eq!(after, before, "status changed across the restart");

    // The reconnected data planes receive new versions again.
    cluster.apply(&single_backend_route(
        &namespace,
        "steady",
        "steady.example.com, calm.example.com",
        "web",
    ));
    wait_ready(&cluster, &namespace, "steady");
    a.wait_body("calm.example.com", "/", "web");
    b.wait_body("calm.example.com", "/", "web");
}

/// Starts a new operator where the data planes reconnect, with the restart
/// grace that keeps Ready while they do.
fn restart_operator(
    cluster: &Cluster,
    namespace: &str,
    pki: &Pki,
    address: std::net::SocketAddr,
) -> Operator {
    let mut flags = pki.operator_flags();
    let listen = flags
        .iter()
        .position(|flag| flag == "--snapshot-listen")
        .expect("flag present")
        + 1;
    flags[listen] = address.to_string();
    flags.extend(["--ready-grace-seconds".to_owned(), "30".to_owned()]);
    let flags: Vec<&str> = flags.iter().map(String::as_str).collect();
    Operator::start(cluster, namespace, &flags)
}

/// Checks the operator's status-write counter through [`QUIET_PERIOD`].
fn assert_no_status_writes(operator: &Operator) {
    let end = Instant::now() + QUIET_PERIOD;
    while Instant::now() < end {
        assert_eq!(
            operator.metric("portcullis_operator_status_writes_total"),
            0,
            "the restarted operator wrote status"
        );
        std::thread::sleep(Duration::from_millis(250));
    }
}
