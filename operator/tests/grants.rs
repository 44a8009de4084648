//! Cross-namespace references permitted by a Gateway API ReferenceGrant.
//! This binary installs a minimal ReferenceGrant CRD into its cluster, so
//! it runs apart from the tests that expect the kind to be absent.

mod common;

use common::{Operator, route, service_with_endpoints};

/// A ReferenceGrant CRD reduced to what the operator reads: the
/// `gateway.networking.k8s.io/v1beta1` kind with an unvalidated spec.
const GRANT_CRD: &str = r#"apiVersion: apiextensions.k8s.io/v1
kind: CustomResourceDefinition
metadata:
  name: referencegrants.gateway.networking.k8s.io
  annotations: {api-approved.kubernetes.io: "unapproved, test fixture"}
spec:
  group: gateway.networking.k8s.io
  scope: Namespaced
  names: {kind: ReferenceGrant, plural: referencegrants, singular: referencegrant, listKind: ReferenceGrantList}
  versions:
  - name: v1beta1
    served: true
    storage: true
    schema:
      openAPIV3Schema:
        type: object
        properties:
          spec: {type: object, x-kubernetes-preserve-unknown-fields: true}
"#;

#[test]
fn reference_grant_permits_cross_namespace_backend() {
    let Some(cluster) = common::cluster() else {
        return;
    };
    cluster.apply(GRANT_CRD);
    cluster.kubectl_ok(&[
        "wait",
        "--for=condition=Established",
        "crd/referencegrants.gateway.networking.k8s.io",
        "--timeout=60s",
    ]);
    let namespace = cluster.namespace("grant-from");
    let target = cluster.namespace("grant-to");
    let _operator = Operator::start(&cluster, &namespace, &["--namespace", &target]);
    cluster.apply(&service_with_endpoints(&target, "shared"));
    let spec =
        format!("{{rules: [{{backends: [{{name: shared, namespace: {target}, port: 80}}]}}]}}");
    cluster.apply(&route(&namespace, "crossing", &spec));
    cluster.wait_condition(&namespace, "crossing", "ResolvedRefs=False");

    let grant = format!(
        "apiVersion: gateway.networking.k8s.io/v1beta1\nkind: ReferenceGrant\n\
         metadata: {{name: allow-routes, namespace: {target}}}\n\
         spec:\n  from: [{{group: portcullis.io, kind: Route, namespace: {namespace}}}]\n\
         \x20 to: [{{group: \"\", kind: Service, name: shared}}]\n"
    );
    cluster.apply(&grant);
    cluster.wait_condition(&namespace, "crossing", "ResolvedRefs=True");
}
