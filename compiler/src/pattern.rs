//! Path patterns: compiling and matching the five path match kinds.
//!
//! Each pattern also reports its literal leading segments, which place it
//! in the route table's trie, and its count of literal characters, which
//! ranks it against patterns of the same kind.

use std::borrow::Cow;
use std::sync::Arc;

use globset::{GlobBuilder, GlobMatcher};
use portcullis_crds::route::{HeaderMatchType, PathMatchType, QueryMatchType};
use regex::{Regex, RegexBuilder};
use rustc_hash::FxHashMap;

use crate::ir::RouteIr;
use crate::request::MAX_CAPTURES;

/// Maximum compiled size of one regular expression, in bytes. Large enough
/// for ordinary path and header patterns, small enough that one Route
/// cannot make every compile slow.
pub(crate) const REGEX_SIZE_LIMIT: usize = 256 * 1024;

/// A compiled path condition.
#[derive(Clone, Debug)]
pub(crate) enum PathPattern {
    /// The whole path equals the value.
    Exact(Box<str>),
    /// The path equals the value or continues with `/`. Stored without a
    /// trailing slash, so the root prefix is the empty string.
    Prefix(Box<str>),
    /// A shell-style pattern, `*` within one segment and `**` across.
    Glob(Box<GlobMatcher>),
    /// An anchored regular expression.
    Regex(Regex),
    /// Segments with variables; shared, because one template serves every
    /// host class of its match.
    Template(Arc<PathTemplate>),
}

/// A parsed path template such as `/users/{id}/files/{*rest}`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PathTemplate {
    segments: Box<[TemplateSegment]>,
    /// Whether the last variable, `{*name}`, takes the rest of the path.
    rest: bool,
    /// Variable names in the order they appear.
    pub(crate) variables: Vec<String>,
}

#[derive(Clone, Debug, PartialEq, Eq)]
enum TemplateSegment {
    Literal(Box<str>),
    Variable,
}

/// Why a pattern does not compile: a CamelCase reason and a message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct PatternError {
    pub(crate) reason: &'static str,
    pub(crate) message: String,
}

/// Result of a successful path match: the length of a `Prefix` match and
/// the template variable spans.
#[derive(Clone, Copy, Debug, Default)]
pub(crate) struct PathMatched {
    pub(crate) prefix_len: usize,
    pub(crate) spans: [(u32, u32); MAX_CAPTURES],
    pub(crate) span_count: usize,
}

/// Compiled regexes, globs and templates by source text, shared by
/// validation and the table build so each distinct pattern compiles once
/// per compile.
#[derive(Debug, Default)]
pub(crate) struct PatternCache {
    globs: FxHashMap<Box<str>, PathPattern>,
    path_regexes: FxHashMap<Box<str>, PathPattern>,
    templates: FxHashMap<Box<str>, PathPattern>,
    regexes: FxHashMap<Box<str>, Regex>,
}

// === impl PatternCache ===

impl PatternCache {
    /// Compiles a path condition, reusing an earlier regex, glob or
    /// template.
    pub(crate) fn path(
        &mut self,
        kind: PathMatchType,
        value: &str,
    ) -> Result<PathPattern, PatternError> {
        let cache = match kind {
            PathMatchType::Exact | PathMatchType::Prefix => None,
            PathMatchType::Glob => Some(&mut self.globs),
            PathMatchType::Regex => Some(&mut self.path_regexes),
            PathMatchType::Template => Some(&mut self.templates),
        };
        let Some(cache) = cache else {
            return PathPattern::compile(kind, value);
        };
        if let Some(pattern) = cache.get(value) {
            return Ok(pattern.clone());
        }
        let pattern = PathPattern::compile(kind, value)?;
        cache.insert(value.into(), pattern.clone());
        Ok(pattern)
    }

    /// Adds the patterns of another cache, keeping this one's on a
    /// repeat, since both compiled the same text.
    pub(crate) fn merge(&mut self, other: PatternCache) {
        fn absorb<V>(into: &mut FxHashMap<Box<str>, V>, from: FxHashMap<Box<str>, V>) {
            if into.is_empty() {
                *into = from;
                return;
            }
            for (key, value) in from {
                into.entry(key).or_insert(value);
            }
        }
        absorb(&mut self.globs, other.globs);
        absorb(&mut self.path_regexes, other.path_regexes);
        absorb(&mut self.templates, other.templates);
        absorb(&mut self.regexes, other.regexes);
    }

