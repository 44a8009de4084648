//! The `Route` resource: hostnames, ordered rules, matches and backends.
//!
//! The shape follows Gateway API's HTTPRoute where HTTPRoute covers a need
//! (hostnames, rules with matches, weighted backends, filters) and extends it
//! with glob, regex and template paths, geography, GraphQL operation, time
//! window, explicit priority, fallback and direct responses.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::CustomResource;
use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// Routes HTTP requests for a set of hostnames to backends or direct responses.
///
/// Every rule of every Route is ranked once, at compile time: a higher
/// `priority` wins, ties go to the more specific match, then to the Route
/// whose namespace/name sorts first, so the order never depends on the order
/// in which resources arrive.
#[derive(CustomResource, Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[kube(
    group = "portcullis.io",
    version = "v1alpha1",
    kind = "Route",
    namespaced,
    status = "RouteStatus",
    shortname = "pcroute",
    shortname = "pcr",
    category = "portcullis",
    doc = "Routes HTTP requests for a set of hostnames to backends or direct responses.",
    printcolumn = r#"{"name":"Hosts","type":"string","jsonPath":".spec.hostnames"}"#,
    printcolumn = r#"{"name":"Backends","type":"string","jsonPath":".spec.rules[*].backends[*]['name','endpoint']"}"#,
    printcolumn = r#"{"name":"Accepted","type":"string","jsonPath":".status.conditions[?(@.type==\"Accepted\")].status"}"#,
    printcolumn = r#"{"name":"Ready","type":"string","jsonPath":".status.conditions[?(@.type==\"Ready\")].status"}"#,
    printcolumn = r#"{"name":"Age","type":"date","jsonPath":".metadata.creationTimestamp"}"#
)]
#[serde(rename_all = "camelCase")]
pub struct RouteSpec {
    /// Hostnames this Route serves, matched case-insensitively and without the
    /// port. A leading `*.` label is a wildcard for one or more labels:
    /// `*.example.com` matches `a.example.com` and `a.b.example.com`, not
    /// `example.com`. Empty means every hostname.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(
        length(max = 32),
        inner(length(min = 1, max = 253), regex(pattern = HOSTNAME_PATTERN)),
        extend("x-kubernetes-list-type" = "set")
    )]
    pub hostnames: Vec<String>,

    /// Rank of this Route's rules against other Routes' rules for the same
    /// request. Higher wins. Default 0.
    #[serde(default, skip_serializing_if = "is_zero")]
    #[schemars(range(min = -1000000, max = 1000000))]
    pub priority: i32,

    /// Rules, each with matches and what to do with a matching request.
    #[schemars(length(min = 1, max = 64))]
    pub rules: Vec<RouteRule>,

    /// TLS certificates served for this Route's hostnames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tls: Option<RouteTls>,
}

/// Server certificates for a Route's hostnames, selected by SNI.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteTls {
    /// `kubernetes.io/tls` Secrets holding `tls.crt` and `tls.key` in PEM.
    /// Each certificate is offered for the hostnames it covers.
    #[schemars(length(min = 1, max = 16))]
    pub certificate_refs: Vec<SecretRef>,
}

/// A reference to a Secret, by default in the Route's namespace.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "camelCase")]
pub struct SecretRef {
    /// Secret name.
    #[schemars(length(min = 1, max = 253))]
    pub name: String,
    /// Secret namespace. Defaults to the Route's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
}

/// One rule: the requests it takes and where they go.
///
/// Exactly one of `backends` and `directResponse` is set.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.backends) != has(self.directResponse)",
        "message": "set exactly one of backends and directResponse"
    },
    {
        "rule": "!has(self.backends) || self.backends.exists(b, !has(b.weight) || b.weight > 0)",
        "message": "at least one backend needs a weight above 0"
    }
]))]
pub struct RouteRule {
    /// Name of the rule, shown in diagnostics and the explain output.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,

    /// Conditions, any one of which selects this rule. Within one match every
    /// field must hold. Empty means every request (path prefix `/`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub matches: Vec<RouteMatch>,

    /// Backends that receive matching requests, split by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub backends: Option<Vec<Backend>>,

    /// A response returned by the gateway itself, with no backend involved.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<DirectResponse>,

    /// What serves the request when no backend has a healthy endpoint.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fallback: Option<Fallback>,

    /// Changes applied, in order, to matching requests and their responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub filters: Vec<Filter>,
}

