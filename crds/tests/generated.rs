//! The checked-in CRD manifests must be exactly what the types generate.

#[test]
fn checked_in_crds_match_types() {
    let generated = portcullis_crds::crd_manifests();
    let checked_in = include_str!("../crds.yaml");
    assert!(
        generated == checked_in,
        "crds/crds.yaml is out of date with the Rust types; regenerate it with \
         `cargo run -p portcullis-operator -- crds > crds/crds.yaml`"
    );
}