    /// Checks that a path condition compiles, keeping a compiled regex,
    /// glob or template for [`Self::path`].
    pub(crate) fn check_path(
        &mut self,
        kind: PathMatchType,
        value: &str,
    ) -> Result<(), PatternError> {
        match kind {
            PathMatchType::Exact | PathMatchType::Prefix => check_leading_slash(kind, value),
            _ => self.path(kind, value).map(drop),
        }
    }

    /// Returns the variables of a template path, parsed once when the
    /// cache contains the template. Returns `None` when the template is
    /// invalid.
    pub(crate) fn template_variables(&self, value: &str) -> Option<Cow<'_, [String]>> {
        match self.templates.get(value) {
            Some(pattern) => Some(Cow::Borrowed(pattern.variables())),
            None => PathTemplate::parse(value)
                .ok()
                .map(|template| Cow::Owned(template.variables)),
        }
    }

    /// Compiles every regex, glob and template of `routes` that is missing
    /// from the cache, so that [`Self::shared_path`] and [`Self::shared_regex`]
    /// find them all.
    pub(crate) fn prepare(&mut self, routes: &[RouteIr]) {
        let matches = routes
            .iter()
            .flat_map(|route| &route.rules)
            .flat_map(|rule| &rule.matches);
        for route_match in matches {
            if let Some(path) = &route_match.path
                && !matches!(path.kind, PathMatchType::Exact | PathMatchType::Prefix)
            {
                let _ = self.path(path.kind, &path.value);
            }
            let header_regexes = route_match
                .headers
                .iter()
                .filter(|header| header.kind == HeaderMatchType::Regex)
                .filter_map(|header| header.value.as_deref());
            let query_regexes = route_match
                .query_params
                .iter()
                .filter(|param| param.kind == QueryMatchType::Regex)
                .filter_map(|param| param.value.as_deref());
            for value in header_regexes.chain(query_regexes) {
                let _ = self.regex(value);
            }
        }
    }

    /// Compiles a path condition like [`Self::path`] without adding to the
    /// cache, so threads can share it. A pattern missing from the cache is
    /// compiled for this call alone.
    pub(crate) fn shared_path(
        &self,
        kind: PathMatchType,
        value: &str,
    ) -> Result<PathPattern, PatternError> {
        let cache = match kind {
            PathMatchType::Exact | PathMatchType::Prefix => None,
            PathMatchType::Glob => Some(&self.globs),
            PathMatchType::Regex => Some(&self.path_regexes),
            PathMatchType::Template => Some(&self.templates),
        };
        match cache.and_then(|cache| cache.get(value)) {
            Some(pattern) => Ok(pattern.clone()),
            None => PathPattern::compile(kind, value),
        }
    }

    /// Compiles an anchored regex like [`Self::regex`] without adding to
    /// the cache.
    pub(crate) fn shared_regex(&self, value: &str) -> Result<Regex, PatternError> {
        match self.regexes.get(value) {
            Some(regex) => Ok(regex.clone()),
            None => compile_regex(value),
        }
    }

    /// Compiles an anchored regex, reusing an earlier one.
    pub(crate) fn regex(&mut self, value: &str) -> Result<Regex, PatternError> {
        if let Some(regex) = self.regexes.get(value) {
            return Ok(regex.clone());
        }
        let regex = compile_regex(value)?;
        self.regexes.insert(value.into(), regex.clone());
        Ok(regex)
    }
}

// === impl PathPattern ===

impl PathPattern {
    /// Compiles `value` as a path condition of type `kind`.
    pub(crate) fn compile(kind: PathMatchType, value: &str) -> Result<Self, PatternError> {
        check_leading_slash(kind, value)?;
        match kind {
            PathMatchType::Exact => Ok(Self::Exact(value.into())),
            PathMatchType::Prefix => Ok(Self::Prefix(value.trim_end_matches('/').into())),
            PathMatchType::Glob => compile_glob(value).map(|glob| Self::Glob(Box::new(glob))),
            PathMatchType::Regex => compile_regex(value).map(Self::Regex),
            PathMatchType::Template => {
                PathTemplate::parse(value).map(|t| Self::Template(Arc::new(t)))
            }
        }
    }

