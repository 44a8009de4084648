//! Explains a lookup: the winner, the candidates that lost and why.

use serde::Serialize;

use portcullis_crds::route::HttpMethod;

use crate::entry::{Entry, HeaderCondition, Miss, QueryCondition, TimeCondition};
use crate::request::GraphqlInfo;
use crate::table::{Action, Backend, DirectResponse, Redirect, Rule, Scheme, Target};
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
    /// Explains the lookup of `request`, without sending anything: every
    /// match in the request's host scopes, in rank order, with its outcome.
    pub fn explain(&self, request: &RequestView<'_>) -> Explanation {
        let mut ids = Vec::new();
        self.hosts
            .for_each_scope(request.host, |trie| ids.extend(trie.all_entries()));
        ids.sort_unstable();
        ids.dedup();
        let mut winner: Option<(usize, Candidate)> = None;
        let mut candidates = Vec::with_capacity(ids.len());
        for id in ids {
            let entry = &self.entries[id as usize];
            let outcome = match (entry.evaluate(request), &winner) {
                (Ok(_), None) => CandidateOutcome::Won,
                (Ok(_), Some((_, best))) => CandidateOutcome::Outranked(format!(
                    "outranked by {} {} (rank {})",
                    best.route, best.field, best.rank
                )),
                (Err(miss), _) => CandidateOutcome::NotMatched(describe_miss(entry, miss, request)),
            };
            let candidate = self.candidate(id, outcome);
            if candidate.outcome == CandidateOutcome::Won {
                winner = Some((id as usize, candidate.clone()));
            }
            candidates.push(candidate);
        }
        let action = winner.as_ref().map(|(id, _)| {
            let rule = &self.rules[self.entries[*id].rule as usize];
            describe_rule(rule)
        });
        Explanation {
            winner: winner.map(|(_, candidate)| candidate),
            candidates,
            action,
        }
    }

    fn candidate(&self, id: u32, outcome: CandidateOutcome) -> Candidate {
        let entry = &self.entries[id as usize];
        let rule = &self.rules[entry.rule as usize];
        Candidate {
            route: ObjectRef::clone(&rule.route),
            field: entry_field(entry, rule),
            priority: entry.priority,
            rank: id,
            outcome,
        }
    }

    /// Returns the Route and field path of the match ranked `id`.
    pub(crate) fn entry_origin(&self, id: u32) -> (ObjectRef, String) {
        let entry = &self.entries[id as usize];
        let rule = &self.rules[entry.rule as usize];
        (ObjectRef::clone(&rule.route), entry_field(entry, rule))
    }
}

/// `spec.rules[i].matches[j]`, or `spec.rules[i]` for a rule without
/// matches.
pub(crate) fn entry_field(entry: &Entry, rule: &Rule) -> String {
    if entry.implicit {
        format!("spec.rules[{}]", rule.index)
    } else {
        format!("spec.rules[{}].matches[{}]", rule.index, entry.match_index)
    }
}

fn describe_miss(entry: &Entry, miss: Miss, request: &RequestView<'_>) -> String {
    match miss {
        Miss::Method => format!(
            "method {} is not one of {}",
            request.method,
            method_names(entry.methods)
        ),
        Miss::Path => format!(
            "path {} does not match {:?} {}",
            request.path, entry.path_kind, entry.path_value
        ),
        Miss::Header(index) => describe_header(&entry.headers[index], request),
        Miss::Query(index) => describe_query(&entry.query[index]),
        Miss::Geo => {
            let wanted = entry
                .countries
                .as_deref()
                .map(country_names)
                .unwrap_or_default();
            match request.country {
                Some(country) => format!("country {country} is not one of {wanted}"),
                None => format!("country is unknown; the match needs one of {wanted}"),
            }
        }
        Miss::Time => entry
            .time
            .as_ref()
            .map_or_else(String::new, |window| describe_time(window, request)),
        Miss::Graphql => match request.graphql {
            GraphqlInfo::Operation(operation) => format!(
                "GraphQL operation {:?} {} does not match",
                operation.kind,
                operation.name.unwrap_or("(anonymous)")
            ),
            _ => "no GraphQL operation could be read from the body".to_owned(),
        },
        Miss::GraphqlNotRead => {
            "GraphQL operation is unknown because the body was not read".to_owned()
        }
    }
}

fn method_names(bits: u16) -> String {
    const ALL: [HttpMethod; 9] = [
        HttpMethod::Get,
        HttpMethod::Head,
        HttpMethod::Post,
        HttpMethod::Put,
        HttpMethod::Delete,
        HttpMethod::Connect,
        HttpMethod::Options,
        HttpMethod::Trace,
        HttpMethod::Patch,
    ];
    let names: Vec<&str> = ALL
        .iter()
        .filter(|method| bits & (1 << **method as u16) != 0)
        .map(|method| method.as_str())
        .collect();
    names.join(", ")
}

