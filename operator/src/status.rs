//! Route conditions computed from a compile result, and the comparison
//! that decides whether a status write is needed.
//!
//! Conditions follow Gateway API: `Accepted`, `ResolvedRefs`,
//! `Programmed` and `Ready`, each with `observedGeneration`, a CamelCase
//! reason and a message naming the field and the fix. A Route with a match
//! that can never win also gets `Shadowed=True`.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use portcullis_compiler::{Diagnostic, FindingKind, Outcome};

/// Condition types this operator owns on a Route. Conditions of other
/// types, written by other controllers, are left alone and never compared.
pub const MANAGED_TYPES: [&str; 5] = [
    "Accepted",
    "ResolvedRefs",
    "Programmed",
    "Ready",
    "Shadowed",
];

/// Messages are cut to this many bytes; the API server allows 32768.
const MAX_MESSAGE_BYTES: usize = 4096;

/// Findings listed in the `Shadowed` message before the rest are counted.
const MAX_LISTED_FINDINGS: usize = 5;

/// One condition as computed, before `lastTransitionTime` is chosen.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Computed {
    /// Condition type, such as `Accepted`.
    pub type_: &'static str,
    /// `True`, `False` or `Unknown`.
    pub status: &'static str,
    /// CamelCase reason.
    pub reason: String,
    /// Human-readable message naming the field and the fix.
    pub message: String,
    /// The Route generation the condition describes.
    pub observed_generation: i64,
}

// === impl Computed ===

impl Computed {
    /// Builds a condition, cutting the message to a bounded length.
    pub fn new(
        type_: &'static str,
        status: &'static str,
        reason: &str,
        message: String,
        generation: i64,
    ) -> Self {
        Self {
            type_,
            status,
            reason: reason.to_owned(),
            message: truncate(message),
            observed_generation: generation,
        }
    }

    /// Checks whether `existing` has the same type, status, reason, message
    /// and generation, ignoring `lastTransitionTime`.
    fn matches(&self, existing: &Condition) -> bool {
        existing.type_ == self.type_
            && existing.status == self.status
            && existing.reason == self.reason
            && existing.message == self.message
            && existing.observed_generation == Some(self.observed_generation)
    }
}

fn truncate(mut message: String) -> String {
    if message.len() > MAX_MESSAGE_BYTES {
        let mut end = MAX_MESSAGE_BYTES;
        while !message.is_char_boundary(end) {
            end -= 1;
        }
        message.truncate(end);
        message.push_str(" [truncated]");
    }
    message
}

/// Computes the conditions of a Route at `generation` from its compile diagnostic
/// and its already computed `Ready` condition. `programmed` is true when the
/// published snapshot contains this generation.
pub fn route_conditions(
    generation: i64,
    diagnostic: Option<&Diagnostic>,
    programmed: bool,
    ready: Computed,
) -> Vec<Computed> {
    let Some(diagnostic) = diagnostic else {
        // Every Route given to the compiler gets a diagnostic; this covers
        // a Route that arrived after the compile started.
        let message = "the Route has not been compiled yet; wait for the next compile".to_owned();
        return vec![
            Computed::new("Accepted", "Unknown", "Pending", message, generation),
            ready,
        ];
    };
    if diagnostic.outcome == Outcome::Rejected {
        return rejected(generation, diagnostic, ready);
    }
    let mut conditions = vec![
        Computed::new(
            "Accepted",
            "True",
            "Accepted",
            "the Route is valid".to_owned(),
            generation,
        ),
        resolved_refs(generation, diagnostic),
        programmed_condition(generation, programmed),
        ready,
    ];
    if let Some(shadowed) = shadowed(generation, diagnostic) {
        conditions.push(shadowed);
    }
    conditions
}

fn programmed_condition(generation: i64, programmed: bool) -> Computed {
    if programmed {
        let message = "the Route is compiled into the published snapshot".to_owned();
        return Computed::new("Programmed", "True", "Programmed", message, generation);
    }
    let message =
        "the snapshot with this generation was not published; the operator log names the \
                   error"
            .to_owned();
    Computed::new("Programmed", "False", "Pending", message, generation)
}

