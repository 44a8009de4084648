//! Checks a typed Route for everything the API server cannot: the CEL rules
//! of the CRD, patterns that must compile, templates, time zones, endpoint
//! syntax and cross-field rules.
//!
//! Every problem becomes a [`FieldError`] with the path of the field, so one
//! pass reports all of them.

mod actions;
mod field;
mod headers;
mod hostname;
mod matches;

use std::fmt::Display;

use portcullis_crds::route::{RouteRule, RouteSpec};

use crate::FieldError;
use crate::pattern::PatternCache;
pub(crate) use field::FieldPath;

pub(crate) use actions::parse_endpoint;
pub(crate) use matches::{parse_clock, rule_variables};

/// `spec.rules`, the parent of each rule's field path.
pub(crate) static RULES: FieldPath<'static> = FieldPath::Root("spec.rules");

/// `spec.hostnames`, the parent of each hostname's field path.
static HOSTNAMES: FieldPath<'static> = FieldPath::Root("spec.hostnames");

/// Collects field errors with the path of the field being checked.
pub(crate) struct Errors<'c> {
    errors: Vec<FieldError>,
    patterns: &'c mut PatternCache,
}

impl Errors<'_> {
    /// Records an error on `field`, a [`FieldPath`] or a literal path.
    fn push(&mut self, field: impl Display, reason: &str, message: impl Into<String>) {
        self.errors
            .push(FieldError::new(field.to_string(), reason, message));
    }
}

/// Checks a Route spec. Returns every problem found; empty when valid.
/// Compiled patterns go to `patterns` for the table build to reuse.
pub(crate) fn check_spec(spec: &RouteSpec, patterns: &mut PatternCache) -> Vec<FieldError> {
    let mut errors = Errors {
        errors: Vec::new(),
        patterns,
    };
    check_hostnames(&spec.hostnames, &mut errors);
    if spec.rules.is_empty() {
        errors.push(
            "spec.rules",
            "FieldRequired",
            "spec.rules must list at least one rule",
        );
    }
    if spec.rules.len() > 64 {
        errors.push(
            "spec.rules",
            "TooMany",
            "spec.rules has more than 64 rules; split the Route",
        );
    }
    for (index, rule) in spec.rules.iter().enumerate() {
        check_rule(rule, &RULES.item(index), &mut errors);
    }
    if let Some(tls) = &spec.tls
        && tls.certificate_refs.is_empty()
    {
        errors.push(
            "spec.tls.certificateRefs",
            "FieldRequired",
            "spec.tls.certificateRefs must list at least one Secret",
        );
    }
    errors.errors
}

fn check_hostnames(hostnames: &[String], errors: &mut Errors<'_>) {
    let mut seen: Vec<String> = Vec::with_capacity(hostnames.len());
    for (index, hostname) in hostnames.iter().enumerate() {
        let field = HOSTNAMES.item(index);
        if !hostname::is_valid_hostname(hostname) {
            errors.push(
                field,
                "InvalidHostname",
                format!("hostname {hostname:?} is invalid; use DNS labels such as a.example.com, optionally starting with '*.'"),
            );
            continue;
        }
        let lower = hostname.to_ascii_lowercase();
        if seen.contains(&lower) {
            errors.push(
                field,
                "DuplicateHostname",
                format!("hostname {hostname:?} is listed twice; remove the repeat"),
            );
        }
        seen.push(lower);
    }
}

fn check_rule(rule: &RouteRule, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    let variables = matches::check_matches(&rule.matches, field, errors);
    actions::check_action(
        rule.backends.as_deref(),
        rule.direct_response.as_ref(),
        field,
        &variables,
        errors,
    );
    if let Some(fallback) = &rule.fallback {
        let fallback_field = field.child("fallback");
        actions::check_action(
            fallback.backends.as_deref(),
            fallback.direct_response.as_ref(),
            &fallback_field,
            &variables,
            errors,
        );
    }
    actions::check_filters(rule, field, &variables, errors);
}
