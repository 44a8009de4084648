//! Shadowing and duplicate findings on accepted Routes.
//!
//! Match B is shadowed when a better-ranked match A takes every request B
//! would take. That is the case when A's hostnames cover B's, A's path
//! covers B's path, A allows every method B allows, and every other
//! condition of A is also a condition of B. When B also covers A, the two
//! are duplicates.
//!
//! Candidates for A are found the way a lookup finds them: in the host
//! scopes of B's first hostname, at the trie nodes along B's literal path
//! prefix. So the pass stays near-linear instead of comparing all pairs.

use std::collections::BTreeMap;

use portcullis_crds::route::PathMatchType;

use crate::entry::{Entry, HeaderCondition, QueryCondition};
use crate::host::HostKey;
use crate::pattern::{literal_prefix, prefix_matches, prefix_segments};
use crate::trie::Trie;
use crate::{Diagnostic, Finding, FindingKind, ObjectRef, Outcome, RouteTable};

/// Adds findings to the diagnostics of the losing Routes.
/// Looks for winners on up to `threads` threads.
pub(crate) fn attach_findings(table: &RouteTable, diagnostics: &mut [Diagnostic], threads: usize) {
    // (rule, match, entry, winner), grouped by match after sorting. Rules
    // are numbered in Route order, so the findings come out sorted.
    let chunks = crate::parallel::map_chunks(&table.entries, threads, |start, entries| {
        entries
            .iter()
            .enumerate()
            .map(|(offset, entry)| {
                let id = (start + offset) as u32;
                (entry.rule, entry.match_index, id, find_winner(table, id))
            })
            .collect::<Vec<_>>()
    });
    let mut outcomes: Vec<(u32, u16, u32, Option<u32>)> = chunks.concat();
    outcomes.sort_unstable();
    let mut by_object: BTreeMap<ObjectRef, Vec<Finding>> = BTreeMap::new();
    for group in outcomes.chunk_by(|a, b| (a.0, a.1) == (b.0, b.1)) {
        // A match with several host classes is shadowed only when every
        // class is.
        if group.iter().any(|outcome| outcome.3.is_none()) {
            continue;
        }
        let (rule, _, loser, Some(winner)) = group[0] else {
            continue;
        };
        let route = ObjectRef::clone(&table.rules[rule as usize].route);
        by_object
            .entry(route)
            .or_default()
            .push(finding(table, loser, winner));
    }
    // A rejected copy of a duplicated Route shares its name with the
    // accepted one, so only accepted diagnostics take findings.
    let accepted = diagnostics
        .iter_mut()
        .filter(|diagnostic| diagnostic.outcome == Outcome::Accepted);
    for diagnostic in accepted {
        if let Some(findings) = by_object.remove(&diagnostic.object) {
            diagnostic.findings = findings;
        }
    }
}

fn finding(table: &RouteTable, loser: u32, winner: u32) -> Finding {
    let (_, field) = table.entry_origin(loser);
    let (winner_route, winner_field) = table.entry_origin(winner);
    let a = &table.entries[winner as usize];
    let b = &table.entries[loser as usize];
    let kind = if covers(b, a) {
        FindingKind::Duplicate
    } else {
        FindingKind::Shadowed
    };
    let message = match kind {
        FindingKind::Duplicate => format!(
            "{field} matches exactly the same requests as {winner_field} of {winner_route}, which ranks higher, \
             so it never wins; remove one of them or change a condition"
        ),
        FindingKind::Shadowed => format!(
            "{field} is shadowed by {winner_field} of {winner_route}, which ranks higher and takes every \
             request it would take; raise its priority or narrow the other match"
        ),
    };
    Finding {
        kind,
        field,
        winner: winner_route,
        winner_field,
        message,
    }
}

/// Finds the best-ranked entry that covers entry `loser`, if any.
fn find_winner(table: &RouteTable, loser: u32) -> Option<u32> {
    let entry = &table.entries[loser as usize];
    let prefix = literal_prefix(entry.path_kind, &entry.path_value);
    let mut best: Option<u32> = None;
    let mut visit = |trie: &Trie| {
        trie.ancestors(prefix_segments(prefix), |ids| {
            for &id in ids {
                if id >= loser || best.is_some_and(|b| id >= b) {
                    break;
                }
                let candidate = &table.entries[id as usize];
                if !same_match(candidate, entry) && covers(candidate, entry) {
                    best = Some(id);
                    break;
                }
            }
        });
    };
    for key in candidate_scopes(entry).into_iter().flatten() {
        if let Some(trie) = table.hosts.trie(key) {
            visit(trie);
        }
    }
    if let Some(first) = entry.hostnames.first() {
        for suffix in wildcard_suffixes(first) {
            if !table.hosts.may_have_wildcard(suffix) {
                continue;
            }
            if let Some(trie) = table.hosts.trie(HostKey::Wildcard(suffix)) {
                visit(trie);
            }
        }
    }
    best
}

