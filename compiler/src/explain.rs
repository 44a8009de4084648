//! Explains a lookup: the winner, the candidates that lost and why.

use serde::Serialize;

use crate::{ObjectRef, RequestView, RouteTable};

/// Why a candidate did not win.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "camelCase")]
pub enum CandidateOutcome {
    /// This candidate won.
    Won,
    /// A condition failed, such as `method POST is not one of GET, HEAD`.
    NotMatched(String),
    /// It matched, but a higher-ranked candidate won.
    Outranked(String),
}

/// One match considered for the request.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Candidate {
    /// The Route.
    pub route: ObjectRef,
    /// Field path of the match, such as `spec.rules[0].matches[1]`.
    pub field: String,
    /// Route priority.
    pub priority: i32,
    /// Global rank; lower wins.
    pub rank: u32,
    /// The outcome.
    #[serde(flatten)]
    pub outcome: CandidateOutcome,
}

/// The explanation of one lookup.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Explanation {
    /// The winning candidate, when any.
    pub winner: Option<Candidate>,
    /// Every candidate for the request's host, in rank order.
    pub candidates: Vec<Candidate>,
    /// What the winner does: the backends with weights, or the direct
    /// response, as readable text.
    pub action: Option<String>,
}

impl RouteTable {
    /// Explains the lookup of `request`, without sending anything.
    pub fn explain(&self, request: &RequestView<'_>) -> Explanation {
        let _ = request;
        todo!("explain")
    }
}