    /// Tests `path`. Does not allocate.
    pub(crate) fn matches(&self, path: &str) -> Option<PathMatched> {
        let mut matched = PathMatched::default();
        let hit = match self {
            Self::Exact(value) => path == &**value,
            Self::Prefix(prefix) => {
                matched.prefix_len = prefix.len();
                prefix_matches(prefix, path)
            }
            Self::Glob(glob) => glob.is_match(path),
            Self::Regex(regex) => regex.is_match(path),
            Self::Template(template) => template.matches(path, Some(&mut matched)),
        };
        hit.then_some(matched)
    }

    /// Tests `path` like [`Self::matches`], without recording captures,
    /// so testing a candidate copies no spans. Does not allocate.
    pub(crate) fn is_match(&self, path: &str) -> bool {
        match self {
            Self::Exact(value) => path == &**value,
            Self::Prefix(prefix) => prefix_matches(prefix, path),
            Self::Glob(glob) => glob.is_match(path),
            Self::Regex(regex) => regex.is_match(path),
            Self::Template(template) => template.matches(path, None),
        }
    }

    /// Template variable names; empty for other kinds.
    pub(crate) fn variables(&self) -> &[String] {
        match self {
            Self::Template(template) => &template.variables,
            _ => &[],
        }
    }
}

/// Rejects a path that does not start with `/`; a regex may start with
/// anything, such as `^` or a flag group.
fn check_leading_slash(kind: PathMatchType, value: &str) -> Result<(), PatternError> {
    if kind == PathMatchType::Regex || value.starts_with('/') {
        return Ok(());
    }
    Err(PatternError {
        reason: "InvalidPath",
        message: format!("path {value:?} must start with '/'; add the leading slash"),
    })
}

/// Returns whether `path` starts with `prefix` (stored without a trailing
/// slash) at a segment boundary.
pub(crate) fn prefix_matches(prefix: &str, path: &str) -> bool {
    match path.strip_prefix(prefix) {
        Some(rest) => rest.is_empty() || rest.starts_with('/') || prefix.is_empty(),
        None => false,
    }
}

/// Compiles a regex anchored at both ends, with the size limit.
pub(crate) fn compile_regex(value: &str) -> Result<Regex, PatternError> {
    RegexBuilder::new(&format!("^(?:{value})$"))
        .size_limit(REGEX_SIZE_LIMIT)
        .dfa_size_limit(REGEX_SIZE_LIMIT)
        .build()
        .map_err(|error| PatternError {
            reason: "InvalidRegex",
            message: format!(
                "regular expression {value:?} does not compile: {}; fix the syntax or \
                 simplify it (look-around and backreferences are not supported)",
                one_line(&error.to_string())
            ),
        })
}

fn compile_glob(value: &str) -> Result<GlobMatcher, PatternError> {
    GlobBuilder::new(value)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|error| PatternError {
            reason: "InvalidGlob",
            message: format!("glob {value:?} does not compile: {error}; fix the pattern"),
        })
}