fn rejected(generation: i64, diagnostic: &Diagnostic, ready: Computed) -> Vec<Computed> {
    let errors: Vec<String> = diagnostic
        .errors
        .iter()
        .map(|error| format!("{} ({}): {}", error.field, error.reason, error.message))
        .collect();
    let message = format!("the Route is rejected: {}", errors.join("; "));
    let not_compiled = "the Route is not compiled into the snapshot because it is not accepted; \
                        fix the errors listed in the Accepted condition"
        .to_owned();
    let refs = "references are resolved once the Route is accepted; fix the errors listed \
                in the Accepted condition"
        .to_owned();
    vec![
        Computed::new("Accepted", "False", "Invalid", message, generation),
        Computed::new("ResolvedRefs", "Unknown", "Invalid", refs, generation),
        Computed::new("Programmed", "False", "Invalid", not_compiled, generation),
        ready,
    ]
}

fn resolved_refs(generation: i64, diagnostic: &Diagnostic) -> Computed {
    let Some(first) = diagnostic.unresolved_refs.first() else {
        let message = "every backend and certificate reference resolved".to_owned();
        return Computed::new("ResolvedRefs", "True", "ResolvedRefs", message, generation);
    };
    let details: Vec<String> = diagnostic
        .unresolved_refs
        .iter()
        .map(|error| format!("{} ({}): {}", error.field, error.reason, error.message))
        .collect();
    Computed::new(
        "ResolvedRefs",
        "False",
        &first.reason,
        details.join("; "),
        generation,
    )
}

fn shadowed(generation: i64, diagnostic: &Diagnostic) -> Option<Computed> {
    let first = diagnostic.findings.first()?;
    let reason = match first.kind {
        FindingKind::Shadowed => "ShadowedByRoute",
        FindingKind::Duplicate => "DuplicateOfRoute",
    };
    let mut parts: Vec<String> = diagnostic
        .findings
        .iter()
        .take(MAX_LISTED_FINDINGS)
        .map(|finding| finding.message.clone())
        .collect();
    let rest = diagnostic
        .findings
        .len()
        .saturating_sub(MAX_LISTED_FINDINGS);
    if rest > 0 {
        parts.push(format!("and {rest} more"));
    }
    Some(Computed::new(
        "Shadowed",
        "True",
        reason,
        parts.join("; "),
        generation,
    ))
}

/// Checks whether the managed conditions on the object differ from `computed`,
/// ignoring `lastTransitionTime` and conditions of other types.
pub fn differs(existing: &[Condition], computed: &[Computed]) -> bool {
    let managed: Vec<&Condition> = existing
        .iter()
        .filter(|condition| MANAGED_TYPES.contains(&condition.type_.as_str()))
        .collect();
    if managed.len() != computed.len() {
        return true;
    }
    !computed
        .iter()
        .all(|expected| managed.iter().any(|condition| expected.matches(condition)))
}

/// Builds the conditions to write. `lastTransitionTime` is kept from `existing`
/// when the status of that type did not change, and is `now` otherwise.
pub fn merge(existing: &[Condition], computed: &[Computed], now: &Time) -> Vec<Condition> {
    computed
        .iter()
        .map(|expected| {
            let previous = existing
                .iter()
                .find(|condition| condition.type_ == expected.type_);
            let last_transition_time = match previous {
                Some(condition) if condition.status == expected.status => {
                    condition.last_transition_time.clone()
                }
                _ => now.clone(),
            };
            Condition {
                type_: expected.type_.to_owned(),
                status: expected.status.to_owned(),
                reason: expected.reason.clone(),
                message: expected.message.clone(),
                observed_generation: Some(expected.observed_generation),
                last_transition_time,
            }
        })
        .collect()
}

#[cfg(test)]
#[path = "status_tests.rs"]
mod tests;
