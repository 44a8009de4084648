//! Rule filters: header modifiers, URL rewrites, redirects and direct
//! responses. Template values are rendered with the path-match captures.

use std::fmt::Write as _;

use http::{HeaderMap, HeaderValue, Response, StatusCode, header};
use portcullis_compiler::Captures;
use portcullis_compiler::table::{
    DirectResponse, HeaderOps, PathRewrite, Redirect, Scheme, Template,
};

use super::body::{ProxyBody, empty, full};

/// Template context: the normalized path the table matched and the spans
/// it captured.
#[derive(Clone, Copy, Debug)]
pub struct Render<'a> {
    /// Normalized request path.
    pub path: &'a str,
    /// Template captures within `path`.
    pub captures: &'a Captures,
    /// Bytes of `path` matched by a `Prefix` path match.
    pub prefix_len: usize,
}

// === impl Render ===

impl Render<'_> {
    /// Renders `template` into a new string.
    pub fn render(&self, template: &Template) -> String {
        let mut out = String::new();
        template.render_into(self.captures, self.path, &mut out);
        out
    }

    fn header_value(&self, template: &Template) -> Option<HeaderValue> {
        let text = self.render(template);
        match HeaderValue::from_str(&text) {
            Ok(value) => Some(value),
            Err(_) => {
                tracing::debug!("rendered header value is not valid; skipped");
                None
            }
        }
    }

    /// Returns the path after `rewrite`.
    pub fn rewrite_path(&self, rewrite: &PathRewrite) -> String {
        match rewrite {
            PathRewrite::Full(template) => ensure_leading_slash(self.render(template)),
            PathRewrite::Prefix { replacement, .. } => {
                let rest = self.path.get(self.prefix_len..).unwrap_or_default();
                replace_prefix(self.render(replacement), rest)
            }
        }
    }
}

fn ensure_leading_slash(path: String) -> String {
    if path.starts_with('/') {
        path
    } else {
        format!("/{path}")
    }
}

/// Joins a prefix replacement and the unmatched rest with exactly one `/`
/// between them, so replacing `/api` with `/` turns `/api/x` into `/x`.
fn replace_prefix(replacement: String, rest: &str) -> String {
    let mut out = ensure_leading_slash(replacement);
    if rest.is_empty() {
        return out;
    }
    let rest = rest.strip_prefix('/').unwrap_or(rest);
    if !out.ends_with('/') {
        out.push('/');
    }
    out.push_str(rest);
    out
}

/// Applies `ops` in order: remove, set, add.
pub fn apply_header_ops(headers: &mut HeaderMap, ops: &HeaderOps, render: &Render<'_>) {
    if ops.is_empty() {
        return;
    }
    for name in &ops.remove {
        headers.remove(name);
    }
    for (name, template) in &ops.set {
        if let Some(value) = render.header_value(template) {
            headers.insert(name.clone(), value);
        }
    }
    for (name, template) in &ops.add {
        if let Some(value) = render.header_value(template) {
            headers.append(name.clone(), value);
        }
    }
}

/// Builds a direct response with rendered headers and body.
pub fn direct_response(direct: &DirectResponse, render: &Render<'_>) -> Response<ProxyBody> {
    let body = render.render(&direct.body);
    let mut response = Response::new(if body.is_empty() { empty() } else { full(body) });
    *response.status_mut() = direct.status;
    for (name, template) in &direct.headers {
        if let Some(value) = render.header_value(template) {
            response.headers_mut().append(name.clone(), value);
        }
    }
    response
}

/// The request as the client addressed it, for building a `Location`.
#[derive(Clone, Copy, Debug)]
pub struct Origin<'a> {
    /// Whether the request came over TLS.
    pub tls: bool,
    /// Host without the port.
    pub hostname: &'a str,
    /// Port the client named in Host, when any.
    pub port: Option<u16>,
    /// Raw query, without `?`.
    pub query: Option<&'a str>,
}

/// Builds a redirect response with its `Location`.
pub fn redirect(
    redirect: &Redirect,
    origin: &Origin<'_>,
    render: &Render<'_>,
) -> Response<ProxyBody> {
    let location = redirect_location(redirect, origin, render);
    let mut response = Response::new(empty());
    *response.status_mut() = redirect.status;
    match HeaderValue::from_str(&location) {
        Ok(value) => {
            response.headers_mut().insert(header::LOCATION, value);
        }
        Err(_) => {
            tracing::debug!("redirect location is not a valid header value");
            *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
        }
    }
    response
}

