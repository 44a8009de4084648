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
        let mut value = serde_json::to_value(&crd).expect("CRD serializes to JSON");
        strip_unknown_formats(&mut value);
        out.push_str("---\n");
        out.push_str(&serde_yaml_ng::to_string(&value).expect("CRD serializes to YAML"));
    }
    out
}

/// Removes integer formats such as `uint16` that schemars emits for Rust
/// types but the Kubernetes API server does not know; it warns about each
/// one on every apply. The ranges on the same fields still bound the values.
fn strip_unknown_formats(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            let unknown = map
                .get("format")
                .and_then(serde_json::Value::as_str)
                .is_some_and(|format| !KNOWN_FORMATS.contains(&format));
            if unknown {
                map.remove("format");
            }
            map.values_mut().for_each(strip_unknown_formats);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(strip_unknown_formats),
        _ => {}
    }
}

/// Formats the API server validates or passes through without a warning.
const KNOWN_FORMATS: &[&str] = &[
    "int32",
    "int64",
    "float",
    "double",
    "byte",
    "binary",
    "date",
    "date-time",
    "password",
    "uri",
    "email",
    "hostname",
    "ipv4",
    "ipv6",
    "cidr",
    "mac",
    "uuid",
    "duration",
    "int-or-string",
];
