//! Explain input and output, shared by the admin `/explain` endpoint and
//! the offline `portcullis explain` command.
//!
//! Each source (query string, JSON body, command line) fills an
//! [`ExplainInput`] of raw strings; [`ExplainInput::validate`] checks them
//! all the same way and names a bad parameter as that source spells it.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr};

use http::{HeaderMap, HeaderName, HeaderValue, Method};
use portcullis_compiler::graphql::Operation;
use portcullis_compiler::{Explanation, GraphqlInfo, RequestView, Snapshot};
use portcullis_crds::route::GraphqlOperationType;
use serde::{Deserialize, Serialize};

use crate::config::PathNormalization;

/// Where explain input came from; decides how parameters are named in
/// errors.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Source {
    /// `GET /explain?...`.
    Query,
    /// `POST /explain` with a JSON body.
    Json,
    /// `portcullis explain` flags.
    Flags,
}

/// One input parameter of an explain request.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Param {
    /// Request method.
    Method,
    /// Host.
    Host,
    /// Path.
    Path,
    /// A request header.
    Header,
    /// Raw query string.
    Query,
    /// Client address.
    Client,
    /// Client country.
    Country,
    /// GraphQL operation name.
    GraphqlOperation,
    /// GraphQL operation type.
    GraphqlType,
}

/// An invalid explain parameter.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("invalid {parameter}: {message}")]
pub struct InputError {
    /// Parameter name as the source spells it, such as `host` or `--host`.
    pub parameter: &'static str,
    /// Description of the problem and the expected value.
    pub message: String,
}

/// Explain input as received, before validation.
#[derive(Clone, Debug, Default)]
pub struct ExplainInput {
    /// Request method; `GET` when unset.
    pub method: Option<String>,
    /// Host.
    pub host: Option<String>,
    /// Path.
    pub path: Option<String>,
    /// Headers as name and value.
    pub headers: Vec<(String, String)>,
    /// Raw query string without the `?`.
    pub query: Option<String>,
    /// Client IP address.
    pub client_addr: Option<String>,
    /// ISO 3166-1 alpha-2 country.
    pub country: Option<String>,
    /// GraphQL operation name.
    pub graphql_operation: Option<String>,
    /// GraphQL operation type.
    pub graphql_type: Option<String>,
}

/// A validated explain request, owning what a [`RequestView`] borrows.
#[derive(Clone, Debug)]
pub struct ExplainRequest {
    method: Method,
    host: String,
    path: String,
    headers: HeaderMap,
    query: Option<String>,
    client_addr: IpAddr,
    country: Option<String>,
    graphql: Option<(Option<String>, GraphqlOperationType)>,
}

/// The explain result: the compiler's explanation and the snapshot
/// version it was computed on.
#[derive(Clone, Debug, Serialize)]
pub struct ExplainOutput {
    /// Content version of the snapshot.
    pub version: String,
    /// Winner, candidates and action.
    #[serde(flatten)]
    pub explanation: Explanation,
}

/// The `POST /explain` body.
#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ExplainBody {
    method: Option<String>,
    host: Option<String>,
    path: Option<String>,
    #[serde(default)]
    headers: BTreeMap<String, HeaderValues>,
    query: Option<String>,
    client_addr: Option<String>,
    country: Option<String>,
    graphql: Option<GraphqlBody>,
}

/// One header value or several.
#[derive(Debug, Deserialize)]
#[serde(untagged)]
enum HeaderValues {
    One(String),
    Many(Vec<String>),
}

#[derive(Debug, Default, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
struct GraphqlBody {
    operation_name: Option<String>,
    operation_type: Option<String>,
}

// === impl Param ===

impl Param {
    /// Returns the parameter's name as `source` spells it.
    pub fn name(self, source: Source) -> &'static str {
        match source {
            Source::Query => self.query_name(),
            Source::Json => self.json_name(),
            Source::Flags => self.flag_name(),
        }
    }

    fn query_name(self) -> &'static str {
        match self {
            Self::Method => "method",
            Self::Host => "host",
            Self::Path => "path",
            Self::Header => "header",
            Self::Query => "query",
            Self::Client => "client",
            Self::Country => "country",
            Self::GraphqlOperation => "graphqlOperation",
            Self::GraphqlType => "graphqlType",
        }
    }

    fn json_name(self) -> &'static str {
        match self {
            Self::Header => "headers",
            Self::Client => "clientAddr",
            Self::GraphqlOperation => "graphql.operationName",
            Self::GraphqlType => "graphql.operationType",
            other => other.query_name(),
        }
    }

    fn flag_name(self) -> &'static str {
        match self {
            Self::Method => "--method",
            Self::Host => "--host",
            Self::Path => "--path",
            Self::Header => "--header",
            Self::Query => "--query",
            Self::Client => "--client-addr",
            Self::Country => "--country",
            Self::GraphqlOperation => "--graphql-operation",
            Self::GraphqlType => "--graphql-type",
        }
    }
}