fn one_line(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The literal leading path of a pattern, cut at a segment boundary: every
/// path the pattern matches starts with it. Returns the text without a
/// trailing slash, so `/api` for Prefix `/api/`, Template `/api/{id}` or
/// Regex `/api/v[0-9]+`, and the empty string for the root.
pub(crate) fn literal_prefix(kind: PathMatchType, value: &str) -> &str {
    match kind {
        PathMatchType::Exact => value,
        PathMatchType::Prefix => value.trim_end_matches('/'),
        PathMatchType::Template => cut_before_meta(value, |c| c == '{'),
        PathMatchType::Glob => cut_before_meta(value, |c| "*?[{\\".contains(c)),
        PathMatchType::Regex => regex_literal_prefix(value),
    }
}

/// Cuts `value` at the last `/` before the first meta character.
fn cut_before_meta(value: &str, is_meta: impl Fn(char) -> bool) -> &str {
    match value.find(is_meta) {
        Some(index) => cut_at_last_slash(&value[..index]),
        None => value,
    }
}

fn cut_at_last_slash(value: &str) -> &str {
    value.rfind('/').map_or("", |slash| &value[..slash])
}

/// A conservative literal prefix of an anchored regex: empty whenever the
/// expression has an alternation, so `/a/x|/b/y` is not filed under `/a`.
fn regex_literal_prefix(value: &str) -> &str {
    let body = value.strip_prefix('^').unwrap_or(value);
    if !body.starts_with('/') || body.contains('|') {
        return "";
    }
    let meta = body.find(|c: char| "\\.+*?()[]{}^$".contains(c));
    let Some(index) = meta else {
        return cut_at_last_slash(body.strip_suffix('$').unwrap_or(body));
    };
    // A quantifier applies to the character before it, which is then not
    // certain to appear.
    let quantified = matches!(body.as_bytes()[index], b'?' | b'*' | b'+' | b'{');
    let end = if quantified {
        index.saturating_sub(1)
    } else {
        index
    };
    cut_at_last_slash(&body[..end])
}

/// Number of literal characters, which ranks patterns of one kind.
pub(crate) fn literal_len(kind: PathMatchType, value: &str) -> usize {
    match kind {
        PathMatchType::Exact => value.len(),
        PathMatchType::Prefix => value.trim_end_matches('/').len(),
        PathMatchType::Template => value
            .split('/')
            .filter(|segment| !segment.starts_with('{'))
            .map(|segment| segment.len() + 1)
            .sum::<usize>()
            .saturating_sub(1),
        PathMatchType::Glob => value.chars().filter(|c| !"*?[]{},\\".contains(*c)).count(),
        PathMatchType::Regex => regex_literal_prefix(value).len(),
    }
}

/// Splits a path into the segments the trie walks: `/a/b` gives `a`, `b`
/// and `/` gives one empty segment.
pub(crate) fn segments(path: &str) -> std::str::Split<'_, char> {
    path.strip_prefix('/').unwrap_or(path).split('/')
}

/// Splits a literal prefix into the segments it is filed under in the trie.
pub(crate) fn prefix_segments(prefix: &str) -> impl Iterator<Item = &str> {
    let trimmed = prefix.strip_prefix('/').unwrap_or(prefix);
    trimmed.split('/').filter(move |_| !trimmed.is_empty())
}

// === impl PathTemplate ===

impl PathTemplate {
    /// Parses a template: `{name}` takes one whole segment, a last
    /// `{*name}` takes the rest of the path, names are unique identifiers
    /// and there are at most [`MAX_CAPTURES`] variables.
    pub(crate) fn parse(value: &str) -> Result<Self, PatternError> {
        let invalid = |message: String| PatternError {
            reason: "InvalidTemplate",
            message,
        };
        let parts: Vec<&str> = segments(value).collect();
        let mut template = Self {
            segments: Box::default(),
            rest: false,
            variables: Vec::new(),
        };
        let mut parsed = Vec::with_capacity(parts.len());
        for (index, part) in parts.iter().enumerate() {
            let is_last = index + 1 == parts.len();
            parsed.push(template.parse_segment(part, is_last).map_err(invalid)?);
        }
        if template.variables.len() > MAX_CAPTURES {
            return Err(invalid(format!(
                "template {value:?} has {} variables; use at most {MAX_CAPTURES}",
                template.variables.len()
            )));
        }
        template.segments = parsed.into();
        Ok(template)
    }

    fn parse_segment(&mut self, part: &str, is_last: bool) -> Result<TemplateSegment, String> {
        if !part.contains(['{', '}']) {
            return Ok(TemplateSegment::Literal(part.into()));
        }
        let Some(inner) = part.strip_prefix('{').and_then(|p| p.strip_suffix('}')) else {
            return Err(format!(
                "segment {part:?} mixes text and a variable; a variable such as {{id}} \
                 must be a whole segment"
            ));
        };
        let (name, rest) = match inner.strip_prefix('*') {
            Some(name) => (name, true),
            None => (inner, false),
        };
        if rest && !is_last {
            return Err(format!(
                "rest variable {{*{name}}} must be the last segment"
            ));
        }
        if !is_identifier(name) {
            return Err(format!(
                "variable name {name:?} is invalid; use letters, digits and '_', not starting with a digit"
            ));
        }
        if self.variables.iter().any(|known| known == name) {
            return Err(format!(
                "variable {{{name}}} appears twice; give each variable its own name"
            ));
        }
        self.variables.push(name.to_owned());
        self.rest = rest;
        Ok(TemplateSegment::Variable)
    }

