//! Builds the route table from the IR: compiles every match, ranks all of
//! them globally and files them in the tries of their host scopes.
//!
//! Ranking (lower wins): priority, highest first; then specificity, most
//! specific first (see [`Specificity`]); then namespace, name, rule index,
//! match index. The order therefore never depends on input order.

use std::cmp::Reverse;
use std::sync::LazyLock;

use http::HeaderName;
use portcullis_crds::route::{
    HeaderMatchType, PathMatchType, QueryMatchType, RouteMatch, TimeWindow,
};

use crate::entry::{
    Entry, GraphqlCondition, HeaderCondition, NO_SLOT, QueryCondition, TimeCondition,
};
use crate::host::{HostIndex, HostKey};
use crate::ir::{RouteIr, SnapshotIr};
use crate::pattern::{PatternCache, literal_len, literal_prefix, prefix_segments};
use crate::table::RouteTable;
use crate::validate::{parse_clock, rule_variables};

/// The match of a rule without matches: every request.
static IMPLICIT_MATCH: LazyLock<[RouteMatch; 1]> = LazyLock::new(|| [RouteMatch::default()]);

/// Specificity of a match, compared field by field: greater is more
/// specific.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Specificity {
    /// 2 for exact hostnames, 1 for wildcards, 0 for Routes without
    /// hostnames.
    host_kind: u8,
    /// Labels of a wildcard hostname: `*.a.example.com` beats
    /// `*.example.com`.
    host_labels: u16,
    /// Exact 5, Template 4, Glob 3, Prefix 2, Regex 1.
    path_kind: u8,
    /// Literal characters of the path pattern.
    path_literal: u32,
    /// 0 for every method, otherwise 10 minus the number of methods, so a
    /// shorter method list is more specific.
    methods: u8,
    headers: u8,
    query: u8,
    geo: u8,
    graphql: u8,
    time: u8,
}

/// The hostnames of one Route that share a specificity.
struct HostClass<'a> {
    kind: u8,
    labels: u16,
    hostnames: Vec<&'a str>,
}

/// Sort key of an entry: priority, specificity, then the Route's position
/// in namespace and name order, rule index, match index and host class.
/// Integers only, so sorting compares no strings.
type RankKey = (Reverse<i32>, Reverse<Specificity>, u32, u32, u32, u32);

/// An entry before ranking.
struct Pending<'a> {
    key: RankKey,
    /// Boxed, so sorting moves pointers instead of whole entries.
    entry: Box<Entry>,
    prefix: &'a str,
    hosts: Vec<HostKey<'a>>,
}

/// Builds the table. Matches whose patterns fail to compile are left out
/// and reported as messages. IR made by [`crate::compile`] has none.
pub(crate) fn build_table(
    ir: &SnapshotIr,
    patterns: &mut PatternCache,
) -> (RouteTable, Vec<String>) {
    let mut table = RouteTable::default();
    let rule_count = ir.routes.iter().map(|route| route.rules.len()).sum();
    table.rules.reserve_exact(rule_count);
    let mut pending = Vec::with_capacity(rule_count);
    let mut problems = Vec::new();
    let order = route_order(&ir.routes);
    for (route, &position) in ir.routes.iter().zip(&order) {
        let route = (route, position);
        add_route(route, &mut table, &mut pending, &mut problems, patterns);
    }
    pending.sort_unstable_by_key(|item| item.key);
    table.entries.reserve_exact(pending.len());
    let mut hosts = HostIndex::default();
    for (id, item) in pending.into_iter().enumerate() {
        let id = id as u32;
        for key in &item.hosts {
            hosts
                .trie_mut(*key)
                .insert(prefix_segments(item.prefix), id);
        }
        table.uses_geo |= item.entry.countries.is_some();
        table.uses_time |= item.entry.time.is_some();
        table.entries.push(*item.entry);
    }
    hosts.finish();
    table.hosts = hosts;
    (table, problems)
}

/// Returns the position of each Route in namespace and name order, Routes
/// with the same namespace and name in IR order. IR made by
/// [`crate::compile`] is already in this order.
fn route_order(routes: &[RouteIr]) -> Vec<u32> {
    let mut indexes: Vec<u32> = (0..routes.len() as u32).collect();
    if routes.is_sorted_by(|a, b| route_key(a) <= route_key(b)) {
        return indexes;
    }
    indexes.sort_by(|&a, &b| route_key(&routes[a as usize]).cmp(&route_key(&routes[b as usize])));
    let mut order = vec![0; routes.len()];
    for (position, index) in indexes.into_iter().enumerate() {
        order[index as usize] = position as u32;
    }
    order
}

