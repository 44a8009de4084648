//! Checks of what a rule does: backends, direct responses and filters.

use std::borrow::Cow;

use portcullis_crds::route::{
    Backend, DirectResponse, Filter, FilterType, HeaderModifier, PathMatchType, PathModifier,
    PathModifierType, RouteRule,
};

use super::headers::{Side, check_header_values};
use super::hostname::is_valid_hostname;
use super::{Errors, FieldPath};
use crate::Template;

/// Checks that exactly one of backends and a direct response is set, and
/// each of them.
pub(super) fn check_action(
    backends: Option<&[Backend]>,
    direct: Option<&DirectResponse>,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    match (backends, direct) {
        (Some(_), Some(_)) | (None, None) => errors.push(
            field,
            "ConflictingFields",
            "set exactly one of backends and directResponse",
        ),
        _ => {}
    }
    if let Some(backends) = backends {
        check_backends(backends, &field.child("backends"), errors);
    }
    if let Some(direct) = direct {
        check_direct_response(direct, &field.child("directResponse"), variables, errors);
    }
}

fn check_backends(backends: &[Backend], field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if backends.is_empty() || backends.len() > 16 {
        errors.push(field, "InvalidCount", "backends must list 1 to 16 backends");
    }
    if !backends.is_empty() && backends.iter().all(|b| b.weight == Some(0)) {
        errors.push(
            field,
            "NoWeight",
            "at least one backend needs a weight above 0",
        );
    }
    for (index, backend) in backends.iter().enumerate() {
        check_backend(backend, &field.item(index), errors);
    }
}

fn check_backend(backend: &Backend, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    match (&backend.name, &backend.endpoint) {
        (Some(_), Some(_)) | (None, None) => errors.push(
            field,
            "ConflictingFields",
            "set exactly one of name (a Service) and endpoint (a static address)",
        ),
        (Some(_), None) if backend.port.is_none() => errors.push(
            field.child("port"),
            "FieldRequired",
            "port is required with a Service name",
        ),
        (None, Some(endpoint)) => {
            if backend.port.is_some() || backend.namespace.is_some() {
                errors.push(
                    field,
                    "ConflictingFields",
                    "port and namespace apply only to a Service backend; put the port in endpoint",
                );
            }
            if let Err(message) = parse_endpoint(endpoint) {
                errors.push(field.child("endpoint"), "InvalidEndpoint", message);
            }
        }
        _ => {}
    }
    if backend.port == Some(0) {
        errors.push(field.child("port"), "OutOfRange", "port must be 1 to 65535");
    }
    if backend.weight.is_some_and(|weight| weight > 1_000_000) {
        errors.push(
            field.child("weight"),
            "OutOfRange",
            "weight must be 0 to 1000000",
        );
    }
}

/// Parses a static endpoint, `host:port` or `http(s)://host[:port]`, into
/// whether it uses TLS and its `host:port` authority. The authority is
/// borrowed from `endpoint` when it is already written that way.
///
/// # Errors
/// Returns a message naming the problem and the expected form.
pub(crate) fn parse_endpoint(endpoint: &str) -> Result<(bool, Cow<'_, str>), String> {
    let (tls, rest, default_port) = if let Some(rest) = endpoint.strip_prefix("https://") {
        (true, rest, Some(443))
    } else if let Some(rest) = endpoint.strip_prefix("http://") {
        (false, rest, Some(80))
    } else {
        (false, endpoint, None)
    };
    let authority = rest.strip_suffix('/').unwrap_or(rest);
    let expected = "use host:port, http://host:port or https://host:port";
    if authority.is_empty() || authority.contains(['/', '?', '#', '@', ' ']) {
        return Err(format!(
            "endpoint {endpoint:?} is not an address; {expected}"
        ));
    }
    let (host, port_text) = split_host_port(authority);
    let port = match (port_text, default_port) {
        (Some(port), _) => port
            .parse::<u16>()
            .ok()
            .filter(|port| *port > 0)
            .ok_or_else(|| format!("endpoint {endpoint:?} has an invalid port; use 1 to 65535"))?,
        (None, Some(default)) => default,
        (None, None) => return Err(format!("endpoint {endpoint:?} has no port; {expected}")),
    };
    let bracketed = host.starts_with('[') && host.ends_with(']');
    if host.is_empty() || (!bracketed && host.contains([':', '[', ']'])) {
        return Err(format!(
            "endpoint {endpoint:?} has an invalid host; {expected}"
        ));
    }
    // A port written in digits without a leading zero reads back the same.
    let canonical = port_text.is_some_and(|text| {
        !text.starts_with('0') && text.bytes().all(|byte| byte.is_ascii_digit())
    });
    if canonical {
        return Ok((tls, Cow::Borrowed(authority)));
    }
    Ok((tls, Cow::Owned(format!("{host}:{port}"))))
}

