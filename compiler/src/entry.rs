//! One ranked match of the route table and its compiled conditions.
//!
//! Conditions are tested cheapest first: method, path, headers, query,
//! geography, time window and, last, the GraphQL operation. So a lookup
//! requests the body only when every other condition already matches.

use http::HeaderName;
use jiff::tz::TimeZone;
use portcullis_crds::route::{GraphqlOperationType, HttpMethod, PathMatchType};
use regex::Regex;

use crate::pattern::{PathMatched, PathPattern};
use crate::request::{GraphqlInfo, RequestView};

/// Marks a template variable that no filter of the rule uses.
pub(crate) const NO_SLOT: u8 = u8::MAX;

/// One (Route, rule, match, host class) of the table. Its id is its rank.
#[derive(Debug)]
pub(crate) struct Entry {
    pub(crate) rule: u32,
    pub(crate) match_index: u16,
    /// Whether the rule has no matches and this entry stands for all
    /// requests.
    pub(crate) implicit: bool,
    pub(crate) priority: i32,
    pub(crate) path_kind: PathMatchType,
    pub(crate) path_value: Box<str>,
    pub(crate) path: PathPattern,
    /// Bit `1 << method` per allowed [`HttpMethod`]; 0 allows every method.
    pub(crate) methods: u16,
    pub(crate) headers: Box<[HeaderCondition]>,
    pub(crate) query: Box<[QueryCondition]>,
    pub(crate) countries: Option<Box<[[u8; 2]]>>,
    pub(crate) graphql: Option<GraphqlCondition>,
    pub(crate) time: Option<TimeCondition>,
    /// For each template variable of the path, its index in the rule's
    /// variables, or [`NO_SLOT`].
    pub(crate) capture_slots: Box<[u8]>,
    /// Number of rule variables, the length of the captures returned.
    pub(crate) slot_count: u8,
    /// Hostnames of the host class this entry serves; empty for all.
    pub(crate) hostnames: Box<[Box<str>]>,
}

/// A compiled header condition; names are lowercase.
#[derive(Debug)]
pub(crate) enum HeaderCondition {
    Exact(HeaderName, Box<[u8]>),
    Regex(HeaderName, Regex),
    Present(HeaderName),
    Absent(HeaderName),
}

/// A compiled query parameter condition on decoded values.
#[derive(Debug)]
pub(crate) enum QueryCondition {
    Exact(Box<str>, Box<str>),
    Regex(Box<str>, Regex),
    Present(Box<str>),
}

#[derive(Debug)]
pub(crate) struct GraphqlCondition {
    pub(crate) name: Option<Box<str>>,
    pub(crate) kind: Option<GraphqlOperationType>,
}

/// A weekly window of local time in minutes after midnight.
#[derive(Debug)]
pub(crate) struct TimeCondition {
    /// Bit `1 << day` per opening day, Monday = 0.
    pub(crate) days: u8,
    pub(crate) start: u16,
    pub(crate) end: u16,
    pub(crate) zone: TimeZone,
}

/// The first condition of an entry that failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Miss {
    Method,
    Path,
    Header(usize),
    Query(usize),
    Geo,
    Time,
    Graphql,
    /// Everything else holds, but the GraphQL operation is not known yet.
    GraphqlNotRead,
}

// === impl Entry ===

impl Entry {
    /// Tests every condition. Does not allocate, except when a compared
    /// query parameter contains percent-escapes or `+`.
    pub(crate) fn evaluate(&self, request: &RequestView<'_>) -> Result<PathMatched, Miss> {
        self.check_method(request)?;
        let matched = self.path.matches(request.path).ok_or(Miss::Path)?;
        self.check_after_path(request)?;
        Ok(matched)
    }

    /// Tests every condition like [`Self::evaluate`], without recording
    /// what the path captured.
    pub(crate) fn check(&self, request: &RequestView<'_>) -> Result<(), Miss> {
        self.check_method(request)?;
        if !self.path.is_match(request.path) {
            return Err(Miss::Path);
        }
        self.check_after_path(request)
    }

    fn check_method(&self, request: &RequestView<'_>) -> Result<(), Miss> {
        if self.methods != 0 && self.methods & method_bit(request.method) == 0 {
            return Err(Miss::Method);
        }
        Ok(())
    }