fn route_key(route: &RouteIr) -> (&str, &str) {
    (&route.namespace, &route.name)
}

fn add_route<'a>(
    (route, position): (&'a RouteIr, u32),
    table: &mut RouteTable,
    pending: &mut Vec<Pending<'a>>,
    problems: &mut Vec<String>,
    patterns: &mut PatternCache,
) {
    let classes = host_classes(&route.hostnames);
    for (rule_index, rule) in route.rules.iter().enumerate() {
        let rule_id = table.rules.len() as u32;
        let variables = rule_variables(&rule.matches, patterns);
        table
            .rules
            .push(crate::rule::build_rule(route, rule_index, rule, &variables));
        let matches = if rule.matches.is_empty() {
            &IMPLICIT_MATCH[..]
        } else {
            &rule.matches[..]
        };
        for (match_index, route_match) in matches.iter().enumerate() {
            for (class_index, class) in classes.iter().enumerate() {
                let mut entry = match compile_entry(route_match, &variables, patterns) {
                    Ok(entry) => entry,
                    Err(message) => {
                        problems.push(format!(
                            "{}/{} spec.rules[{rule_index}].matches[{match_index}]: {message}",
                            route.namespace, route.name
                        ));
                        continue;
                    }
                };
                entry.rule = rule_id;
                entry.match_index = match_index as u16;
                entry.implicit = rule.matches.is_empty();
                let position = [
                    position,
                    rule_index as u32,
                    match_index as u32,
                    class_index as u32,
                ];
                pending.push(rank_entry(route, route_match, entry, class, position));
            }
        }
    }
}

/// Fills in the Route-level fields of an entry and computes its sort key.
fn rank_entry<'a>(
    route: &'a RouteIr,
    route_match: &'a RouteMatch,
    mut entry: Entry,
    class: &HostClass<'a>,
    [route_position, rule_index, match_index, class_index]: [u32; 4],
) -> Pending<'a> {
    entry.priority = route.priority;
    entry.hostnames = class.hostnames.iter().map(|h| Box::from(*h)).collect();
    let key = (
        Reverse(route.priority),
        Reverse(specificity(route_match, &entry, class)),
        route_position,
        rule_index,
        match_index,
        class_index,
    );
    Pending {
        key,
        prefix: literal_prefix(entry.path_kind, path_value(route_match)),
        hosts: host_keys(class),
        entry: Box::new(entry),
    }
}

fn path_value(route_match: &RouteMatch) -> &str {
    route_match
        .path
        .as_ref()
        .map_or("/", |path| path.value.as_str())
}

/// Splits hostnames into classes of equal specificity: exact names, then
/// wildcards by label count. No hostnames gives one catch-all class.
fn host_classes(hostnames: &[String]) -> Vec<HostClass<'_>> {
    if hostnames.is_empty() {
        return vec![HostClass {
            kind: 0,
            labels: 0,
            hostnames: Vec::new(),
        }];
    }
    let mut classes: Vec<HostClass<'_>> = Vec::new();
    for hostname in hostnames {
        let (kind, labels) = match hostname.strip_prefix("*.") {
            Some(_) => (1, hostname.split('.').count() as u16),
            None => (2, 0),
        };
        match classes
            .iter_mut()
            .find(|c| c.kind == kind && c.labels == labels)
        {
            Some(class) => class.hostnames.push(hostname),
            None => classes.push(HostClass {
                kind,
                labels,
                hostnames: vec![hostname],
            }),
        }
    }
    classes.sort_by_key(|class| Reverse((class.kind, class.labels)));
    classes
}

fn host_keys<'a>(class: &HostClass<'a>) -> Vec<HostKey<'a>> {
    if class.hostnames.is_empty() {
        return vec![HostKey::CatchAll];
    }
    class
        .hostnames
        .iter()
        .map(|hostname| match hostname.strip_prefix("*.") {
            Some(suffix) => HostKey::Wildcard(suffix),
            None => HostKey::Exact(hostname),
        })
        .collect()
}

fn specificity(route_match: &RouteMatch, entry: &Entry, class: &HostClass<'_>) -> Specificity {
    let path_kind = match entry.path_kind {
        PathMatchType::Exact => 5,
        PathMatchType::Template => 4,
        PathMatchType::Glob => 3,
        PathMatchType::Prefix => 2,
        PathMatchType::Regex => 1,
    };
    let methods = match route_match.methods.len() {
        0 => 0,
        count => 10u8.saturating_sub(count as u8),
    };
    let graphql = route_match.graphql.as_ref().map_or(0, |g| {
        u8::from(g.operation_name.is_some()) + u8::from(g.operation_type.is_some())
    });
    Specificity {
        host_kind: class.kind,
        host_labels: class.labels,
        path_kind,
        path_literal: literal_len(entry.path_kind, &entry.path_value) as u32,
        methods,
        headers: route_match.headers.len() as u8,
        query: route_match.query_params.len() as u8,
        geo: u8::from(route_match.geo.is_some()),
        graphql,
        time: u8::from(route_match.time_window.is_some()),
    }
}

