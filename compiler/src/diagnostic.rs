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
    /// References to Services and Secrets that did not resolve. They do
    /// not reject the resource: a missing Service leaves its backend
    /// without endpoints, and a reference that is not permitted or a
    /// missing Secret is left out.
    #[serde(default)]
    pub unresolved_refs: Vec<FieldError>,
}

impl Diagnostic {
    /// An accepted resource with nothing to report.
    pub fn accepted(object: ObjectRef, generation: Option<i64>) -> Self {
        Self {
            object,
            generation,
            outcome: Outcome::Accepted,
            errors: Vec::new(),
            findings: Vec::new(),
            unresolved_refs: Vec::new(),
        }
    }

    /// A rejected resource.
    pub fn rejected(object: ObjectRef, generation: Option<i64>, errors: Vec<FieldError>) -> Self {
        Self {
            outcome: Outcome::Rejected,
            errors,
            ..Self::accepted(object, generation)
        }
    }
}

impl ObjectRef {
    /// Builds a reference.
    pub fn new(kind: &str, namespace: &str, name: &str) -> Self {
        Self {
            kind: kind.to_owned(),
            namespace: namespace.to_owned(),
            name: name.to_owned(),
        }
    }
}

impl std::fmt::Display for ObjectRef {
    /// Formats as `Kind/namespace/name`, or `Kind/name` without namespace.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.namespace.is_empty() {
            write!(f, "{}/{}", self.kind, self.name)
        } else {
            write!(f, "{}/{}/{}", self.kind, self.namespace, self.name)
        }
    }
}

impl FieldError {
    /// Builds a field error.
    pub fn new(field: impl Into<String>, reason: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            reason: reason.to_owned(),
            message: message.into(),
        }
    }
}
