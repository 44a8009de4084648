//! Builds the served form of a rule from the IR: backends, direct
//! responses, header changes, rewrites and redirects.

use std::sync::{Arc, LazyLock};

use http::{HeaderName, StatusCode};
use portcullis_crds::route::{
    self as api, FilterType, HeaderModifier, PathMatchType, PathModifier, PathModifierType,
};

use crate::ObjectRef;
use crate::ir::{ActionIr, BackendIr, RuleIr, TargetIr};
use crate::table::{
    Action, Backend, Backends, DirectResponse, HeaderOps, PathRewrite, Redirect, Rewrite, Rule,
    Scheme, Target, Template,
};

/// The header changes of a rule that changes none.
static NO_HEADER_OPS: LazyLock<Arc<HeaderOps>> = LazyLock::new(Arc::default);

/// Builds one rule. Values that validation rejects (an unknown template
/// variable, an invalid header name) are dropped here, since an IR that
/// reaches this point was validated.
pub(crate) fn build_rule(
    object: &Arc<ObjectRef>,
    index: usize,
    rule: &RuleIr,
    variables: &[String],
) -> Rule {
    let mut built = Rule {
        route: Arc::clone(object),
        index,
        name: rule.name.as_deref().map(Arc::from),
        action: build_action(&rule.action, variables),
        fallback: rule
            .fallback
            .as_ref()
            .map(|action| build_action(action, variables)),
        request_headers: Arc::clone(&NO_HEADER_OPS),
        response_headers: Arc::clone(&NO_HEADER_OPS),
        rewrite: None,
        redirect: None,
    };
    let prefix_len = first_prefix_len(rule);
    for filter in &rule.filters {
        match filter.kind {
            FilterType::RequestHeaderModifier => {
                if let Some(modifier) = &filter.request_header_modifier {
                    built.request_headers = Arc::new(header_ops(modifier, variables));
                }
            }
            FilterType::ResponseHeaderModifier => {
                if let Some(modifier) = &filter.response_header_modifier {
                    built.response_headers = Arc::new(header_ops(modifier, variables));
                }
            }
            FilterType::UrlRewrite => {
                built.rewrite = filter.url_rewrite.as_ref().map(|rewrite| Rewrite {
                    hostname: rewrite.hostname.as_deref().map(|h| template(h, variables)),
                    path: rewrite
                        .path
                        .as_ref()
                        .map(|p| path_rewrite(p, variables, prefix_len)),
                });
            }
            FilterType::RequestRedirect => {
                built.redirect = filter
                    .request_redirect
                    .as_ref()
                    .map(|redirect| build_redirect(redirect, variables, prefix_len));
            }
        }
    }
    built
}

fn first_prefix_len(rule: &RuleIr) -> usize {
    match rule.matches.first().and_then(|m| m.path.as_ref()) {
        Some(path) if path.kind == PathMatchType::Prefix => path.value.trim_end_matches('/').len(),
        _ => 0,
    }
}

fn template(text: &str, variables: &[String]) -> Template {
    Template::parse(text, variables).unwrap_or_else(|_| Template::literal(text))
}

fn build_action(action: &ActionIr, variables: &[String]) -> Action {
    match action {
        ActionIr::Forward(backends) => Action::Forward(build_backends(backends)),
        ActionIr::Respond(direct) => Action::Respond(direct_response(direct, variables)),
    }
}

/// Keeps backends with a weight above zero, with running weight sums.
fn build_backends(backends: &[BackendIr]) -> Backends {
    let mut built = Backends {
        backends: Vec::with_capacity(backends.len()),
        cumulative: Vec::with_capacity(backends.len()),
    };
    let mut total = 0u64;
    for backend in backends.iter().filter(|b| b.weight > 0) {
        total += u64::from(backend.weight);
        built.backends.push(build_backend(backend));
        built.cumulative.push(total);
    }
    built
}

fn build_backend(backend: &BackendIr) -> Backend {
    let (target, display) = match &backend.target {
        TargetIr::Static { tls, authority } => {
            let authority: Arc<str> = authority.as_str().into();
            let (scheme, display) = if *tls {
                (Scheme::Https, format!("https://{authority}").into())
            } else {
                // A plain endpoint is displayed as its authority.
                (Scheme::Http, authority.clone())
            };
            (Target::Static { scheme, authority }, display)
        }
        TargetIr::Service {
            namespace,
            name,
            port,
            endpoints,
        } => {
            let endpoints: Vec<Arc<str>> =
                endpoints.iter().map(|e| Arc::from(e.as_str())).collect();
            let target = Target::Service {
                namespace: namespace.as_str().into(),
                name: name.as_str().into(),
                port: *port,
                endpoints: endpoints.into(),
            };
            (target, format!("{namespace}/{name}:{port}").into())
        }
    };
    Backend {
        target,
        weight: backend.weight,
        display,
    }
}

pub(crate) fn direct_response(
    direct: &api::DirectResponse,
    variables: &[String],
) -> DirectResponse {
    let status = direct
        .status
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::OK);
    DirectResponse {
        status,
        headers: header_values(&direct.headers, variables),
        body: template(direct.body.as_deref().unwrap_or_default(), variables),
    }
}

fn header_values(values: &[api::HeaderValue], variables: &[String]) -> Vec<(HeaderName, Template)> {
    values
        .iter()
        .filter_map(|header| {
            let name = HeaderName::from_bytes(header.name.as_bytes()).ok()?;
            Some((name, template(&header.value, variables)))
        })
        .collect()
}

fn header_ops(modifier: &HeaderModifier, variables: &[String]) -> HeaderOps {
    HeaderOps {
        set: header_values(&modifier.set, variables),
        add: header_values(&modifier.add, variables),
        remove: modifier
            .remove
            .iter()
            .filter_map(|name| HeaderName::from_bytes(name.as_bytes()).ok())
            .collect(),
    }
}

fn path_rewrite(path: &PathModifier, variables: &[String], prefix_len: usize) -> PathRewrite {
    let replacement = template(&path.value, variables);
    match path.kind {
        PathModifierType::ReplaceFullPath => PathRewrite::Full(replacement),
        PathModifierType::ReplacePrefixMatch => PathRewrite::Prefix {
            replacement,
            prefix_len,
        },
    }
}

fn build_redirect(
    redirect: &api::RequestRedirect,
    variables: &[String],
    prefix_len: usize,
) -> Redirect {
    let scheme = redirect.scheme.as_deref().map(|scheme| match scheme {
        "https" => Scheme::Https,
        _ => Scheme::Http,
    });
    let status = redirect
        .status_code
        .and_then(|code| StatusCode::from_u16(code).ok())
        .unwrap_or(StatusCode::FOUND);
    Redirect {
        scheme,
        hostname: redirect.hostname.as_deref().map(Arc::from),
        port: redirect.port,
        path: redirect
            .path
            .as_ref()
            .map(|p| path_rewrite(p, variables, prefix_len)),
        status,
    }
}