/// `scheme://host[:port]path[?query]`. The port is kept from the request
/// unless the redirect sets one or changes the scheme, and a port that is
/// the scheme's default is left out.
pub fn redirect_location(redirect: &Redirect, origin: &Origin<'_>, render: &Render<'_>) -> String {
    let origin_scheme = if origin.tls {
        Scheme::Https
    } else {
        Scheme::Http
    };
    let scheme = redirect.scheme.unwrap_or(origin_scheme);
    let hostname = redirect.hostname.as_deref().unwrap_or(origin.hostname);
    let port = match (redirect.port, redirect.scheme) {
        (Some(port), _) => Some(port),
        (None, Some(changed)) if changed != origin_scheme => None,
        (None, _) => origin.port,
    };
    let (scheme_text, default_port) = match scheme {
        Scheme::Http => ("http", 80),
        Scheme::Https => ("https", 443),
    };

    let mut location = format!("{scheme_text}://{hostname}");
    if let Some(port) = port.filter(|&port| port != default_port) {
        let _ = write!(location, ":{port}");
    }
    match &redirect.path {
        Some(rewrite) => location.push_str(&render.rewrite_path(rewrite)),
        None => location.push_str(render.path),
    }
    if let Some(query) = origin.query {
        location.push('?');
        location.push_str(query);
    }
    location
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use http::HeaderName;

    use super::*;

    fn render<'a>(path: &'a str, captures: &'a Captures, prefix_len: usize) -> Render<'a> {
        Render {
            path,
            captures,
            prefix_len,
        }
    }

    fn origin(tls: bool, port: Option<u16>, query: Option<&'static str>) -> Origin<'static> {
        Origin {
            tls,
            hostname: "a.example.com",
            port,
            query,
        }
    }

    fn redirect_to(scheme: Option<Scheme>, port: Option<u16>) -> Redirect {
        Redirect {
            scheme,
            hostname: None,
            port,
            path: None,
            status: StatusCode::MOVED_PERMANENTLY,
        }
    }

    #[test]
    fn prefix_replacement_keeps_one_slash() {
        assert_eq!(replace_prefix("/".into(), "/x"), "/x");
        assert_eq!(replace_prefix("/v2".into(), "/x"), "/v2/x");
        assert_eq!(replace_prefix("/v2/".into(), "/x/y"), "/v2/x/y");
        assert_eq!(replace_prefix("/v2".into(), ""), "/v2");
        assert_eq!(replace_prefix("".into(), ""), "/");
    }

    #[test]
    fn prefix_rewrite_uses_matched_length() {
        let captures = Captures::default();
        let rewrite = PathRewrite::Prefix {
            replacement: Template::literal("/internal"),
            prefix_len: 4,
        };
        let path = render("/api/users", &captures, 4).rewrite_path(&rewrite);
        assert_eq!(path, "/internal/users");
    }

    #[test]
    fn full_rewrite_renders_captures() {
        let mut captures = Captures::default();
        captures.push(7, 9);
        let rewrite = PathRewrite::Full(Template::literal("/static"));
        let path = render("/users/42", &captures, 0).rewrite_path(&rewrite);
        assert_eq!(path, "/static");
    }

    #[test]
    fn header_ops_remove_then_set_then_add() {
        let captures = Captures::default();
        let mut headers = HeaderMap::new();
        headers.insert("x-drop", HeaderValue::from_static("1"));
        headers.insert("x-set", HeaderValue::from_static("old"));
        let ops = HeaderOps {
            set: vec![(HeaderName::from_static("x-set"), Template::literal("new"))],
            add: vec![(HeaderName::from_static("x-set"), Template::literal("extra"))],
            remove: vec![HeaderName::from_static("x-drop")],
        };
        apply_header_ops(&mut headers, &ops, &render("/", &captures, 0));
        assert!(!headers.contains_key("x-drop"));
        let values: Vec<_> = headers.get_all("x-set").iter().collect();
        assert_eq!(values, ["new", "extra"]);
    }

    #[test]
    fn redirect_keeps_port_and_query() {
        let captures = Captures::default();
        let location = redirect_location(
            &redirect_to(None, None),
            &origin(false, Some(8080), Some("a=1")),
            &render("/x", &captures, 0),
        );
        assert_eq!(location, "http://a.example.com:8080/x?a=1");
    }

    #[test]
    fn scheme_change_drops_request_port() {
        let captures = Captures::default();
        let location = redirect_location(
            &redirect_to(Some(Scheme::Https), None),
            &origin(false, Some(8080), None),
            &render("/x", &captures, 0),
        );
        assert_eq!(location, "https://a.example.com/x");
    }

    #[test]
    fn default_port_is_omitted() {
        let captures = Captures::default();
        let mut to = redirect_to(Some(Scheme::Https), Some(443));
        to.hostname = Some(Arc::from("b.example.com"));
        to.path = Some(PathRewrite::Full(Template::literal("/new")));
        let location =
            redirect_location(&to, &origin(false, None, None), &render("/x", &captures, 0));
        assert_eq!(location, "https://b.example.com/new");
    }

    #[test]
    fn direct_response_sets_status_headers_body() {
        let captures = Captures::default();
        let direct = DirectResponse {
            status: StatusCode::IM_A_TEAPOT,
            headers: vec![(
                HeaderName::from_static("content-type"),
                Template::literal("text/plain"),
            )],
            body: Template::literal("short and stout"),
        };
        let response = direct_response(&direct, &render("/", &captures, 0));
        assert_eq!(response.status(), StatusCode::IM_A_TEAPOT);
        assert_eq!(response.headers()["content-type"], "text/plain");
    }
}
