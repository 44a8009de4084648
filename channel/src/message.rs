//! Messages exchanged on the channel, each sent as one JSON object.
//!
//! Every message carries a `type` field (`hello`, `ack`, `nack`,
//! `snapshot`) and camelCase fields, so a reader of a captured stream can
//! tell the messages apart without the Rust types.

use portcullis_compiler::{ObjectRef, ir::SnapshotIr};
use serde::{Deserialize, Serialize};

/// A message from a data-plane replica to the operator.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ClientMessage {
    /// First message of every stream: who is connecting and what it serves.
    Hello {
        /// Replica name, usually the pod name.
        replica: String,
        /// Version the replica serves right now, if any.
        last_version: Option<String>,
    },
    /// The replica applied `version` and serves it.
    Ack {
        /// Version as sent by the operator.
        version: String,
    },
    /// The replica rejected `version` and keeps serving its previous one.
    Nack {
        /// Version as sent by the operator.
        version: String,
        /// Reason the replica rejected the snapshot.
        reason: String,
        /// The resource that caused the rejection, when known.
        resource: Option<ObjectRef>,
    },
}

/// A message from the operator to a data-plane replica.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub enum ServerMessage {
    /// A complete snapshot. The replica replies with `ack` or `nack`.
    Snapshot {
        /// Content version computed by the operator.
        version: String,
        /// The serializable snapshot.
        ir: SnapshotIr,
    },
}

/// Borrowed twin of [`ServerMessage`], so the operator serializes a
/// published snapshot once without cloning it.
#[derive(Serialize)]
#[serde(
    tag = "type",
    rename_all = "camelCase",
    rename_all_fields = "camelCase"
)]
pub(crate) enum ServerMessageRef<'a> {
    Snapshot {
        version: &'a str,
        ir: &'a SnapshotIr,
    },
}

/// Reason a replica rejected a snapshot, returned by the apply callback.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NackReason {
    /// Description of the problem, in a sentence an operator can act on.
    pub reason: String,
    /// The resource that caused the rejection, when known.
    pub resource: Option<ObjectRef>,
}

// === impl NackReason ===

impl NackReason {
    /// Creates a reason that names no resource.
    pub fn new(reason: impl Into<String>) -> Self {
        Self {
            reason: reason.into(),
            resource: None,
        }
    }

    /// Names the resource that caused the rejection.
    pub fn with_resource(mut self, resource: ObjectRef) -> Self {
        self.resource = Some(resource);
        self
    }
}

impl std::fmt::Display for NackReason {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.resource {
            Some(object) => write!(
                formatter,
                "{} ({}/{}/{})",
                self.reason, object.kind, object.namespace, object.name
            ),
            None => formatter.write_str(&self.reason),
        }
    }
}
