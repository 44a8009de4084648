//! The route table: finds the winning rule for a request.
//!
//! Candidates are found by hostname (exact, then wildcard suffixes, then
//! Routes without hostnames) and by a trie over the literal leading path
//! segments of each match, so a lookup tests only the matches that share
//! the request's path prefix. Every match carries a global rank computed at
//! compile time; the lowest-ranked match that holds wins.

use std::sync::Arc;

use crate::entry::{Entry, Miss, NO_SLOT};
use crate::host::HostIndex;
use crate::pattern::PathMatched;
use crate::request::MAX_CAPTURES;
use crate::{Captures, ObjectRef, RequestView};

pub use crate::template::Template;

/// Where a rule sends requests.
#[derive(Clone, Debug, PartialEq)]
pub enum Action {
    /// Forward to one of these backends, chosen by weight.
    Forward(Backends),
    /// Answer directly.
    Respond(DirectResponse),
}

/// Weighted backends of one rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Backends {
    /// Backends with a weight above zero, in declaration order.
    pub backends: Vec<Backend>,
    /// Running sums of the weights, for weighted choice.
    pub cumulative: Vec<u64>,
}

impl Backends {
    /// Chooses a backend by weight from a uniformly random `draw`; `None`
    /// when every weight is zero.
    pub fn choose(&self, draw: u64) -> Option<&Backend> {
        let total = *self.cumulative.last()?;
        let point = draw % total;
        let index = self.cumulative.partition_point(|&sum| sum <= point);
        self.backends.get(index)
    }
}

/// One backend of a rule.
#[derive(Clone, Debug, PartialEq)]
pub struct Backend {
    /// Where the backend is.
    pub target: Target,
    /// Relative share of requests.
    pub weight: u32,
    /// Display name: `namespace/name:port` or the static endpoint.
    pub display: Arc<str>,
}

/// Address of a backend.
#[derive(Clone, Debug, PartialEq)]
pub enum Target {
    /// A static endpoint.
    Static {
        /// `http` or `https`.
        scheme: Scheme,
        /// `host:port` to connect to and to send as the default Host.
        authority: Arc<str>,
    },
    /// A Service port, with the ready endpoints resolved so far (empty when
    /// none are known, which makes the rule use its fallback).
    Service {
        /// Service namespace.
        namespace: Arc<str>,
        /// Service name.
        name: Arc<str>,
        /// Service port.
        port: u16,
        /// Ready endpoints as `ip:port`, sorted.
        endpoints: Arc<[Arc<str>]>,
    },
}

/// Scheme used to reach a backend.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Scheme {
    /// Plain HTTP.
    Http,
    /// HTTP over TLS.
    Https,
}

/// A response produced by the gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct DirectResponse {
    /// Status code.
    pub status: http::StatusCode,
    /// Headers; values may hold template variables.
    pub headers: Vec<(http::HeaderName, Template)>,
    /// Body; may hold template variables.
    pub body: Template,
}

/// Header changes, applied as remove, then set, then add.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct HeaderOps {
    /// Headers set, replacing existing values.
    pub set: Vec<(http::HeaderName, Template)>,
    /// Headers appended.
    pub add: Vec<(http::HeaderName, Template)>,
    /// Headers removed.
    pub remove: Vec<http::HeaderName>,
}

impl HeaderOps {
    /// Whether there is nothing to do.
    pub fn is_empty(&self) -> bool {
        self.set.is_empty() && self.add.is_empty() && self.remove.is_empty()
    }
}

/// A replacement for the path sent upstream or redirected to.
#[derive(Clone, Debug, PartialEq)]
pub enum PathRewrite {
    /// Replace the whole path.
    Full(Template),
    /// Replace the first `prefix_len` bytes of the path, the part matched by
    /// the rule's `Prefix` path match.
    Prefix {
        /// Replacement.
        replacement: Template,
        /// Length in bytes of the first match's prefix, without a trailing
        /// slash. A rule with several matches has one length per match:
        /// use [`Matched::prefix_len`] of the match that won.
        prefix_len: usize,
    },
}

/// Host and path rewrite before forwarding.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Rewrite {
    /// Host sent upstream.
    pub hostname: Option<Template>,
    /// Path sent upstream.
    pub path: Option<PathRewrite>,
}

/// A redirect answered by the gateway.
#[derive(Clone, Debug, PartialEq)]
pub struct Redirect {
    /// Scheme, when changed.
    pub scheme: Option<Scheme>,
    /// Hostname, when changed.
    pub hostname: Option<Arc<str>>,
    /// Port, when changed.
    pub port: Option<u16>,
    /// Path, when changed.
    pub path: Option<PathRewrite>,
    /// 301, 302, 303, 307 or 308.
    pub status: http::StatusCode,
}