fn country_names(codes: &[[u8; 2]]) -> String {
    let names: Vec<String> = codes
        .iter()
        .map(|code| String::from_utf8_lossy(code).into_owned())
        .collect();
    names.join(", ")
}

fn describe_header(condition: &HeaderCondition, request: &RequestView<'_>) -> String {
    let name = condition.name();
    let present = request.headers.contains_key(name);
    match condition {
        _ if !present && !matches!(condition, HeaderCondition::Absent(_)) => {
            format!("header {name} is absent")
        }
        HeaderCondition::Exact(_, value) => {
            format!("header {name} is not {:?}", String::from_utf8_lossy(value))
        }
        HeaderCondition::Regex(_, regex) => {
            format!(
                "header {name} does not match regex {}",
                unanchored(regex.as_str())
            )
        }
        HeaderCondition::Present(_) => format!("header {name} is absent"),
        HeaderCondition::Absent(_) => format!("header {name} is present"),
    }
}

fn describe_query(condition: &QueryCondition) -> String {
    match condition {
        QueryCondition::Exact(name, value) => {
            format!("query parameter {name} is absent or not {value:?}")
        }
        QueryCondition::Regex(name, regex) => format!(
            "query parameter {name} is absent or does not match regex {}",
            unanchored(regex.as_str())
        ),
        QueryCondition::Present(name) => format!("query parameter {name} is absent"),
    }
}

/// Strips the anchors the compiler adds, giving the pattern as written.
fn unanchored(pattern: &str) -> &str {
    pattern
        .strip_prefix("^(?:")
        .and_then(|p| p.strip_suffix(")$"))
        .unwrap_or(pattern)
}

fn describe_time(window: &TimeCondition, request: &RequestView<'_>) -> String {
    let local = window.zone.to_datetime(request.now);
    let zone = window.zone.iana_name().unwrap_or("UTC");
    let clock = |minutes: u16| format!("{:02}:{:02}", minutes / 60, minutes % 60);
    const DAYS: [&str; 7] = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"];
    let days: Vec<&str> = (0..7)
        .filter(|day| window.days & (1 << day) != 0)
        .map(|day| DAYS[day])
        .collect();
    format!(
        "local time {} {:02}:{:02} in {zone} is outside {}-{} on {}",
        DAYS[local.weekday().to_monday_zero_offset() as usize],
        local.hour(),
        local.minute(),
        clock(window.start),
        clock(window.end),
        days.join(", ")
    )
}

/// Readable text for what a rule does.
fn describe_rule(rule: &Rule) -> String {
    let mut text = match &rule.redirect {
        Some(redirect) => describe_redirect(redirect),
        None => describe_action(&rule.action),
    };
    if let Some(fallback) = &rule.fallback {
        text.push_str(&format!("; fallback: {}", describe_action(fallback)));
    }
    if rule.rewrite.is_some() {
        text.push_str("; URL rewritten before forwarding");
    }
    text
}

fn describe_action(action: &Action) -> String {
    match action {
        Action::Forward(backends) if backends.backends.is_empty() => {
            "forward to no backend with a weight above 0".to_owned()
        }
        Action::Forward(backends) => {
            let parts: Vec<String> = backends.backends.iter().map(describe_backend).collect();
            format!("forward to {}", parts.join(", "))
        }
        Action::Respond(direct) => describe_direct(direct),
    }
}

fn describe_backend(backend: &Backend) -> String {
    match &backend.target {
        Target::Service { endpoints, .. } => format!(
            "{} (weight {}, {} ready endpoints)",
            backend.display,
            backend.weight,
            endpoints.len()
        ),
        Target::Static { .. } => format!("{} (weight {})", backend.display, backend.weight),
    }
}

fn describe_direct(direct: &DirectResponse) -> String {
    let body = direct.body.literal_text();
    match body.is_empty() && direct.body.is_literal() {
        true => format!("respond {} with an empty body", direct.status.as_u16()),
        false => format!("respond {} with body {:?}", direct.status.as_u16(), body),
    }
}

fn describe_redirect(redirect: &Redirect) -> String {
    let mut parts = vec![format!("redirect {}", redirect.status.as_u16())];
    if let Some(scheme) = redirect.scheme {
        parts.push(format!(
            "scheme {}",
            if scheme == Scheme::Https {
                "https"
            } else {
                "http"
            }
        ));
    }
    if let Some(hostname) = &redirect.hostname {
        parts.push(format!("host {hostname}"));
    }
    if let Some(port) = redirect.port {
        parts.push(format!("port {port}"));
    }
    if redirect.path.is_some() {
        parts.push("new path".to_owned());
    }
    parts.join(", ")
}
