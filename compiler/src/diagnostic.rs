//! Per-resource compile results: accepted or rejected, with field paths.

use serde::{Deserialize, Serialize};

/// Identifies one resource: kind, namespace and name.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub struct ObjectRef {
    /// Resource kind, such as `Route`.
    pub kind: String,
    /// Namespace; empty for cluster-scoped resources.
    pub namespace: String,
    /// Name.
    pub name: String,
}

/// Whether a resource made it into the snapshot.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Outcome {
    /// Compiled into the snapshot.
    Accepted,
    /// Left out of the snapshot; `errors` says why.
    Rejected,
}

/// One invalid field of a rejected resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldError {
    /// Path of the field, such as `spec.rules[0].matches[1].path.value`.
    pub field: String,
    /// CamelCase reason, such as `InvalidRegex`.
    pub reason: String,
    /// What is wrong and how to fix it.
    pub message: String,
}

/// The kind of a warning about an accepted Route.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum FindingKind {
    /// A match can never win, because a higher-ranked match takes every
    /// request it would take.
    Shadowed,
    /// Two matches take exactly the same requests; the higher-ranked wins.
    Duplicate,
}

/// A warning about a match of an accepted Route, naming the winner.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    /// What was found.
    pub kind: FindingKind,
    /// Path of the losing match, such as `spec.rules[1].matches[0]`.
    pub field: String,
    /// The Route whose match wins.
    pub winner: ObjectRef,
    /// Path of the winning match within `winner`.
    pub winner_field: String,
    /// Human-readable explanation naming both Routes.
    pub message: String,
}

/// The compile result for one resource.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Diagnostic {
    /// The resource.
    pub object: ObjectRef,
    /// `metadata.generation` of the compiled resource, when it has one.
    pub generation: Option<i64>,
    /// Accepted or rejected.
    pub outcome: Outcome,
    /// Why the resource was rejected; empty when accepted.
    pub errors: Vec<FieldError>,
    /// Shadowing and duplicate findings; only on accepted Routes.
    pub findings: Vec<Finding>,
}
