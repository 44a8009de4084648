//! Builds the route table from the IR: compiles every match, ranks all of
//! them globally and files them in the tries of their host scopes.
//!
//! Ranking (lower wins): priority, highest first; then specificity, most
//! specific first (see [`Specificity`]); then namespace, name, rule index,
//! match index. The order therefore never depends on input order.

use std::cmp::Reverse;
use std::sync::Arc;
use std::sync::LazyLock;

use http::HeaderName;
use portcullis_crds::route::{
    HeaderMatchType, PathMatchType, QueryMatchType, RouteMatch, TimeWindow,
};
use rustc_hash::FxHashMap;

use crate::ObjectRef;
use crate::entry::{
    Entry, GraphqlCondition, HeaderCondition, NO_SLOT, QueryCondition, TimeCondition,
};
use crate::host::{HostIndex, HostKey};
use crate::ir::{RouteIr, SnapshotIr};
use crate::parallel;
use crate::pattern::{PatternCache, literal_len, literal_prefix, prefix_segments};
use crate::table::{RouteTable, Rule};
use crate::trie::Trie;
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

/// A match of one host class of a rule, ranked before it is compiled, so
/// entries are compiled straight into their place in the table.
struct Pending<'a> {
    key: RankKey,
    route: &'a RouteIr,
    route_match: &'a RouteMatch,
    rule: u32,
    /// Index in [`Ranking::classes`].
    class: u32,
    /// True when the rule has no matches, so the entry matches every
    /// request.
    implicit: bool,
    /// Literal path prefix the entry is filed under.
    prefix: &'a str,
}

/// Ranked matches, host classes and host scopes of every Route.
#[derive(Default)]
struct Ranking<'a> {
    pending: Vec<Pending<'a>>,
    /// Host classes, each with its range of `class_scopes`.
    classes: Vec<(HostClass<'a>, (u32, u32))>,
    /// Scope indexes of each host class, in ranges.
    class_scopes: Vec<u32>,
    /// Every host scope, by index, and the index of each.
    scopes: Vec<HostKey<'a>>,
    scope_ids: FxHashMap<HostKey<'a>, u32>,
}

/// Builds the table on up to `threads` threads. Matches whose patterns
/// fail to compile are left out and reported as messages. IR made by
/// [`crate::compile`] has none. A pattern missing from `patterns` is
/// compiled for each match that uses it, so the caller fills the cache
/// first (see [`PatternCache::prepare`]).
pub(crate) fn build_table(
    ir: &SnapshotIr,
    patterns: &PatternCache,
    threads: usize,
) -> (RouteTable, Vec<String>) {
    let mut table = RouteTable::default();
    let built = parallel::map_chunks(&ir.routes, threads, |_, routes| {
        build_rules(routes, patterns)
    });
    let rule_count = built.iter().map(|(rules, _)| rules.len()).sum();
    table.rules.reserve_exact(rule_count);
    let mut variables = Vec::with_capacity(rule_count);
    for (rules, rule_variables) in built {
        table.rules.extend(rules);
        variables.extend(rule_variables);
    }
    let mut ranking = Ranking {
        pending: Vec::with_capacity(rule_count),
        ..Ranking::default()
    };
    let order = route_order(&ir.routes);
    let mut rule_id = 0;
    for (route, &position) in ir.routes.iter().zip(&order) {
        rank_route(route, position, &mut rule_id, &mut ranking);
    }
    parallel::sort_unstable_by(&mut ranking.pending, threads, |a, b| a.key.cmp(&b.key));
    let compiled = parallel::map_chunks(&ranking.pending, threads, |_, items| {
        items
            .iter()
            .map(|item| ranked_entry(item, &ranking, &variables, patterns))
            .collect::<Vec<_>>()
    });
    let mut problems = Vec::new();
    // (scope, entry id, prefix) for every filing, sorted by scope below,
    // so each trie is built in one go.
    let mut filings: Vec<(u32, u32, &str)> = Vec::with_capacity(ranking.pending.len());
    table.entries.reserve_exact(ranking.pending.len());
    for (item, compiled) in ranking.pending.iter().zip(compiled.into_iter().flatten()) {
        let entry = match compiled {
            Ok(entry) => entry,
            Err(problem) => {
                problems.push(problem);
                continue;
            }
        };
        let (_, (start, end)) = &ranking.classes[item.class as usize];
        let id = table.entries.len() as u32;
        for &scope in &ranking.class_scopes[*start as usize..*end as usize] {
            filings.push((scope, id, item.prefix));
        }
        table.uses_geo |= entry.countries.is_some();
        table.uses_time |= entry.time.is_some();
        table.entries.push(entry);
    }
    filings.sort_unstable_by_key(|&(scope, id, _)| (scope, id));
    let tries = build_tries(&filings, &ranking.scopes, threads);
    table.hosts = HostIndex::new(ranking.scopes.into_iter().zip(tries));
    (table, problems)
}

/// Compiles the entry of a ranked match. Returns an error message naming
/// the match when its patterns do not compile.
fn ranked_entry(
    item: &Pending<'_>,
    ranking: &Ranking<'_>,
    variables: &[Vec<String>],
    patterns: &PatternCache,
) -> Result<Entry, String> {
    let (_, rule_index, match_index, _) = position_of(&item.key);
    let variables = &variables[item.rule as usize];
    let mut entry = compile_entry(item.route_match, variables, patterns).map_err(|message| {
        format!(
            "{}/{} spec.rules[{rule_index}].matches[{match_index}]: {message}",
            item.route.namespace, item.route.name
        )
    })?;
    let (class, _) = &ranking.classes[item.class as usize];
    entry.rule = item.rule;
    entry.match_index = match_index as u16;
    entry.implicit = item.implicit;
    entry.priority = item.route.priority;
    entry.hostnames = class.hostnames.iter().map(|h| Box::from(*h)).collect();
    Ok(entry)
}