/// Conditions on one request. All fields that are set must hold.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteMatch {
    /// Condition on the normalized request path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathMatch>,

    /// Request methods, any one of which matches. Empty means every method.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 9))]
    pub methods: Vec<HttpMethod>,

    /// Conditions on request headers. All must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub headers: Vec<HeaderMatch>,

    /// Conditions on query parameters. All must hold.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub query_params: Vec<QueryParamMatch>,

    /// Condition on the client's country.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub geo: Option<GeoMatch>,

    /// Condition on the GraphQL operation in a JSON POST body.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub graphql: Option<GraphqlMatch>,

    /// Condition on the time the request arrives.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub time_window: Option<TimeWindow>,
}

/// How a path condition compares the request path.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
pub enum PathMatchType {
    /// The whole path equals the value.
    Exact,
    /// The path starts with the value at a segment boundary: `/api` matches
    /// `/api` and `/api/x`, not `/apix`.
    #[default]
    Prefix,
    /// Shell-style pattern: `*` matches within one segment, `**` any number
    /// of segments.
    Glob,
    /// A regular expression that must match the whole path. Matching takes
    /// linear time; look-around and backreferences are not supported.
    Regex,
    /// Segments with `{name}` variables, each matching one segment, and an
    /// optional last `{*name}` matching the rest. Variable values can be used
    /// in filters as `{name}`.
    Template,
}

/// A condition on the request path, after normalization.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'Regex' || self.value.startsWith('/')",
        "message": "path value must start with '/' unless type is Regex"
    }
]))]
pub struct PathMatch {
    /// Comparison to use. Default `Prefix`.
    #[serde(default, rename = "type")]
    pub kind: PathMatchType,
    /// Path, pattern or expression.
    #[schemars(length(min = 1, max = 1024))]
    pub value: String,
}

/// An HTTP request method.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[serde(rename_all = "UPPERCASE")]
#[allow(missing_docs)]
pub enum HttpMethod {
    Get,
    Head,
    Post,
    Put,
    Delete,
    Connect,
    Options,
    Trace,
    Patch,
}

impl HttpMethod {
    /// Returns the method as it appears on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Get => "GET",
            Self::Head => "HEAD",
            Self::Post => "POST",
            Self::Put => "PUT",
            Self::Delete => "DELETE",
            Self::Connect => "CONNECT",
            Self::Options => "OPTIONS",
            Self::Trace => "TRACE",
            Self::Patch => "PATCH",
        }
    }
}

/// How a header condition compares values.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
pub enum HeaderMatchType {
    /// A value of the header equals `value`.
    #[default]
    Exact,
    /// A value of the header matches the regular expression `value` in full.
    Regex,
    /// The header is present, whatever its value.
    Present,
    /// The header is absent.
    Absent,
}

/// A condition on one request header. Header names are case-insensitive.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "(self.type == 'Present' || self.type == 'Absent') ? !has(self.value) : has(self.value)",
        "message": "value is required for Exact and Regex and not allowed for Present and Absent"
    }
]))]
pub struct HeaderMatch {
    /// Header name.
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
    )]
    pub name: String,
    /// Comparison to use. Default `Exact`.
    #[serde(default, rename = "type")]
    pub kind: HeaderMatchType,
    /// Value or regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
}

/// How a query parameter condition compares values.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
pub enum QueryMatchType {
    /// A value of the parameter, percent-decoded, equals `value`.
    #[default]
    Exact,
    /// A value of the parameter, percent-decoded, matches the regular
    /// expression `value` in full.
    Regex,
    /// The parameter is present, whatever its value.
    Present,
}

/// A condition on one query parameter. Parameter names are case-sensitive.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'Present' ? !has(self.value) : has(self.value)",
        "message": "value is required for Exact and Regex and not allowed for Present"
    }
]))]
pub struct QueryParamMatch {
    /// Parameter name.
    #[schemars(length(min = 1, max = 256))]
    pub name: String,
    /// Comparison to use. Default `Exact`.
    #[serde(default, rename = "type")]
    pub kind: QueryMatchType,
    /// Value or regular expression.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 4096))]
    pub value: Option<String>,
}

/// A condition on the client's country.
///
/// The country comes from the data plane's trusted country header when one
/// is configured and the request arrives from a trusted proxy, otherwise from
/// its GeoIP database. A request whose country is unknown does not match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct GeoMatch {
    /// ISO 3166-1 alpha-2 country codes, any one of which matches.
    #[schemars(length(min = 1, max = 256), inner(regex(pattern = "^[A-Z]{2}$")))]
    pub countries: Vec<String>,
}