// === impl ExplainInput ===

impl ExplainInput {
    /// Reads `GET /explain` query parameters. `header` takes `name:value`
    /// and may repeat.
    ///
    /// # Errors
    /// Returns an error for an unknown or repeated parameter.
    pub fn from_query(query: &str) -> Result<Self, InputError> {
        let mut input = Self::default();
        for (key, value) in form_urlencoded::parse(query.as_bytes()) {
            let value = value.into_owned();
            let slot = match key.as_ref() {
                "header" => {
                    input.headers.push(split_header(&value, Source::Query)?);
                    continue;
                }
                "method" => &mut input.method,
                "host" => &mut input.host,
                "path" => &mut input.path,
                "query" => &mut input.query,
                "client" => &mut input.client_addr,
                "country" => &mut input.country,
                "graphqlOperation" => &mut input.graphql_operation,
                "graphqlType" => &mut input.graphql_type,
                _ => return Err(unknown_parameter(&key)),
            };
            set_once(slot, value, &key)?;
        }
        Ok(input)
    }

    /// Reads a `POST /explain` JSON body.
    ///
    /// # Errors
    /// Returns an error when the body is not the expected JSON object.
    pub fn from_json(body: &[u8]) -> Result<Self, InputError> {
        let body: ExplainBody = serde_json::from_slice(body).map_err(|error| InputError {
            parameter: "body",
            message: format!("{error}; expected a JSON object with method, host, path, headers, query, clientAddr, country and graphql"),
        })?;
        let mut headers = Vec::new();
        for (name, values) in body.headers {
            match values {
                HeaderValues::One(value) => headers.push((name, value)),
                HeaderValues::Many(values) => {
                    headers.extend(values.into_iter().map(|value| (name.clone(), value)));
                }
            }
        }
        let graphql = body.graphql.unwrap_or_default();
        Ok(Self {
            method: body.method,
            host: body.host,
            path: body.path,
            headers,
            query: body.query,
            client_addr: body.client_addr,
            country: body.country,
            graphql_operation: graphql.operation_name,
            graphql_type: graphql.operation_type,
        })
    }

    /// Reads `portcullis explain` flags. Headers are `name: value`.
    ///
    /// # Errors
    /// Returns an error for a header without a colon.
    pub fn from_flags(args: &crate::cli::ExplainArgs) -> Result<Self, InputError> {
        let headers = args
            .headers
            .iter()
            .map(|header| split_header(header, Source::Flags))
            .collect::<Result<_, _>>()?;
        Ok(Self {
            method: Some(args.method.clone()),
            host: Some(args.host.clone()),
            path: Some(args.path.clone()),
            headers,
            query: args.query.clone(),
            client_addr: args.client_addr.clone(),
            country: args.country.clone(),
            graphql_operation: args.graphql_operation.clone(),
            graphql_type: args.graphql_type.clone(),
        })
    }

    /// Checks every parameter.
    ///
    /// # Errors
    /// Returns the first invalid or missing parameter, named as `source`
    /// spells it.
    pub fn validate(self, source: Source) -> Result<ExplainRequest, InputError> {
        let fail = |param: Param, message: String| InputError {
            parameter: param.name(source),
            message,
        };

        let method = parse_method(self.method.as_deref()).map_err(|m| fail(Param::Method, m))?;
        let host = required(self.host, "a host such as a.example.com")
            .map_err(|m| fail(Param::Host, m))?;
        let path = parse_path(self.path).map_err(|m| fail(Param::Path, m))?;
        let headers = parse_headers(self.headers).map_err(|m| fail(Param::Header, m))?;
        let client_addr =
            parse_client(self.client_addr.as_deref()).map_err(|m| fail(Param::Client, m))?;
        let country =
            parse_country(self.country.as_deref()).map_err(|m| fail(Param::Country, m))?;
        let graphql = parse_graphql(self.graphql_operation, self.graphql_type.as_deref())
            .map_err(|m| fail(Param::GraphqlType, m))?;

        Ok(ExplainRequest {
            method,
            host,
            path,
            headers,
            query: self.query.filter(|query| !query.is_empty()),
            client_addr,
            country,
            graphql,
        })
    }
}

// === impl ExplainRequest ===

impl ExplainRequest {
    /// Explains the request against `snapshot`.
    pub fn explain(&self, snapshot: &Snapshot) -> ExplainOutput {
        let operation = self.graphql.as_ref().map(|(name, kind)| Operation {
            name: name.as_deref(),
            kind: *kind,
        });
        // Without an operation the body counts as read and unusable, so
        // GraphQL matches fail with a reason instead of asking for a body.
        let graphql = operation.map_or(GraphqlInfo::Unavailable, GraphqlInfo::Operation);
        let view = RequestView {
            method: &self.method,
            host: &self.host,
            path: &self.path,
            query: self.query.as_deref(),
            headers: &self.headers,
            client_addr: self.client_addr,
            country: self.country.as_deref(),
            graphql,
            now: jiff::Timestamp::now(),
        };
        ExplainOutput {
            version: snapshot.version().to_owned(),
            explanation: snapshot.table().explain(&view),
        }
    }

