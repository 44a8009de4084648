//! The serializable form of a snapshot, hashed for its version.
//!
//! The IR holds accepted Routes with their references already resolved
//! (Service endpoints, certificate PEM), so a data plane can rebuild the
//! route table from it alone. Every list is in a canonical order, so the
//! same resources always serialize to the same bytes.

use portcullis_crds::route::{DirectResponse, Filter, RouteMatch};
use serde::{Deserialize, Serialize};

use crate::ObjectRef;

/// Everything a data plane needs, in canonical order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotIr {
    /// Accepted Routes with resolved backends, sorted by namespace and name.
    pub routes: Vec<RouteIr>,
    /// TLS certificates, sorted by Secret.
    pub certificates: Vec<CertificateIr>,
}

/// An accepted Route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RouteIr {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
    /// `metadata.generation`, when set.
    pub generation: Option<i64>,
    /// Hostnames, lowercase, sorted, without duplicates; empty for every
    /// hostname.
    pub hostnames: Vec<String>,
    /// Priority; higher wins.
    pub priority: i32,
    /// Rules in declaration order.
    pub rules: Vec<RuleIr>,
}

/// One rule of an accepted Route.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleIr {
    /// Rule name.
    pub name: Option<String>,
    /// Matches as written; empty means every request.
    pub matches: Vec<RouteMatch>,
    /// What matching requests get.
    pub action: ActionIr,
    /// What they get when no backend has a healthy endpoint.
    pub fallback: Option<ActionIr>,
    /// Filters as written.
    pub filters: Vec<Filter>,
}

/// Backends or a direct response.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum ActionIr {
    /// Weighted backends. Backends whose reference was not permitted are
    /// left out.
    Forward(Vec<BackendIr>),
    /// A response produced by the gateway.
    Respond(DirectResponse),
}

/// A backend with its address resolved.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BackendIr {
    /// Relative share of requests.
    pub weight: u32,
    /// Where requests go.
    pub target: TargetIr,
}

/// Address of a backend.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum TargetIr {
    /// A static endpoint.
    Static {
        /// `true` for `https://` endpoints.
        tls: bool,
        /// `host:port`.
        authority: String,
    },
    /// A Service port with its ready endpoints.
    Service {
        /// Service namespace.
        namespace: String,
        /// Service name.
        name: String,
        /// Service port.
        port: u16,
        /// Ready endpoints as `ip:port`, sorted; empty when none are known.
        endpoints: Vec<String>,
    },
}

/// A TLS certificate and key from a Secret, with the hostnames it serves.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CertificateIr {
    /// The Secret.
    pub secret: ObjectRef,
    /// Hostnames of the Routes that reference it, lowercase, sorted.
    pub hostnames: Vec<String>,
    /// Certificate chain in PEM.
    pub cert_pem: String,
    /// Private key in PEM. Never printed by `Debug`.
    pub key_pem: String,
}

impl std::fmt::Debug for CertificateIr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertificateIr")
            .field("secret", &self.secret)
            .field("hostnames", &self.hostnames)
            .field("key_pem", &"<redacted>")
            .finish_non_exhaustive()
    }
}