/// Compiles the conditions of one match; rank and rule fields are filled
/// in by the caller.
fn compile_entry(
    route_match: &RouteMatch,
    variables: &[String],
    patterns: &mut PatternCache,
) -> Result<Entry, String> {
    let (path_kind, path_value) = match &route_match.path {
        Some(path) => (path.kind, path.value.as_str()),
        None => (PathMatchType::Prefix, "/"),
    };
    let path = patterns
        .path(path_kind, path_value)
        .map_err(|e| e.message)?;
    let capture_slots = path
        .variables()
        .iter()
        .map(|name| {
            variables
                .iter()
                .position(|v| v == name)
                .map_or(NO_SLOT, |slot| slot as u8)
        })
        .collect();
    let methods = route_match
        .methods
        .iter()
        .fold(0u16, |bits, method| bits | 1 << *method as u16);
    let headers = route_match
        .headers
        .iter()
        .map(|header| compile_header(header, patterns))
        .collect::<Result<_, _>>()?;
    let query = route_match
        .query_params
        .iter()
        .map(|param| compile_query(param, patterns))
        .collect::<Result<_, _>>()?;
    let countries = route_match.geo.as_ref().map(|geo| {
        geo.countries
            .iter()
            .filter_map(|code| <[u8; 2]>::try_from(code.as_bytes()).ok())
            .collect()
    });
    let graphql = route_match.graphql.as_ref().map(|g| GraphqlCondition {
        name: g.operation_name.as_deref().map(Box::from),
        kind: g.operation_type,
    });
    let time = route_match
        .time_window
        .as_ref()
        .map(compile_time)
        .transpose()?;
    Ok(Entry {
        rule: 0,
        match_index: 0,
        implicit: false,
        priority: 0,
        path_kind,
        path_value: path_value.into(),
        path,
        methods,
        headers,
        query,
        countries,
        graphql,
        time,
        capture_slots,
        slot_count: variables.len() as u8,
        hostnames: Box::default(),
    })
}

fn compile_header(
    header: &portcullis_crds::route::HeaderMatch,
    patterns: &mut PatternCache,
) -> Result<HeaderCondition, String> {
    let name = HeaderName::from_bytes(header.name.as_bytes())
        .map_err(|_| format!("header name {:?} is invalid", header.name))?;
    let value = header.value.as_deref().unwrap_or_default();
    Ok(match header.kind {
        HeaderMatchType::Exact => HeaderCondition::Exact(name, value.as_bytes().into()),
        HeaderMatchType::Regex => {
            HeaderCondition::Regex(name, patterns.regex(value).map_err(|e| e.message)?)
        }
        HeaderMatchType::Present => HeaderCondition::Present(name),
        HeaderMatchType::Absent => HeaderCondition::Absent(name),
    })
}

fn compile_query(
    param: &portcullis_crds::route::QueryParamMatch,
    patterns: &mut PatternCache,
) -> Result<QueryCondition, String> {
    let name: Box<str> = param.name.as_str().into();
    let value = param.value.as_deref().unwrap_or_default();
    Ok(match param.kind {
        QueryMatchType::Exact => QueryCondition::Exact(name, value.into()),
        QueryMatchType::Regex => {
            QueryCondition::Regex(name, patterns.regex(value).map_err(|e| e.message)?)
        }
        QueryMatchType::Present => QueryCondition::Present(name),
    })
}

fn compile_time(window: &TimeWindow) -> Result<TimeCondition, String> {
    let start = parse_clock(&window.start).ok_or("invalid start time")?;
    let end = parse_clock(&window.end).ok_or("invalid end time")?;
    let zone = match &window.time_zone {
        Some(name) => {
            jiff::tz::TimeZone::get(name).map_err(|e| format!("time zone {name:?}: {e}"))?
        }
        None => jiff::tz::TimeZone::UTC,
    };
    let days = match window.days.is_empty() {
        true => 0x7f,
        false => window
            .days
            .iter()
            .fold(0u8, |bits, day| bits | 1 << *day as u8),
    };
    Ok(TimeCondition {
        days,
        start,
        end,
        zone,
    })
}
