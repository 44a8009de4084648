//! Host scopes: the tries of exact hostnames, wildcard suffixes and Routes
//! without hostnames, and the allocation-free host normalization that picks
//! the scopes of a request.

use rustc_hash::FxHashMap;

use crate::trie::Trie;

/// Maximum length of a looked-up hostname, the DNS maximum. A longer Host
/// header only reaches Routes without hostnames.
const MAX_HOST_LEN: usize = 253;

/// The tries of every host scope.
#[derive(Debug, Default)]
pub(crate) struct HostIndex {
    /// Exact hostnames, lowercase.
    pub(crate) exact: FxHashMap<Box<str>, Trie>,
    /// Wildcard hostnames by their suffix: `*.example.com` under
    /// `example.com`.
    pub(crate) wildcard: FxHashMap<Box<str>, Trie>,
    /// Routes without hostnames.
    pub(crate) catch_all: Trie,
    /// Bit `len % 64` set for the length of every key of `wildcard`, so a
    /// lookup skips hashing the suffixes of a request host that no wildcard
    /// can match.
    pub(crate) wildcard_lengths: u64,
}

/// The host scope a Route hostname files its matches under.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub(crate) enum HostKey<'a> {
    Exact(&'a str),
    Wildcard(&'a str),
    CatchAll,
}

impl HostIndex {
    /// Builds the index from the trie of each scope, finishing each trie.
    pub(crate) fn new<'a>(scopes: impl ExactSizeIterator<Item = (HostKey<'a>, Trie)>) -> Self {
        let mut index = Self::default();
        index.exact.reserve(scopes.len());
        for (key, mut trie) in scopes {
            trie.finish();
            match key {
                HostKey::Exact(host) => {
                    index.exact.insert(host.into(), trie);
                }
                HostKey::Wildcard(suffix) => {
                    index.wildcard_lengths |= length_bit(suffix);
                    index.wildcard.insert(suffix.into(), trie);
                }
                HostKey::CatchAll => index.catch_all = trie,
            }
        }
        index
    }

    /// Returns the trie of a scope, when it exists.
    pub(crate) fn trie(&self, key: HostKey<'_>) -> Option<&Trie> {
        match key {
            HostKey::Exact(host) => self.exact.get(host),
            HostKey::Wildcard(suffix) => self.wildcard.get(suffix),
            HostKey::CatchAll => Some(&self.catch_all),
        }
    }

    /// Returns false when no wildcard has `suffix`, judged by its length
    /// alone, so most suffixes need no hashing.
    pub(crate) fn may_have_wildcard(&self, suffix: &str) -> bool {
        self.wildcard_lengths & length_bit(suffix) != 0
    }

    /// Calls `visit` with each trie whose Routes serve `host`: the exact
    /// hostname, every matching wildcard suffix, then the catch-all. The
    /// host is compared in lowercase, without its port and trailing dot.
    /// Does not allocate.
    pub(crate) fn for_each_scope(&self, host: &str, mut visit: impl FnMut(&Trie)) {
        let mut buffer = [0u8; MAX_HOST_LEN];
        if let Some(name) = normalize_host(host, &mut buffer) {
            if let Some(trie) = self.exact.get(name) {
                visit(trie);
            }
            if !self.wildcard.is_empty() {
                for (index, byte) in name.bytes().enumerate() {
                    if byte != b'.' {
                        continue;
                    }
                    let suffix = &name[index + 1..];
                    if !self.may_have_wildcard(suffix) {
                        continue;
                    }
                    if let Some(trie) = self.wildcard.get(suffix) {
                        visit(trie);
                    }
                }
            }
        }
        visit(&self.catch_all);
    }
}

fn length_bit(suffix: &str) -> u64 {
    1 << (suffix.len() % 64)
}

/// Returns `host` in lowercase, without port and trailing dot, copied into
/// `buffer` only when it has uppercase letters. Returns `None` for an empty or too long host or an
/// IPv6 literal, which no hostname can match.
pub(crate) fn normalize_host<'b>(
    host: &'b str,
    buffer: &'b mut [u8; MAX_HOST_LEN],
) -> Option<&'b str> {
    if host.starts_with('[') {
        return None;
    }
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.is_empty() || name.len() > MAX_HOST_LEN {
        return None;
    }
    if !name.bytes().any(|b| b.is_ascii_uppercase()) {
        return Some(name);
    }
    let target = &mut buffer[..name.len()];
    target.copy_from_slice(name.as_bytes());
    target.make_ascii_lowercase();
    std::str::from_utf8(target).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn host_normalization_strips_port_and_case() {
        let mut buffer = [0u8; MAX_HOST_LEN];
        assert_eq!(
            normalize_host("A.Example.COM:8443", &mut buffer),
            Some("a.example.com")
        );
        assert_eq!(
            normalize_host("example.com.", &mut buffer),
            Some("example.com")
        );
        assert_eq!(normalize_host("[::1]:8080", &mut buffer), None);
        assert_eq!(normalize_host("", &mut buffer), None);
    }
}
