use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use portcullis_compiler::{Diagnostic, FieldError, Finding, FindingKind, ObjectRef};

use super::*;

fn object(name: &str) -> ObjectRef {
    ObjectRef::new("Route", "shop", name)
}

fn ready(generation: i64) -> Computed {
    Computed::new(
        "Ready",
        "True",
        "Ready",
        "all 1 connected replicas run it".to_owned(),
        generation,
    )
}

fn find<'a>(conditions: &'a [Computed], type_: &str) -> &'a Computed {
    conditions
        .iter()
        .find(|condition| condition.type_ == type_)
        .unwrap_or_else(|| panic!("no {type_} in {conditions:?}"))
}

fn time(seconds: i64) -> Time {
    Time(Timestamp::from_second(seconds).expect("valid timestamp"))
}

#[test]
fn accepted_route_gets_four_true_conditions() {
    let diagnostic = Diagnostic::accepted(object("a"), Some(3));
    let conditions = route_conditions(3, Some(&diagnostic), true, ready(3));
    assert_eq!(conditions.len(), 4);
    for type_ in ["Accepted", "ResolvedRefs", "Programmed", "Ready"] {
        let condition = find(&conditions, type_);
        assert_eq!(condition.status, "True", "{type_}");
        assert_eq!(condition.observed_generation, 3, "{type_}");
    }
}

#[test]
fn rejected_route_lists_field_errors() {
    let error = FieldError::new(
        "spec.rules[0].matches[0].path.value",
        "InvalidRegex",
        "unclosed group; fix it",
    );
    let diagnostic = Diagnostic::rejected(object("a"), Some(2), vec![error]);
    let conditions = route_conditions(2, Some(&diagnostic), false, ready(2));
    let accepted = find(&conditions, "Accepted");
    assert_eq!(accepted.status, "False");
    assert_eq!(accepted.reason, "Invalid");
    assert!(
        accepted
            .message
            .contains("spec.rules[0].matches[0].path.value (InvalidRegex): unclosed group")
    );
    assert_eq!(find(&conditions, "Programmed").status, "False");
    assert_eq!(find(&conditions, "ResolvedRefs").status, "Unknown");
}

#[test]
fn unresolved_reference_uses_its_reason() {
    let mut diagnostic = Diagnostic::accepted(object("a"), Some(1));
    diagnostic.unresolved_refs = vec![
        FieldError::new(
            "spec.tls.certificateRefs[0]",
            "SecretNotFound",
            "Secret shop/tls not found",
        ),
        FieldError::new(
            "spec.rules[0].backends[0]",
            "BackendNotFound",
            "Service shop/web not found",
        ),
    ];
    let conditions = route_conditions(1, Some(&diagnostic), true, ready(1));
    let refs = find(&conditions, "ResolvedRefs");
    assert_eq!(refs.status, "False");
    assert_eq!(refs.reason, "SecretNotFound");
    assert!(refs.message.contains("Service shop/web not found"));
    assert_eq!(find(&conditions, "Accepted").status, "True");
}

#[test]
fn shadowed_finding_adds_condition() {
    let mut diagnostic = Diagnostic::accepted(object("loser"), Some(1));
    diagnostic.findings = vec![Finding {
        kind: FindingKind::Shadowed,
        field: "spec.rules[0].matches[0]".to_owned(),
        winner: object("winner"),
        winner_field: "spec.rules[0].matches[0]".to_owned(),
        message: "shadowed by Route/shop/winner".to_owned(),
    }];
    let conditions = route_conditions(1, Some(&diagnostic), true, ready(1));
    let shadowed = find(&conditions, "Shadowed");
    assert_eq!(shadowed.status, "True");
    assert_eq!(shadowed.reason, "ShadowedByRoute");
    assert!(shadowed.message.contains("Route/shop/winner"));
}

#[test]
fn long_message_is_truncated() {
    let long = "x".repeat(MAX_MESSAGE_BYTES * 2);
    let condition = Computed::new("Accepted", "False", "Invalid", long, 1);
    assert!(condition.message.len() < MAX_MESSAGE_BYTES + 20);
    assert!(condition.message.ends_with("[truncated]"));
}

#[test]
fn differs_ignores_transition_time_and_foreign_types() {
    let computed = vec![Computed::new(
        "Accepted",
        "True",
        "Accepted",
        "ok".to_owned(),
        1,
    )];
    let mut existing = merge(&[], &computed, &time(100));
    existing.push(Condition {
        type_: "Foreign".to_owned(),
        status: "True".to_owned(),
        reason: "Other".to_owned(),
        message: String::new(),
        observed_generation: None,
        last_transition_time: time(5),
    });
    assert!(!differs(&existing, &computed));
    existing[0].last_transition_time = time(200);
    assert!(!differs(&existing, &computed));
    existing[0].observed_generation = Some(2);
    assert!(differs(&existing, &computed));
}

#[test]
fn differs_when_condition_added_or_removed() {
    let one = vec![Computed::new(
        "Accepted",
        "True",
        "Accepted",
        "ok".to_owned(),
        1,
    )];
    let mut two = one.clone();
    two.push(Computed::new(
        "Shadowed",
        "True",
        "ShadowedByRoute",
        "by b".to_owned(),
        1,
    ));
    assert!(differs(&merge(&[], &one, &time(1)), &two));
    assert!(differs(&merge(&[], &two, &time(1)), &one));
}

#[test]
fn merge_keeps_transition_time_while_status_holds() {
    let before = vec![Computed::new(
        "Ready",
        "False",
        "Pending",
        "waiting".to_owned(),
        1,
    )];
    let existing = merge(&[], &before, &time(100));
    let same_status = vec![Computed::new(
        "Ready",
        "False",
        "Pending",
        "still waiting".to_owned(),
        2,
    )];
    let merged = merge(&existing, &same_status, &time(200));
    assert_eq!(merged[0].last_transition_time, time(100));
    let flipped = vec![Computed::new(
        "Ready",
        "True",
        "Ready",
        "done".to_owned(),
        2,
    )];
    let merged = merge(&existing, &flipped, &time(300));
    assert_eq!(merged[0].last_transition_time, time(300));
}