    /// Tests the conditions after the path, cheapest first.
    fn check_after_path(&self, request: &RequestView<'_>) -> Result<(), Miss> {
        for (index, condition) in self.headers.iter().enumerate() {
            if !condition.holds(request.headers) {
                return Err(Miss::Header(index));
            }
        }
        for (index, condition) in self.query.iter().enumerate() {
            if !condition.holds(request.query) {
                return Err(Miss::Query(index));
            }
        }
        if let Some(countries) = &self.countries {
            let found = request
                .country
                .is_some_and(|country| countries.iter().any(|code| code == country.as_bytes()));
            if !found {
                return Err(Miss::Geo);
            }
        }
        if let Some(window) = &self.time
            && !window.contains(request.now)
        {
            return Err(Miss::Time);
        }
        if let Some(graphql) = &self.graphql {
            match request.graphql {
                GraphqlInfo::NotRead => return Err(Miss::GraphqlNotRead),
                GraphqlInfo::Unavailable => return Err(Miss::Graphql),
                GraphqlInfo::Operation(operation) => {
                    let name_ok = graphql
                        .name
                        .as_deref()
                        .is_none_or(|name| operation.name == Some(name));
                    let kind_ok = graphql.kind.is_none_or(|kind| kind == operation.kind);
                    if !(name_ok && kind_ok) {
                        return Err(Miss::Graphql);
                    }
                }
            }
        }
        Ok(())
    }
}

/// The bit of a request method in [`Entry::methods`]; 0 for methods a
/// Route cannot list, which then never match a method condition.
pub(crate) fn method_bit(method: &http::Method) -> u16 {
    let index = match method.as_str() {
        "GET" => HttpMethod::Get,
        "HEAD" => HttpMethod::Head,
        "POST" => HttpMethod::Post,
        "PUT" => HttpMethod::Put,
        "DELETE" => HttpMethod::Delete,
        "CONNECT" => HttpMethod::Connect,
        "OPTIONS" => HttpMethod::Options,
        "TRACE" => HttpMethod::Trace,
        "PATCH" => HttpMethod::Patch,
        _ => return 0,
    };
    1 << index as u16
}

// === impl HeaderCondition ===

impl HeaderCondition {
    fn holds(&self, headers: &http::HeaderMap) -> bool {
        match self {
            Self::Exact(name, value) => headers
                .get_all(name)
                .iter()
                .any(|actual| actual.as_bytes() == &**value),
            Self::Regex(name, regex) => headers
                .get_all(name)
                .iter()
                .any(|actual| actual.to_str().is_ok_and(|text| regex.is_match(text))),
            Self::Present(name) => headers.contains_key(name),
            Self::Absent(name) => !headers.contains_key(name),
        }
    }

    pub(crate) fn name(&self) -> &HeaderName {
        match self {
            Self::Exact(name, _)
            | Self::Regex(name, _)
            | Self::Present(name)
            | Self::Absent(name) => name,
        }
    }
}

// === impl QueryCondition ===

impl QueryCondition {
    fn holds(&self, query: Option<&str>) -> bool {
        let pairs = form_urlencoded::parse(query.unwrap_or("").as_bytes());
        let mut pairs = pairs.filter(|(key, _)| key == self.name());
        match self {
            Self::Exact(_, expected) => pairs.any(|(_, value)| value == **expected),
            Self::Regex(_, regex) => pairs.any(|(_, value)| regex.is_match(&value)),
            Self::Present(_) => pairs.next().is_some(),
        }
    }

    pub(crate) fn name(&self) -> &str {
        match self {
            Self::Exact(name, _) | Self::Regex(name, _) | Self::Present(name) => name,
        }
    }
}

// === impl TimeCondition ===

impl TimeCondition {
    /// Returns whether `now` falls in the window. A window whose end is not after
    /// its start runs past midnight and belongs to the day it starts on.
    pub(crate) fn contains(&self, now: jiff::Timestamp) -> bool {
        let local = self.zone.to_datetime(now);
        let minute = local.hour() as u16 * 60 + local.minute() as u16;
        let day = local.weekday().to_monday_zero_offset() as u8;
        let opens_on = |day: u8| self.days & (1 << day) != 0;
        if self.start < self.end {
            return opens_on(day) && (self.start..self.end).contains(&minute);
        }
        let previous = (day + 6) % 7;
        (opens_on(day) && minute >= self.start) || (opens_on(previous) && minute < self.end)
    }
}