/// Splits `host:port`, keeping IPv6 brackets on the host.
fn split_host_port(authority: &str) -> (&str, Option<&str>) {
    if authority.starts_with('[') {
        return match authority.find(']') {
            Some(end) => {
                let port = authority[end + 1..].strip_prefix(':');
                (&authority[..=end], port)
            }
            None => (authority, None),
        };
    }
    match authority.rsplit_once(':') {
        Some((host, port)) => (host, Some(port)),
        None => (authority, None),
    }
}

fn check_direct_response(
    direct: &DirectResponse,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    if direct
        .status
        .is_some_and(|status| !(200..=599).contains(&status))
    {
        errors.push(
            field.child("status"),
            "OutOfRange",
            "status must be 200 to 599",
        );
    }
    check_header_values(
        &direct.headers,
        Side::Response,
        &field.child("headers"),
        variables,
        errors,
    );
    if let Some(body) = &direct.body
        && let Err(message) = Template::parse(body, variables)
    {
        errors.push(field.child("body"), "InvalidTemplate", message);
    }
}

/// Checks filters: the field named by `type` is set, each type appears at
/// most once, URLRewrite and RequestRedirect exclude each other, and
/// templates use only the rule's variables.
pub(super) fn check_filters(
    rule: &RouteRule,
    rule_field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    let mut seen: Vec<FilterType> = Vec::new();
    let filters = rule_field.child("filters");
    for (index, filter) in rule.filters.iter().enumerate() {
        let field = filters.item(index);
        if seen.contains(&filter.kind) {
            errors.push(
                field,
                "DuplicateFilter",
                format!(
                    "filter type {:?} appears twice; merge them into one",
                    filter.kind
                ),
            );
        }
        seen.push(filter.kind);
        check_filter(filter, rule, &field, variables, errors);
    }
    if seen.contains(&FilterType::UrlRewrite) && seen.contains(&FilterType::RequestRedirect) {
        errors.push(
            rule_field.child("filters"),
            "ConflictingFilters",
            "URLRewrite and RequestRedirect cannot be used together; a redirect is not forwarded",
        );
    }
}

fn check_filter(
    filter: &Filter,
    rule: &RouteRule,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    let set = [
        (
            FilterType::RequestHeaderModifier,
            "requestHeaderModifier",
            filter.request_header_modifier.is_some(),
        ),
        (
            FilterType::ResponseHeaderModifier,
            "responseHeaderModifier",
            filter.response_header_modifier.is_some(),
        ),
        (
            FilterType::UrlRewrite,
            "urlRewrite",
            filter.url_rewrite.is_some(),
        ),
        (
            FilterType::RequestRedirect,
            "requestRedirect",
            filter.request_redirect.is_some(),
        ),
    ];
    for (kind, name, present) in set {
        if (kind == filter.kind) != present {
            errors.push(
                field.child(name),
                "ConflictingFields",
                format!("{name} must be set exactly when type is {kind:?}"),
            );
        }
    }
    if let Some(modifier) = &filter.request_header_modifier {
        check_modifier(
            modifier,
            Side::Request,
            &field.child("requestHeaderModifier"),
            variables,
            errors,
        );
    }
    if let Some(modifier) = &filter.response_header_modifier {
        check_modifier(
            modifier,
            Side::Response,
            &field.child("responseHeaderModifier"),
            variables,
            errors,
        );
    }
    if let Some(rewrite) = &filter.url_rewrite {
        let field = field.child("urlRewrite");
        if let Some(hostname) = &rewrite.hostname {
            check_rewrite_hostname(hostname, &field.child("hostname"), variables, errors);
        }
        if let Some(path) = &rewrite.path {
            check_path_modifier(path, rule, &field.child("path"), variables, errors);
        }
    }
    if let Some(redirect) = &filter.request_redirect {
        let field = field.child("requestRedirect");
        if redirect
            .scheme
            .as_deref()
            .is_some_and(|s| s != "http" && s != "https")
        {
            errors.push(
                field.child("scheme"),
                "NotSupported",
                "scheme must be http or https",
            );
        }
        if redirect
            .status_code
            .is_some_and(|code| ![301, 302, 303, 307, 308].contains(&code))
        {
            errors.push(
                field.child("statusCode"),
                "NotSupported",
                "statusCode must be 301, 302, 303, 307 or 308",
            );
        }
        if let Some(hostname) = &redirect.hostname {
            check_redirect_hostname(hostname, &field.child("hostname"), errors);
        }
        if redirect.port == Some(0) {
            errors.push(field.child("port"), "OutOfRange", "port must be 1 to 65535");
        }
        if let Some(path) = &redirect.path {
            check_path_modifier(path, rule, &field.child("path"), variables, errors);
        }
    }
}