/// Exact and catch-all scopes where a covering match of `entry` can be
/// filed; wildcard scopes come from [`wildcard_suffixes`].
fn candidate_scopes(entry: &Entry) -> [Option<HostKey<'_>>; 2] {
    let exact = entry
        .hostnames
        .first()
        .filter(|first| !first.starts_with("*."))
        .map(|first| HostKey::Exact(first));
    [Some(HostKey::CatchAll), exact]
}

/// Suffixes of wildcards that match `hostname`: for `a.b.c` these are
/// `b.c` and `c`; for `*.b.c` they are `b.c` and `c`.
fn wildcard_suffixes(hostname: &str) -> impl Iterator<Item = &str> {
    let name = hostname.strip_prefix("*.").map_or(hostname, |rest| rest);
    let own = hostname.starts_with("*.").then_some(name);
    let shorter = name
        .match_indices('.')
        .map(move |(index, _)| &name[index + 1..]);
    own.into_iter().chain(shorter)
}

/// Returns whether two entries are host classes of the same match.
fn same_match(a: &Entry, b: &Entry) -> bool {
    a.rule == b.rule && a.match_index == b.match_index
}

/// Returns whether `a` takes every request `b` would take, ignoring rank.
fn covers(a: &Entry, b: &Entry) -> bool {
    covers_hosts(&a.hostnames, &b.hostnames)
        && covers_path(a, b)
        && (a.methods == 0 || (b.methods != 0 && b.methods & !a.methods == 0))
        && a.headers
            .iter()
            .all(|ha| b.headers.iter().any(|hb| same_header(ha, hb)))
        && a.query
            .iter()
            .all(|qa| b.query.iter().any(|qb| same_query(qa, qb)))
        && covers_geo(a, b)
        && a.graphql.as_ref().is_none_or(|ga| {
            b.graphql
                .as_ref()
                .is_some_and(|gb| ga.name == gb.name && ga.kind == gb.kind)
        })
        && a.time.as_ref().is_none_or(|ta| {
            b.time.as_ref().is_some_and(|tb| {
                ta.days == tb.days && ta.start == tb.start && ta.end == tb.end && ta.zone == tb.zone
            })
        })
}

fn covers_hosts(a: &[Box<str>], b: &[Box<str>]) -> bool {
    if a.is_empty() {
        return true;
    }
    !b.is_empty() && b.iter().all(|hb| a.iter().any(|ha| host_covers(ha, hb)))
}

/// Returns whether Route hostname `a` matches every host that `b` matches.
fn host_covers(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match a.strip_prefix("*.") {
        Some(suffix) => {
            let b_name = b.strip_prefix("*.").unwrap_or(b);
            b_name.len() > suffix.len()
                && b_name.ends_with(suffix)
                && b_name[..b_name.len() - suffix.len()].ends_with('.')
        }
        None => false,
    }
}

fn covers_path(a: &Entry, b: &Entry) -> bool {
    if a.path_kind == PathMatchType::Prefix {
        let a_prefix = a.path_value.trim_end_matches('/');
        let b_literal = literal_prefix(b.path_kind, &b.path_value);
        return prefix_matches(a_prefix, b_literal);
    }
    a.path_kind == b.path_kind && a.path_value == b.path_value
}

fn covers_geo(a: &Entry, b: &Entry) -> bool {
    match (&a.countries, &b.countries) {
        (None, _) => true,
        (Some(_), None) => false,
        (Some(a), Some(b)) => b.iter().all(|code| a.contains(code)),
    }
}

fn same_header(a: &HeaderCondition, b: &HeaderCondition) -> bool {
    match (a, b) {
        (HeaderCondition::Exact(na, va), HeaderCondition::Exact(nb, vb)) => na == nb && va == vb,
        (HeaderCondition::Regex(na, ra), HeaderCondition::Regex(nb, rb)) => {
            na == nb && ra.as_str() == rb.as_str()
        }
        (HeaderCondition::Present(na), HeaderCondition::Present(nb)) => na == nb,
        (HeaderCondition::Absent(na), HeaderCondition::Absent(nb)) => na == nb,
        // An exact value implies presence.
        (
            HeaderCondition::Present(na),
            HeaderCondition::Exact(nb, _) | HeaderCondition::Regex(nb, _),
        ) => na == nb,
        _ => false,
    }
}

fn same_query(a: &QueryCondition, b: &QueryCondition) -> bool {
    match (a, b) {
        (QueryCondition::Exact(na, va), QueryCondition::Exact(nb, vb)) => na == nb && va == vb,
        (QueryCondition::Regex(na, ra), QueryCondition::Regex(nb, rb)) => {
            na == nb && ra.as_str() == rb.as_str()
        }
        (QueryCondition::Present(na), QueryCondition::Present(nb)) => na == nb,
        (
            QueryCondition::Present(na),
            QueryCondition::Exact(nb, _) | QueryCondition::Regex(nb, _),
        ) => na == nb,
        _ => false,
    }
}