/// Builds the rules of a run of Routes, with the template variables of
/// each rule.
fn build_rules(routes: &[RouteIr], patterns: &PatternCache) -> (Vec<Rule>, Vec<Vec<String>>) {
    let count = routes.iter().map(|route| route.rules.len()).sum();
    let mut rules = Vec::with_capacity(count);
    let mut variables = Vec::with_capacity(count);
    for route in routes {
        let object = Arc::new(ObjectRef::new("Route", &route.namespace, &route.name));
        for (index, rule) in route.rules.iter().enumerate() {
            let names = rule_variables(&rule.matches, patterns);
            rules.push(crate::rule::build_rule(&object, index, rule, &names));
            variables.push(names);
        }
    }
    (rules, variables)
}

/// Builds the trie of every scope from filings sorted by scope, splitting
/// the scopes across threads.
fn build_tries(filings: &[(u32, u32, &str)], scopes: &[HostKey<'_>], threads: usize) -> Vec<Trie> {
    let chunks = parallel::map_chunks(scopes, threads, |start, chunk| {
        let first = start as u32;
        let end = first + chunk.len() as u32;
        let from = filings.partition_point(|filing| filing.0 < first);
        let to = filings.partition_point(|filing| filing.0 < end);
        let mut tries: Vec<Trie> = Vec::with_capacity(chunk.len());
        tries.resize_with(chunk.len(), Trie::default);
        for &(scope, id, prefix) in &filings[from..to] {
            tries[(scope - first) as usize].insert(prefix_segments(prefix), id);
        }
        tries.iter_mut().for_each(Trie::finish);
        tries
    });
    chunks.into_iter().flatten().collect()
}

/// Returns the Route position, rule index, match index and host class
/// index of a rank key.
fn position_of(key: &RankKey) -> (u32, u32, u32, u32) {
    (key.2, key.3, key.4, key.5)
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

/// Ranks the matches of a Route, whose first rule has id `rule_id`.
fn rank_route<'a>(route: &'a RouteIr, position: u32, rule_id: &mut u32, ranking: &mut Ranking<'a>) {
    let first_class = ranking.classes.len() as u32;
    for class in host_classes(&route.hostnames) {
        let start = ranking.class_scopes.len() as u32;
        for key in host_keys(&class) {
            let next = ranking.scopes.len() as u32;
            let scope = *ranking.scope_ids.entry(key).or_insert(next);
            if scope == next {
                ranking.scopes.push(key);
            }
            ranking.class_scopes.push(scope);
        }
        let scopes = (start, ranking.class_scopes.len() as u32);
        ranking.classes.push((class, scopes));
    }
    let classes = first_class..ranking.classes.len() as u32;
    for (rule_index, rule) in route.rules.iter().enumerate() {
        let matches = if rule.matches.is_empty() {
            &IMPLICIT_MATCH[..]
        } else {
            &rule.matches[..]
        };
        for (match_index, route_match) in matches.iter().enumerate() {
            let (kind, value) = path_kind(route_match);
            let prefix = literal_prefix(kind, value);
            for class in classes.clone() {
                let (host_class, _) = &ranking.classes[class as usize];
                let key = (
                    Reverse(route.priority),
                    Reverse(specificity(route_match, host_class)),
                    position,
                    rule_index as u32,
                    match_index as u32,
                    class - first_class,
                );
                ranking.pending.push(Pending {
                    key,
                    route,
                    route_match,
                    rule: *rule_id,
                    class,
                    implicit: rule.matches.is_empty(),
                    prefix,
                });
            }
        }
        *rule_id += 1;
    }
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

/// Returns the path match kind and value; a match without a path is a
/// Prefix match on `/`.
fn path_kind(route_match: &RouteMatch) -> (PathMatchType, &str) {
    match &route_match.path {
        Some(path) => (path.kind, path.value.as_str()),
        None => (PathMatchType::Prefix, "/"),
    }
}

fn specificity(route_match: &RouteMatch, class: &HostClass<'_>) -> Specificity {
    let (kind, value) = path_kind(route_match);
    let path_kind = match kind {
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
        path_literal: literal_len(kind, value) as u32,
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
    patterns: &PatternCache,
) -> Result<Entry, String> {
    let (path_kind, path_value) = path_kind(route_match);
    let path = patterns
        .shared_path(path_kind, path_value)
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
    patterns: &PatternCache,
) -> Result<HeaderCondition, String> {
    let name = HeaderName::from_bytes(header.name.as_bytes())
        .map_err(|_| format!("header name {:?} is invalid", header.name))?;
    let value = header.value.as_deref().unwrap_or_default();
    Ok(match header.kind {
        HeaderMatchType::Exact => HeaderCondition::Exact(name, value.as_bytes().into()),
        HeaderMatchType::Regex => {
            HeaderCondition::Regex(name, patterns.shared_regex(value).map_err(|e| e.message)?)
        }
        HeaderMatchType::Present => HeaderCondition::Present(name),
        HeaderMatchType::Absent => HeaderCondition::Absent(name),
    })
}

fn compile_query(
    param: &portcullis_crds::route::QueryParamMatch,
    patterns: &PatternCache,
) -> Result<QueryCondition, String> {
    let name: Box<str> = param.name.as_str().into();
    let value = param.value.as_deref().unwrap_or_default();
    Ok(match param.kind {
        QueryMatchType::Exact => QueryCondition::Exact(name, value.into()),
        QueryMatchType::Regex => {
            QueryCondition::Regex(name, patterns.shared_regex(value).map_err(|e| e.message)?)
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