/// Checks a URLRewrite hostname. Template variables are filled in per
/// request, so only the literal text around them is checked here.
fn check_rewrite_hostname(
    hostname: &str,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    let template = match Template::parse(hostname, variables) {
        Ok(template) => template,
        Err(message) => return errors.push(field, "InvalidTemplate", message),
    };
    let valid = if template.is_literal() {
        is_valid_hostname(hostname) && !hostname.starts_with('*')
    } else {
        // NOTE: a captured value is not checked here, so a variable can
        // still fill in text that is not a DNS label.
        template
            .literal_text()
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.')
    };
    if !valid {
        errors.push(
            field,
            "InvalidHostname",
            format!("rewrite hostname {hostname:?} is invalid; use DNS labels such as backend.example.com, optionally with template variables"),
        );
    }
}

/// Checks a RequestRedirect hostname. The redirect writes it into the
/// `location` header as is, so it must be a plain DNS name with no
/// wildcard and no template variable.
fn check_redirect_hostname(hostname: &str, field: &FieldPath<'_>, errors: &mut Errors<'_>) {
    if !is_valid_hostname(hostname) || hostname.starts_with('*') {
        errors.push(
            field,
            "InvalidHostname",
            format!("redirect hostname {hostname:?} is invalid; use DNS labels such as www.example.com, without wildcards or template variables"),
        );
    }
}

fn check_modifier(
    modifier: &HeaderModifier,
    side: Side,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    check_header_values(&modifier.set, side, &field.child("set"), variables, errors);
    check_header_values(&modifier.add, side, &field.child("add"), variables, errors);
    for (index, name) in modifier.remove.iter().enumerate() {
        if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
            errors.push(
                field.child("remove").item(index),
                "InvalidHeaderName",
                format!("{name:?} is not a valid HTTP header name"),
            );
        }
    }
}

fn check_path_modifier(
    path: &PathModifier,
    rule: &RouteRule,
    field: &FieldPath<'_>,
    variables: &[String],
    errors: &mut Errors<'_>,
) {
    if !path.value.starts_with('/') {
        errors.push(
            field.child("value"),
            "InvalidPath",
            "replacement path must start with '/'",
        );
    }
    if let Err(message) = Template::parse(&path.value, variables) {
        errors.push(field.child("value"), "InvalidTemplate", message);
    }
    let all_prefix = rule.matches.iter().all(|m| {
        m.path
            .as_ref()
            .is_none_or(|p| p.kind == PathMatchType::Prefix)
    });
    if path.kind == PathModifierType::ReplacePrefixMatch && !all_prefix {
        errors.push(
            field.child("type"),
            "InvalidFilter",
            "ReplacePrefixMatch needs every match of the rule to use a Prefix path; use ReplaceFullPath",
        );
    }
}

#[cfg(test)]
mod tests {
    use super::parse_endpoint;

    #[test]
    fn endpoint_forms_parse() {
        let parse = |endpoint| parse_endpoint(endpoint).map(|(tls, a)| (tls, a.into_owned()));
        assert_eq!(
            parse("10.0.0.1:8080"),
            Ok((false, "10.0.0.1:8080".to_owned()))
        );
        assert_eq!(
            parse("https://api.example.com"),
            Ok((true, "api.example.com:443".to_owned()))
        );
        assert_eq!(
            parse("http://[::1]:9000/"),
            Ok((false, "[::1]:9000".to_owned()))
        );
        assert_eq!(
            parse("a.example:08080"),
            Ok((false, "a.example:8080".to_owned()))
        );
        assert!(parse_endpoint("example.com").is_err());
        assert!(parse_endpoint("example.com:0").is_err());
        assert!(parse_endpoint("http://a/b").is_err());
        assert!(parse_endpoint("::1:80").is_err());
    }
}