    /// Request path, for callers that normalize it.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Replaces the path, such as with its normalized form.
    pub fn set_path(&mut self, path: String) {
        self.path = path;
    }
}

/// Normalizes an explain path with the proxy's normalizer, so explain
/// matches the path the proxy would match.
///
/// # Errors
/// Returns the reason the proxy would reject the path with 400.
pub fn normalize_path(path: &str, policy: PathNormalization) -> Result<String, String> {
    crate::proxy::normalize::normalize(path, policy)
        .map(|normalized| normalized.into_owned())
        .map_err(|error| error.to_string())
}

fn unknown_parameter(key: &str) -> InputError {
    InputError {
        parameter: "query",
        message: format!(
            "unknown parameter {key:?}; use method, host, path, header, query, client, country, graphqlOperation or graphqlType"
        ),
    }
}

fn set_once(slot: &mut Option<String>, value: String, key: &str) -> Result<(), InputError> {
    if slot.is_some() {
        return Err(InputError {
            parameter: "query",
            message: format!("parameter {key:?} is repeated; give it once"),
        });
    }
    *slot = Some(value);
    Ok(())
}

fn split_header(header: &str, source: Source) -> Result<(String, String), InputError> {
    match header.split_once(':') {
        Some((name, value)) => Ok((name.trim().to_owned(), value.trim().to_owned())),
        None => Err(InputError {
            parameter: Param::Header.name(source),
            message: format!("{header:?} has no colon; write name:value"),
        }),
    }
}

fn required(value: Option<String>, expected: &str) -> Result<String, String> {
    match value {
        Some(value) if !value.is_empty() => Ok(value),
        _ => Err(format!("missing; give {expected}")),
    }
}

fn parse_method(value: Option<&str>) -> Result<Method, String> {
    let value = value.unwrap_or("GET");
    Method::from_bytes(value.as_bytes())
        .map_err(|_| format!("{value:?} is not an HTTP method; use a token such as GET or POST"))
}

fn parse_path(value: Option<String>) -> Result<String, String> {
    let path = required(value, "a path starting with /")?;
    if !path.starts_with('/') {
        return Err(format!("{path:?} does not start with /"));
    }
    if path.contains('?') {
        return Err(format!("{path:?} contains '?'; pass the query separately"));
    }
    Ok(path)
}

fn parse_headers(headers: Vec<(String, String)>) -> Result<HeaderMap, String> {
    let mut map = HeaderMap::with_capacity(headers.len());
    for (name, value) in headers {
        let header_name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| format!("{name:?} is not a valid header name"))?;
        let header_value = HeaderValue::from_str(&value)
            .map_err(|_| format!("value of {name:?} holds characters not allowed in a header"))?;
        map.append(header_name, header_value);
    }
    Ok(map)
}

fn parse_client(value: Option<&str>) -> Result<IpAddr, String> {
    match value {
        None | Some("") => Ok(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
        Some(value) => value
            .parse()
            .map_err(|_| format!("{value:?} is not an IP address such as 192.0.2.1")),
    }
}

fn parse_country(value: Option<&str>) -> Result<Option<String>, String> {
    match value {
        None | Some("") => Ok(None),
        Some(code) if code.len() == 2 && code.bytes().all(|b| b.is_ascii_alphabetic()) => {
            Ok(Some(code.to_ascii_uppercase()))
        }
        Some(code) => Err(format!(
            "{code:?} is not an ISO 3166-1 alpha-2 code such as DE"
        )),
    }
}

/// Returns the GraphQL operation. A name without a type is a query, the
/// only type GraphQL lets a document leave implicit.
fn parse_graphql(
    name: Option<String>,
    kind: Option<&str>,
) -> Result<Option<(Option<String>, GraphqlOperationType)>, String> {
    let kind = match kind {
        None | Some("") => None,
        Some("query") => Some(GraphqlOperationType::Query),
        Some("mutation") => Some(GraphqlOperationType::Mutation),
        Some("subscription") => Some(GraphqlOperationType::Subscription),
        Some(other) => {
            return Err(format!(
                "{other:?} is not a GraphQL operation type; use query, mutation or subscription"
            ));
        }
    };
    let name = name.filter(|name| !name.is_empty());
    Ok(match (name, kind) {
        (None, None) => None,
        (name, kind) => Some((name, kind.unwrap_or(GraphqlOperationType::Query))),
    })
}

#[cfg(test)]
#[path = "explain_tests.rs"]
mod tests;
