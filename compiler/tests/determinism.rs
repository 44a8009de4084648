//! The same resources in any order give the same IR bytes and version.

mod common;

use common::{resources, route, route_in};
use portcullis_compiler::compile;

fn manifests() -> String {
    let mut yaml = String::new();
    for index in 0..12 {
        let spec = format!(
            "hostnames: [h{}.example.com, \"*.w{}.example.com\"]\npriority: {}\nrules:\n- matches: [{{path: {{type: Template, value: \"/u/{{id}}/o{index}\"}}}}, {{path: {{value: /p{index}}}, methods: [POST, GET]}}]\n  backends: [{{name: web, port: 80, weight: 2}}, {{endpoint: \"10.0.0.{index}:80\"}}]\n- directResponse: {{status: 404, body: nothing}}",
            index % 3,
            index % 2,
            index % 4
        );
        yaml.push_str(&route_in(
            &format!("ns{}", index % 3),
            &format!("r{index}"),
            &spec,
        ));
    }
    yaml.push_str(&route(
        "same-a",
        "rules:\n- matches: [{path: {value: /dup}}]\n  backends: [{endpoint: \"a:1\"}]",
    ));
    yaml.push_str(&route(
        "same-b",
        "rules:\n- matches: [{path: {value: /dup}}]\n  backends: [{endpoint: \"a:1\"}]",
    ));
    yaml.push_str(
        "---\napiVersion: v1\nkind: Service\nmetadata: {name: web, namespace: ns1}\nspec: {ports: [{port: 80}]}\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-a, namespace: ns1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.1.0.2]}]\n\
         ---\napiVersion: discovery.k8s.io/v1\nkind: EndpointSlice\nmetadata: {name: web-b, namespace: ns1, labels: {kubernetes.io/service-name: web}}\naddressType: IPv4\nports: [{port: 80}]\nendpoints: [{addresses: [10.1.0.1]}]\n",
    );
    yaml
}

#[test]
fn shuffled_input_gives_identical_snapshot() {
    let base = resources(&manifests());
    let reference = compile(&base);
    let reference_json = serde_json::to_vec(reference.snapshot.ir()).expect("IR serializes");
    let reference_diagnostics = format!("{:?}", reference.diagnostics);
    let mut rng = fastrand::Rng::with_seed(7);
    for _ in 0..8 {
        let mut shuffled = base.clone();
        rng.shuffle(&mut shuffled);
        let compiled = compile(&shuffled);
        let json = serde_json::to_vec(compiled.snapshot.ir()).expect("IR serializes");
        assert_eq!(json, reference_json);
        assert_eq!(compiled.snapshot.version(), reference.snapshot.version());
        assert_eq!(format!("{:?}", compiled.diagnostics), reference_diagnostics);
    }
    let mut reversed = base.clone();
    reversed.reverse();
    assert_eq!(
        compile(&reversed).snapshot.version(),
        reference.snapshot.version()
    );
}

#[test]
fn version_tracks_content() {
    let first = compile(&resources(&manifests()));
    let version = first.snapshot.version();
    assert_eq!(version.len(), 32);
    assert!(version.bytes().all(|b| b.is_ascii_hexdigit()));
    let changed = manifests().replace("/p3", "/q3");
    assert_ne!(compile(&resources(&changed)).snapshot.version(), version);
}

#[test]
fn snapshot_round_trips_through_ir() {
    let compiled = compile(&resources(&manifests()));
    let json = serde_json::to_string(compiled.snapshot.ir()).expect("IR serializes");
    let ir = serde_json::from_str(&json).expect("IR deserializes");
    let rebuilt = portcullis_compiler::Snapshot::from_ir(ir).expect("IR rebuilds");
    assert_eq!(rebuilt.version(), compiled.snapshot.version());
    assert_eq!(rebuilt.table().len(), compiled.snapshot.table().len());
}
