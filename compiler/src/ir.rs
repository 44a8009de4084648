//! The serializable form of a snapshot, hashed for its version.

use serde::{Deserialize, Serialize};

use crate::ObjectRef;

/// Everything a data plane needs, in canonical order.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct SnapshotIr {
    /// Accepted Routes with resolved backends, sorted by namespace and name.
    pub routes: Vec<serde_json::Value>,
    /// TLS certificates, sorted by Secret.
    pub certificates: Vec<CertificateIr>,
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
