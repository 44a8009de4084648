//! Checks of rule matches: paths, headers, query parameters, geography,
//! GraphQL and time windows.

use std::borrow::Cow;

use portcullis_crds::route::{
    GraphqlMatch, HeaderMatch, HeaderMatchType, PathMatchType, QueryMatchType, QueryParamMatch,
    RouteMatch, TimeWindow,
};

use super::{Errors, FieldPath};
use crate::pattern::PatternCache;

/// Checks every match of a rule. Returns the template variables bound by
/// every match, which the rule's filters may use.
pub(super) fn check_matches(
    matches: &[RouteMatch],
    rule_field: &FieldPath<'_>,
    errors: &mut Errors<'_>,
) -> Vec<String> {
    if matches.len() > 16 {
        errors.push(
            rule_field.child("matches"),
            "TooMany",
            "a rule takes at most 16 matches; split the rule",
        );
    }
    for (index, route_match) in matches.iter().enumerate() {
        check_match(
            route_match,
            &rule_field.child("matches").item(index),
            errors,
        );
    }
    rule_variables(matches, errors.patterns)
}

/// Lists the template variables bound by every match of a rule, in the
/// order of the first match. Returns none when a match is not a valid
/// Template.
pub(crate) fn rule_variables(matches: &[RouteMatch], patterns: &PatternCache) -> Vec<String> {
    let Some((first, others)) = matches.split_first() else {
        return Vec::new();
    };
    let Some(first) = template_of(first) else {
        return Vec::new();
    };
    let mut variables = patterns
        .template_variables(first)
        .map(Cow::into_owned)
        .unwrap_or_default();
    for other in others {
        if variables.is_empty() {
            break;
        }
        let theirs = template_of(other).and_then(|value| patterns.template_variables(value));
        let Some(theirs) = theirs else {
            return Vec::new();
        };
        variables.retain(|name| theirs.contains(name));
    }
    variables
}

fn template_of(route_match: &RouteMatch) -> Option<&str> {
    route_match
        .path
        .as_ref()
        .filter(|path| path.kind == PathMatchType::Template)
        .map(|path| path.value.as_str())
}

fn check_match(route_match: &RouteMatch, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if let Some(path) = &route_match.path {
        let path_field = field.child("path");
        let value_field = path_field.child("value");
        if path.value.is_empty() || path.value.len() > 1024 {
            errors.push(
                value_field,
                "InvalidPath",
                "path value must be 1 to 1024 characters long",
            );
        } else if let Err(error) = errors.patterns.check_path(path.kind, &path.value) {
            errors.push(value_field, error.reason, error.message);
        }
    }
    for (index, header) in route_match.headers.iter().enumerate() {
        check_header(header, &field.child("headers").item(index), errors);
    }
    for (index, param) in route_match.query_params.iter().enumerate() {
        check_query(param, &field.child("queryParams").item(index), errors);
    }
    if let Some(geo) = &route_match.geo {
        check_countries(
            &geo.countries,
            &field.child("geo").child("countries"),
            errors,
        );
    }
    if let Some(graphql) = &route_match.graphql {
        check_graphql(graphql, &field.child("graphql"), errors);
    }
    if let Some(window) = &route_match.time_window {
        check_time_window(window, &field.child("timeWindow"), errors);
    }
}

fn check_header(header: &HeaderMatch, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if http::HeaderName::from_bytes(header.name.as_bytes()).is_err() {
        errors.push(
            field.child("name"),
            "InvalidHeaderName",
            format!(
                "header name {:?} is not a valid HTTP header name",
                header.name
            ),
        );
    }
    let needs_value = matches!(header.kind, HeaderMatchType::Exact | HeaderMatchType::Regex);
    check_value_presence(header.value.as_deref(), needs_value, field, errors);
    if let (HeaderMatchType::Regex, Some(value)) = (header.kind, &header.value)
        && let Err(error) = errors.patterns.regex(value)
    {
        errors.push(field.child("value"), error.reason, error.message);
    }
}

fn check_query(param: &QueryParamMatch, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if param.name.is_empty() {
        errors.push(
            field.child("name"),
            "FieldRequired",
            "query parameter name must not be empty",
        );
    }
    let needs_value = param.kind != QueryMatchType::Present;
    check_value_presence(param.value.as_deref(), needs_value, field, errors);
    if let (QueryMatchType::Regex, Some(value)) = (param.kind, &param.value)
        && let Err(error) = errors.patterns.regex(value)
    {
        errors.push(field.child("value"), error.reason, error.message);
    }
}

fn check_value_presence(
    value: Option<&str>,
    needs_value: bool,
    field: &FieldPath<'_>,
    errors: &mut Errors<'_>,
) {
    let value_field = field.child("value");
    match (needs_value, value) {
        (true, None) => errors.push(
            value_field,
            "FieldRequired",
            "value is required for Exact and Regex matches; add it",
        ),
        (false, Some(_)) => errors.push(
            value_field,
            "FieldNotAllowed",
            "value is not allowed for Present and Absent matches; remove it",
        ),
        _ => {}
    }
}

fn check_countries(countries: &[String], field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if countries.is_empty() {
        errors.push(
            field,
            "FieldRequired",
            "geo.countries must list at least one country code",
        );
    }
    for (index, country) in countries.iter().enumerate() {
        let valid = country.len() == 2 && country.bytes().all(|b| b.is_ascii_uppercase());
        if !valid {
            errors.push(
                field.item(index),
                "InvalidCountry",
                format!("country {country:?} is not an ISO 3166-1 alpha-2 code; use two uppercase letters such as DE"),
            );
        }
    }
}

fn check_graphql(graphql: &GraphqlMatch, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if graphql.operation_name.is_none() && graphql.operation_type.is_none() {
        errors.push(
            field,
            "FieldRequired",
            "set operationName, operationType or both",
        );
    }
    if let Some(name) = &graphql.operation_name
        && !crate::pattern::is_identifier(name)
    {
        errors.push(
            field.child("operationName"),
            "InvalidFormat",
            format!("operation name {name:?} is not a GraphQL name"),
        );
    }
}

fn check_time_window(window: &TimeWindow, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if parse_clock(&window.start).is_none_or(|minutes| minutes >= 24 * 60) {
        errors.push(
            field.child("start"),
            "InvalidTime",
            format!(
                "start {:?} is not a time HH:MM from 00:00 to 23:59",
                window.start
            ),
        );
    }
    if parse_clock(&window.end).is_none() {
        errors.push(
            field.child("end"),
            "InvalidTime",
            format!(
                "end {:?} is not a time HH:MM from 00:00 to 24:00",
                window.end
            ),
        );
    }
    if let Some(zone) = &window.time_zone
        && jiff::tz::TimeZone::get(zone).is_err()
    {
        errors.push(
            field.child("timeZone"),
            "InvalidTimeZone",
            format!(
                "time zone {zone:?} is not in the IANA database; use a name such as Europe/Berlin"
            ),
        );
    }
}

/// Parses `HH:MM` (24-hour, `24:00` allowed) into minutes after midnight.
pub(crate) fn parse_clock(text: &str) -> Option<u16> {
    let (hours, minutes) = text.split_once(':')?;
    if hours.len() != 2 || minutes.len() != 2 {
        return None;
    }
    let hours: u16 = hours.parse().ok()?;
    let minutes: u16 = minutes.parse().ok()?;
    let valid = (hours < 24 && minutes < 60) || (hours == 24 && minutes == 0);
    valid.then_some(hours * 60 + minutes)
}
