//! Portcullis custom resource types, in API group `portcullis.io`.
//!
//! The types derive their OpenAPI schemas, so the CRD manifests checked in
//! under `crds/` are generated from them by `portcullis-operator crds`.

pub mod route;

pub use route::{Route, RouteSpec, RouteStatus};

use kube::CustomResourceExt;

/// API group of every Portcullis resource.
pub const GROUP: &str = "portcullis.io";

/// Renders every CRD as one multi-document YAML stream, in a fixed order.
pub fn crd_manifests() -> String {
    let crds = [Route::crd()];
    let mut out = String::new();
    for crd in crds {
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&crd).expect("CRD serializes to YAML"));
    }
    out
}