/// The type of a GraphQL operation.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
#[allow(missing_docs)]
pub enum GraphqlOperationType {
    Query,
    Mutation,
    Subscription,
}

/// A condition on the GraphQL operation of a `POST` request with a JSON body.
///
/// The data plane reads the body up to its configured limit, selects the
/// operation by `operationName` (or the only operation in `query`) and
/// forwards the body unchanged. A body over the limit or not valid JSON does
/// not match.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.operationName) || has(self.operationType)",
        "message": "set operationName, operationType or both"
    }
]))]
pub struct GraphqlMatch {
    /// Operation name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = "^[_A-Za-z][_0-9A-Za-z]*$")
    )]
    pub operation_name: Option<String>,
    /// Operation type.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub operation_type: Option<GraphqlOperationType>,
}

/// A day of the week.
#[derive(
    Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash, PartialOrd, Ord,
)]
#[allow(missing_docs)]
pub enum Weekday {
    Mon,
    Tue,
    Wed,
    Thu,
    Fri,
    Sat,
    Sun,
}

/// A recurring window of local time.
///
/// The window starts at `start` and ends before `end` on each listed day. A
/// window whose `end` is not after its `start` runs past midnight, and it
/// belongs to the day on which it starts.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct TimeWindow {
    /// Days on which the window opens. Empty means every day.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 7))]
    pub days: Vec<Weekday>,
    /// Local start time, `HH:MM` in 24-hour form.
    #[schemars(regex(pattern = "^([01][0-9]|2[0-3]):[0-5][0-9]$"))]
    pub start: String,
    /// Local end time, `HH:MM` in 24-hour form; `24:00` is the end of the day.
    #[schemars(regex(pattern = "^(([01][0-9]|2[0-3]):[0-5][0-9]|24:00)$"))]
    pub end: String,
    /// IANA time zone, such as `Europe/Berlin`. Default `UTC`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 64))]
    pub time_zone: Option<String>,
}

/// A destination for requests: a Kubernetes Service port or a static
/// endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.name) != has(self.endpoint)",
        "message": "set exactly one of name (a Service) and endpoint (a static address)"
    },
    {
        "rule": "!has(self.name) || has(self.port)",
        "message": "port is required with a Service name"
    },
    {
        "rule": "!has(self.endpoint) || (!has(self.port) && !has(self.namespace))",
        "message": "port and namespace apply only to a Service backend; put the port in endpoint"
    }
]))]
pub struct Backend {
    /// Service name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub name: Option<String>,
    /// Service namespace. Defaults to the Route's namespace.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 63))]
    pub namespace: Option<String>,
    /// Service port number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Static address: `host:port`, or a URL `http://host:port`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 512))]
    pub endpoint: Option<String>,
    /// Share of the rule's requests, relative to the other backends'
    /// weights. Default 1; 0 sends none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(max = 1000000))]
    pub weight: Option<u32>,
}

/// A response produced by the gateway.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct DirectResponse {
    /// HTTP status code. Default 200.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 200, max = 599))]
    pub status: Option<u16>,
    /// Response headers.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 32))]
    pub headers: Vec<HeaderValue>,
    /// Response body. Template variables from the path match, written
    /// `{name}`, are replaced.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(max = 65536))]
    pub body: Option<String>,
}

/// A header name and value.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeaderValue {
    /// Header name.
    #[schemars(
        length(min = 1, max = 256),
        regex(pattern = r"^[A-Za-z0-9!#$%&'*+\-.^_`|~]+$")
    )]
    pub name: String,
    /// Header value. Template variables from the path match, written
    /// `{name}`, are replaced.
    #[schemars(length(max = 4096))]
    pub value: String,
}

/// Where a request goes when the rule's backends have no healthy endpoint.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "has(self.backends) != has(self.directResponse)",
        "message": "set exactly one of backends and directResponse"
    }
]))]
pub struct Fallback {
    /// Backends used instead, split by weight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 16))]
    pub backends: Option<Vec<Backend>>,
    /// A response returned instead.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direct_response: Option<DirectResponse>,
}

