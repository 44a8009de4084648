//! Explanations list every candidate with its outcome and reason.

mod common;

use common::{Request, compile_yaml, route};
use portcullis_compiler::{CandidateOutcome, GraphqlInfo};

#[test]
fn explain_lists_losers_with_reasons() {
    let yaml = [
        route("v1", "rules:\n- matches: [{path: {value: /v1}}]\n  backends: [{endpoint: \"10.0.0.1:80\", weight: 3}, {endpoint: \"https://b.example.com\"}]"),
        route("reads", "rules:\n- matches: [{path: {value: /v2}, methods: [GET, HEAD]}]\n  backends: [{endpoint: \"a:1\"}]"),
        route("tier", "rules:\n- matches: [{path: {value: /v2}, headers: [{name: X-Tier, value: gold}]}]\n  backends: [{endpoint: \"a:1\"}]"),
        route("geo", "rules:\n- matches: [{path: {value: /v2}, geo: {countries: [US, CA]}}]\n  backends: [{endpoint: \"a:1\"}]"),
        route("fallback", "rules:\n- directResponse: {status: 418, body: teapot}"),
        route("also", "rules:\n- matches: [{path: {value: /v2/x}}]\n  directResponse: {status: 200}"),
    ]
    .concat();
    let compiled = compile_yaml(&yaml);
    let request = Request::new("POST", "h", "/v2/x").country("DE");
    let explanation = compiled
        .snapshot
        .table()
        .explain(&request.view(GraphqlInfo::NotRead));
    let outcome_of = |name: &str| {
        explanation
            .candidates
            .iter()
            .find(|c| c.route.name == name)
            .map(|c| c.outcome.clone())
            .expect("candidate listed")
    };
    let winner = explanation.winner.as_ref().expect("a route wins");
    assert_eq!(winner.route.name, "also");
    assert_eq!(
        outcome_of("v1"),
        CandidateOutcome::NotMatched("path /v2/x does not match Prefix /v1".into())
    );
    assert_eq!(
        outcome_of("reads"),
        CandidateOutcome::NotMatched("method POST is not one of GET, HEAD".into())
    );
    assert_eq!(
        outcome_of("tier"),
        CandidateOutcome::NotMatched("header x-tier is absent".into())
    );
    assert_eq!(
        outcome_of("geo"),
        CandidateOutcome::NotMatched("country DE is not one of US, CA".into())
    );
    assert_eq!(
        outcome_of("fallback"),
        CandidateOutcome::Outranked(
            "outranked by Route/default/also spec.rules[0].matches[0] (rank 0)".into()
        )
    );
    assert_eq!(
        explanation.action.as_deref(),
        Some("respond 200 with an empty body")
    );
    let ranks: Vec<u32> = explanation.candidates.iter().map(|c| c.rank).collect();
    assert!(
        ranks.windows(2).all(|w| w[0] < w[1]),
        "candidates in rank order: {ranks:?}"
    );

    let forward = Request::new("GET", "h", "/v1/a");
    let explanation = compiled
        .snapshot
        .table()
        .explain(&forward.view(GraphqlInfo::NotRead));
    assert_eq!(
        explanation.action.as_deref(),
        Some("forward to 10.0.0.1:80 (weight 3), https://b.example.com:443 (weight 1)")
    );
    let json = serde_json::to_value(&explanation).expect("explanation serializes");
    assert_eq!(json["winner"]["outcome"], "won");
    assert_eq!(json["winner"]["route"]["name"], "v1");
}

#[test]
fn explain_without_match_has_no_winner() {
    let compiled = compile_yaml(&route(
        "r",
        "hostnames: [a.example.com]\nrules:\n- backends: [{endpoint: \"a:1\"}]",
    ));
    let request = Request::new("GET", "b.example.com", "/");
    let explanation = compiled
        .snapshot
        .table()
        .explain(&request.view(GraphqlInfo::NotRead));
    assert!(explanation.winner.is_none());
    assert!(explanation.candidates.is_empty());
    assert!(explanation.action.is_none());
}