/// One rule of one Route, ready to serve.
#[derive(Clone, Debug, PartialEq)]
pub struct Rule {
    /// The Route, shared by its rules.
    pub route: Arc<ObjectRef>,
    /// Index of the rule in `spec.rules`.
    pub index: usize,
    /// Rule name, when set.
    pub name: Option<Arc<str>>,
    /// What to do with matching requests.
    pub action: Action,
    /// What to do when no backend of `action` has a healthy endpoint.
    pub fallback: Option<Action>,
    /// Request header changes. Rules without any share one empty value,
    /// which keeps a rule small.
    pub request_headers: Arc<HeaderOps>,
    /// Response header changes, shared like `request_headers`.
    pub response_headers: Arc<HeaderOps>,
    /// Rewrite before forwarding.
    pub rewrite: Option<Rewrite>,
    /// Redirect instead of forwarding.
    pub redirect: Option<Redirect>,
}

/// The rule that won a lookup, with what its match captured.
#[derive(Clone, Copy, Debug)]
pub struct Matched<'t> {
    /// The winning rule.
    pub rule: &'t Rule,
    /// Index of the winning match within the rule's matches.
    pub match_index: usize,
    /// Template captures from the path match.
    pub captures: Captures,
    /// Length of the path prefix matched by a `Prefix` path match, for
    /// `ReplacePrefixMatch` rewrites. The prefix is counted without a
    /// trailing slash, so it is 0 for prefix `/` and 4 for `/api/`.
    pub prefix_len: usize,
}

/// Result of a lookup.
#[derive(Clone, Copy, Debug)]
pub enum Lookup<'t> {
    /// A rule won.
    Matched(Matched<'t>),
    /// No rule matches.
    NotFound,
    /// The outcome depends on the GraphQL operation in the body: read it
    /// and look up again with [`crate::GraphqlInfo`] set.
    NeedsBody,
}

/// The compiled, immutable route table of one snapshot.
#[derive(Debug, Default)]
pub struct RouteTable {
    pub(crate) rules: Vec<Rule>,
    /// Every match, indexed by rank.
    pub(crate) entries: Vec<Entry>,
    pub(crate) hosts: HostIndex,
    pub(crate) uses_geo: bool,
    pub(crate) uses_time: bool,
}

/// The best entry found so far by a lookup.
struct Search {
    best: u32,
    needs_body: u32,
}

impl RouteTable {
    /// Finds the winning rule. Does not allocate, except to decode a
    /// percent-escaped query parameter that a query condition compares.
    pub fn lookup<'t>(&'t self, request: &RequestView<'_>) -> Lookup<'t> {
        let mut search = Search {
            best: u32::MAX,
            needs_body: u32::MAX,
        };
        self.hosts.for_each_scope(request.host, |trie| {
            trie.walk(request.path, |entries| {
                self.test_node(entries, request, &mut search)
            });
        });
        if search.needs_body < search.best {
            return Lookup::NeedsBody;
        }
        let Some(entry) = self.entries.get(search.best as usize) else {
            return Lookup::NotFound;
        };
        // Candidates are tested without captures, so only the winner's
        // path is matched again to record them.
        let path = entry.path.matches(request.path);
        debug_assert!(path.is_some(), "the winning entry's path matches");
        Lookup::Matched(self.matched(entry, &path.unwrap_or_default()))
    }

    /// Tests the entries of one trie node in rank order, stopping at the
    /// first whose conditions match or at the best found so far. Always
    /// continues the walk, because deeper nodes may contain better-ranked
    /// entries.
    fn test_node(&self, entries: &[u32], request: &RequestView<'_>, search: &mut Search) -> bool {
        for &id in entries {
            if id >= search.best {
                break;
            }
            match self.entries[id as usize].check(request) {
                Ok(()) => {
                    search.best = id;
                    break;
                }
                Err(Miss::GraphqlNotRead) => search.needs_body = search.needs_body.min(id),
                Err(_) => {}
            }
        }
        true
    }

    /// Builds the result, with captures in the order of the rule's
    /// variables.
    pub(crate) fn matched<'t>(&'t self, entry: &Entry, path: &PathMatched) -> Matched<'t> {
        let mut ordered = [(0u32, 0u32); MAX_CAPTURES];
        for (index, &slot) in entry.capture_slots.iter().enumerate().take(path.span_count) {
            if slot != NO_SLOT {
                ordered[usize::from(slot)] = path.spans[index];
            }
        }
        let mut captures = Captures::default();
        for &(start, end) in &ordered[..usize::from(entry.slot_count)] {
            captures.push(start as usize, end as usize);
        }
        Matched {
            rule: &self.rules[entry.rule as usize],
            match_index: usize::from(entry.match_index),
            captures,
            prefix_len: path.prefix_len,
        }
    }

    /// Whether any match has a geography condition, so the caller knows
    /// whether to resolve the client's country.
    pub fn uses_geo(&self) -> bool {
        self.uses_geo
    }

    /// Whether any match has a time window, so the caller knows whether to
    /// read the clock.
    pub fn uses_time(&self) -> bool {
        self.uses_time
    }

    /// Number of rules.
    pub fn len(&self) -> usize {
        self.rules.len()
    }

    /// Whether the table has no rules.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of ranked matches: one per match and host class of each
    /// rule.
    pub fn match_count(&self) -> usize {
        self.entries.len()
    }
}