/// The kind of a filter.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
pub enum FilterType {
    /// Sets, adds or removes request headers.
    RequestHeaderModifier,
    /// Sets, adds or removes response headers.
    ResponseHeaderModifier,
    /// Rewrites the host and path sent to the backend.
    #[serde(rename = "URLRewrite")]
    UrlRewrite,
    /// Answers with a redirect instead of forwarding.
    RequestRedirect,
}

/// A change to matching requests or their responses. The field named by
/// `type` is the one that must be set.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
#[schemars(extend("x-kubernetes-validations" = [
    {
        "rule": "self.type == 'RequestHeaderModifier' ? has(self.requestHeaderModifier) : !has(self.requestHeaderModifier)",
        "message": "requestHeaderModifier must be set exactly when type is RequestHeaderModifier"
    },
    {
        "rule": "self.type == 'ResponseHeaderModifier' ? has(self.responseHeaderModifier) : !has(self.responseHeaderModifier)",
        "message": "responseHeaderModifier must be set exactly when type is ResponseHeaderModifier"
    },
    {
        "rule": "self.type == 'URLRewrite' ? has(self.urlRewrite) : !has(self.urlRewrite)",
        "message": "urlRewrite must be set exactly when type is URLRewrite"
    },
    {
        "rule": "self.type == 'RequestRedirect' ? has(self.requestRedirect) : !has(self.requestRedirect)",
        "message": "requestRedirect must be set exactly when type is RequestRedirect"
    }
]))]
pub struct Filter {
    /// Which change this is.
    #[serde(rename = "type")]
    pub kind: FilterType,
    /// Request header changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_header_modifier: Option<HeaderModifier>,
    /// Response header changes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_header_modifier: Option<HeaderModifier>,
    /// Host and path rewrite.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        rename = "urlRewrite"
    )]
    pub url_rewrite: Option<UrlRewrite>,
    /// Redirect response.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_redirect: Option<RequestRedirect>,
}

/// Header changes, applied in the order remove, set, add.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct HeaderModifier {
    /// Headers set, replacing any existing values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub set: Vec<HeaderValue>,
    /// Headers added beside any existing values.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub add: Vec<HeaderValue>,
    /// Names of headers removed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(length(max = 16))]
    pub remove: Vec<String>,
}

/// How a rewrite or redirect replaces the path.
#[derive(Clone, Copy, Debug, Deserialize, Serialize, JsonSchema, PartialEq, Eq, Hash)]
pub enum PathModifierType {
    /// Replaces the whole path.
    ReplaceFullPath,
    /// Replaces the part matched by a `Prefix` path match.
    ReplacePrefixMatch,
}

/// A path replacement. Template variables, written `{name}`, are replaced
/// by the values the path match captured.
#[derive(Clone, Debug, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct PathModifier {
    /// Which part of the path is replaced.
    #[serde(rename = "type")]
    pub kind: PathModifierType,
    /// Replacement, starting with `/`.
    #[schemars(length(min = 1, max = 1024), regex(pattern = "^/"))]
    pub value: String,
}

/// A rewrite of the request before it is forwarded.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct UrlRewrite {
    /// Host header sent to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub hostname: Option<String>,
    /// Path sent to the backend.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathModifier>,
}

/// A redirect answered by the gateway. Unset parts keep the request's.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RequestRedirect {
    /// Scheme, `http` or `https`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(regex(pattern = "^https?$"))]
    pub scheme: Option<String>,
    /// Hostname.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(length(min = 1, max = 253))]
    pub hostname: Option<String>,
    /// Port.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(range(min = 1, max = 65535))]
    pub port: Option<u16>,
    /// Path.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<PathModifier>,
    /// Status code: 301, 302, 303, 307 or 308. Default 302.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schemars(extend("enum" = [301, 302, 303, 307, 308]))]
    pub status_code: Option<u16>,
}

/// Observed state of a Route, written by the operator.
#[derive(Clone, Debug, Default, Deserialize, Serialize, JsonSchema, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct RouteStatus {
    /// Conditions `Accepted`, `ResolvedRefs`, `Programmed` and `Ready`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    #[schemars(extend("x-kubernetes-list-type" = "map", "x-kubernetes-list-map-keys" = ["type"]))]
    pub conditions: Vec<Condition>,
}

/// Hostname or wildcard hostname, lowercase or not, without a port.
const HOSTNAME_PATTERN: &str = r"^(\*\.)?[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?(\.[A-Za-z0-9]([-A-Za-z0-9]{0,61}[A-Za-z0-9])?)*$";

fn is_zero(value: &i32) -> bool {
    *value == 0
}