    /// Tests `path`, recording variable spans into `matched` when given.
    fn matches(&self, path: &str, mut matched: Option<&mut PathMatched>) -> bool {
        let Some(mut remaining) = path.strip_prefix('/') else {
            return false;
        };
        let mut offset = 1;
        let count = self.segments.len();
        for (index, segment) in self.segments.iter().enumerate() {
            let is_rest = self.rest && index + 1 == count;
            let end = if is_rest {
                remaining.len()
            } else {
                remaining
                    .bytes()
                    .position(|b| b == b'/')
                    .unwrap_or(remaining.len())
            };
            let text = &remaining[..end];
            match segment {
                TemplateSegment::Literal(literal) if text != &**literal => return false,
                TemplateSegment::Literal(_) => {}
                TemplateSegment::Variable if text.is_empty() => return false,
                TemplateSegment::Variable => {
                    if let Some(matched) = matched.as_deref_mut() {
                        matched.spans[matched.span_count] = (offset as u32, (offset + end) as u32);
                        matched.span_count += 1;
                    }
                }
            }
            let is_last = index + 1 == count;
            if is_last {
                return end == remaining.len();
            }
            if end == remaining.len() {
                return false;
            }
            remaining = &remaining[end + 1..];
            offset += end + 1;
        }
        false
    }
}

/// Whether `name` is a variable name: ASCII letters, digits and `_`, not
/// starting with a digit.
pub(crate) fn is_identifier(name: &str) -> bool {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
    first_ok && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regex_literal_prefix_is_conservative() {
        assert_eq!(regex_literal_prefix("/api/v[0-9]+/x"), "/api");
        assert_eq!(regex_literal_prefix("^/api/v1/.*"), "/api/v1");
        assert_eq!(regex_literal_prefix("/a/x|/b/y"), "");
        assert_eq!(regex_literal_prefix("/a/?x"), "");
        assert_eq!(regex_literal_prefix("(?i)/admin"), "");
        assert_eq!(regex_literal_prefix("/a/b"), "/a");
    }

    #[test]
    fn template_rejects_bad_syntax() {
        for bad in ["/a/{id", "/a/x{id}", "/{*rest}/a", "/{1x}", "/{a}/{a}"] {
            assert!(
                PathTemplate::parse(bad).is_err(),
                "{bad} should be rejected"
            );
        }
    }

    #[test]
    fn template_captures_segments_and_rest() {
        let pattern = PathPattern::compile(PathMatchType::Template, "/u/{id}/f/{*rest}")
            .expect("template compiles");
        let path = "/u/42/f/a/b.txt";
        let matched = pattern.matches(path).expect("template matches");
        assert_eq!(matched.span_count, 2);
        let (start, end) = matched.spans[0];
        assert_eq!(&path[start as usize..end as usize], "42");
        let (start, end) = matched.spans[1];
        assert_eq!(&path[start as usize..end as usize], "a/b.txt");
        assert!(pattern.matches("/u/42/f").is_none());
        assert!(pattern.matches("/u//f/x").is_none());
    }

    #[test]
    fn literal_prefix_cuts_at_segment() {
        assert_eq!(
            literal_prefix(PathMatchType::Glob, "/static/*.css"),
            "/static"
        );
        assert_eq!(literal_prefix(PathMatchType::Glob, "/static*"), "");
        assert_eq!(literal_prefix(PathMatchType::Template, "/u/{id}"), "/u");
        assert_eq!(literal_prefix(PathMatchType::Prefix, "/"), "");
        assert_eq!(prefix_segments("").count(), 0);
        assert_eq!(prefix_segments("/a/b").collect::<Vec<_>>(), ["a", "b"]);
    }
}
