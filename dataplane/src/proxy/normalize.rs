//! Request path normalization, applied before matching and forwarding.
//!
//! The normalized path is both what the route table matches and what the
//! backend receives, so a backend never receives a path that means
//! something other than what was matched. The steps, in order:
//!
//! 1. Reject paths that are not origin-form or hold bytes outside RFC 3986
//!    `pchar` and `/`, and malformed percent escapes.
//! 2. Decode escapes of unreserved characters (`A-Z a-z 0-9 - . _ ~`) and
//!    uppercase the hex digits of every other escape. `%2F` and `%5C`
//!    follow [`EncodedSlash`]: reject, decode to `/`, or keep.
//! 3. Remove dot segments (RFC 3986 section 5.2.4); `..` never climbs above
//!    the root.
//! 4. Merge runs of `/` when enabled.
//!
//! Case is preserved: `/ADMIN` and `/admin` are different paths.

use std::borrow::Cow;

use crate::config::{EncodedSlash, PathNormalization};

/// Failure to normalize a path.
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
pub enum PathError {
    /// The path does not start with `/`.
    #[error("the request target must be a path starting with '/'")]
    NotOriginForm,
    /// A byte is not allowed in a path.
    #[error("the request path contains a byte that is not allowed; percent-encode it")]
    InvalidByte,
    /// `%` is not followed by two hex digits.
    #[error("the request path contains a malformed percent escape")]
    InvalidEscape,
    /// `%2F` or `%5C` under [`EncodedSlash::Reject`].
    #[error("the request path contains an encoded slash (%2F or %5C); send it unencoded")]
    EncodedSlash,
}

/// Normalizes `path` (without the query). Borrows `path` when it is
/// already normal, which is the common case.
///
/// # Errors
/// Returns [`PathError`] for a path that gets a 400 response.
pub fn normalize(path: &str, policy: PathNormalization) -> Result<Cow<'_, str>, PathError> {
    if path.is_empty() {
        return Ok(Cow::Borrowed("/"));
    }
    if !path.starts_with('/') {
        return Err(PathError::NotOriginForm);
    }
    if !path.bytes().all(is_path_byte) {
        return Err(PathError::InvalidByte);
    }
    if !needs_rewrite(path, policy.merge_slashes) {
        return Ok(Cow::Borrowed(path));
    }

    let decoded = decode_escapes(path, policy.encoded_slash)?;
    Ok(Cow::Owned(remove_dot_segments(
        &decoded,
        policy.merge_slashes,
    )))
}

/// Returns whether `byte` may appear literally in a path: RFC 3986 unreserved,
/// sub-delims, `:`, `@`, `/` and `%` (escapes are checked when decoding).
fn is_path_byte(byte: u8) -> bool {
    byte.is_ascii_alphanumeric()
        || matches!(
            byte,
            b'-' | b'.'
                | b'_'
                | b'~'
                | b'!'
                | b'$'
                | b'&'
                | b'\''
                | b'('
                | b')'
                | b'*'
                | b'+'
                | b','
                | b';'
                | b'='
                | b':'
                | b'@'
                | b'/'
                | b'%'
        )
}

fn is_unreserved(byte: u8) -> bool {
    byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'.' | b'_' | b'~')
}

/// Returns whether any normalization step would change `path`.
fn needs_rewrite(path: &str, merge_slashes: bool) -> bool {
    path.contains('%')
        || (merge_slashes && path.contains("//"))
        || path
            .split('/')
            .any(|segment| segment == "." || segment == "..")
}

fn hex_value(byte: u8) -> Option<u8> {
    match byte {
        b'0'..=b'9' => Some(byte - b'0'),
        b'a'..=b'f' => Some(byte - b'a' + 10),
        b'A'..=b'F' => Some(byte - b'A' + 10),
        _ => None,
    }
}

/// Step 2: decodes unreserved escapes and uppercases the others.
fn decode_escapes(path: &str, encoded_slash: EncodedSlash) -> Result<String, PathError> {
    const HEX: &[u8; 16] = b"0123456789ABCDEF";
    let bytes = path.as_bytes();
    let mut out = String::with_capacity(path.len());
    let mut i = 0;
    while i < bytes.len() {
        let byte = bytes[i];
        if byte != b'%' {
            out.push(char::from(byte));
            i += 1;
            continue;
        }

        let high = bytes.get(i + 1).copied().and_then(hex_value);
        let low = bytes.get(i + 2).copied().and_then(hex_value);
        let (Some(high), Some(low)) = (high, low) else {
            return Err(PathError::InvalidEscape);
        };
        let value = high << 4 | low;
        i += 3;

        if is_unreserved(value) {
            out.push(char::from(value));
        } else if value == b'/' || value == b'\\' {
            match encoded_slash {
                EncodedSlash::Reject => return Err(PathError::EncodedSlash),
                // Both decode to `/`: a literal backslash is not allowed in
                // a path, and some backends treat it as a separator.
                EncodedSlash::Decode => out.push('/'),
                EncodedSlash::Keep => push_escape(&mut out, value, HEX),
            }
        } else {
            push_escape(&mut out, value, HEX);
        }
    }
    Ok(out)
}

fn push_escape(out: &mut String, value: u8, hex: &[u8; 16]) {
    out.push('%');
    out.push(char::from(hex[usize::from(value >> 4)]));
    out.push(char::from(hex[usize::from(value & 0xF)]));
}

/// Steps 3 and 4 on a path that starts with `/`. The last segment being
/// empty, `.` or `..` leaves a trailing slash, as RFC 3986 does.
fn remove_dot_segments(path: &str, merge_slashes: bool) -> String {
    let segments: Vec<&str> = path[1..].split('/').collect();
    let last = segments.len() - 1;
    let mut kept: Vec<&str> = Vec::with_capacity(segments.len());
    for (index, segment) in segments.iter().enumerate() {
        match *segment {
            "." => {}
            ".." => {
                kept.pop();
            }
            "" if merge_slashes && index != last => {}
            other => kept.push(other),
        }
        let is_dot = *segment == "." || *segment == "..";
        if is_dot && index == last {
            kept.push("");
        }
    }

    let mut out = String::with_capacity(path.len());
    for segment in &kept {
        out.push('/');
        out.push_str(segment);
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy(merge_slashes: bool, encoded_slash: EncodedSlash) -> PathNormalization {
        PathNormalization {
            merge_slashes,
            encoded_slash,
        }
    }

    fn default_normalize(path: &str) -> Result<String, PathError> {
        normalize(path, PathNormalization::default()).map(Cow::into_owned)
    }

    #[test]
    fn parent_segment_is_resolved() {
        assert_eq!(default_normalize("/public/../admin").unwrap(), "/admin");
    }

    #[test]
    fn encoded_slash_follows_policy() {
        let reject = normalize("/admin%2f..", policy(true, EncodedSlash::Reject));
        assert_eq!(reject, Err(PathError::EncodedSlash));

        let decode = normalize("/admin%2f..", policy(true, EncodedSlash::Decode));
        assert_eq!(decode.unwrap(), "/");

        let keep = normalize("/admin%2f..", policy(true, EncodedSlash::Keep));
        assert_eq!(keep.unwrap(), "/admin%2F..");

        let backslash = normalize("/a%5cb", policy(true, EncodedSlash::Decode));
        assert_eq!(backslash.unwrap(), "/a/b");

        let backslash = normalize("/a%5Cb", policy(true, EncodedSlash::Reject));
        assert_eq!(backslash, Err(PathError::EncodedSlash));
    }

    #[test]
    fn double_slash_merges_only_when_enabled() {
        assert_eq!(default_normalize("//admin").unwrap(), "/admin");
        assert_eq!(default_normalize("/a///b//").unwrap(), "/a/b/");
        let kept = normalize("//admin", policy(false, EncodedSlash::Reject)).unwrap();
        assert_eq!(kept, "//admin");
        let kept = normalize("/a//../b", policy(false, EncodedSlash::Reject)).unwrap();
        assert_eq!(kept, "/a/b");
    }

    #[test]
    fn case_is_preserved() {
        let path = normalize("/ADMIN", PathNormalization::default()).unwrap();
        assert_eq!(path, "/ADMIN");
        assert!(matches!(path, Cow::Borrowed(_)));
    }

    #[test]
    fn unreserved_escapes_are_decoded() {
        assert_eq!(default_normalize("/%41").unwrap(), "/A");
        assert_eq!(default_normalize("/%7e%2D%5f%2E").unwrap(), "/~-_.");
    }

    #[test]
    fn reserved_escapes_are_uppercased() {
        assert_eq!(default_normalize("/a%3fb%20c").unwrap(), "/a%3Fb%20c");
        assert_eq!(default_normalize("/%00").unwrap(), "/%00");
        assert_eq!(default_normalize("/%25").unwrap(), "/%25");
    }

    #[test]
    fn encoded_dots_are_dot_segments() {
        assert_eq!(default_normalize("/a/%2e%2e/admin").unwrap(), "/admin");
        assert_eq!(default_normalize("/a/%2E/b").unwrap(), "/a/b");
        assert_eq!(default_normalize("/a/.%2e/b").unwrap(), "/b");
    }

    #[test]
    fn dot_segments_are_removed() {
        assert_eq!(default_normalize("/a/./b/../c").unwrap(), "/a/c");
        assert_eq!(default_normalize("/a/b/..").unwrap(), "/a/");
        assert_eq!(default_normalize("/a/.").unwrap(), "/a/");
        assert_eq!(default_normalize("/a/..b/c.").unwrap(), "/a/..b/c.");
    }

    #[test]
    fn path_never_climbs_above_root() {
        assert_eq!(default_normalize("/..").unwrap(), "/");
        assert_eq!(
            default_normalize("/../../etc/passwd").unwrap(),
            "/etc/passwd"
        );
        assert_eq!(default_normalize("/a/../../..").unwrap(), "/");
        assert_eq!(default_normalize("/%2e%2e/%2e%2e/x").unwrap(), "/x");
    }

    #[test]
    fn normal_paths_are_borrowed() {
        for path in ["/", "/a/b", "/a/b/", "/a.b/c..d", "/a:b@c!$&'()*+,;="] {
            let normalized = normalize(path, PathNormalization::default()).unwrap();
            assert!(matches!(normalized, Cow::Borrowed(_)), "{path}");
            assert_eq!(normalized, path);
        }
    }

    #[test]
    fn invalid_targets_are_rejected() {
        assert_eq!(default_normalize("*"), Err(PathError::NotOriginForm));
        assert_eq!(default_normalize("a/b"), Err(PathError::NotOriginForm));
        assert_eq!(default_normalize("/a b"), Err(PathError::InvalidByte));
        assert_eq!(default_normalize("/a\\b"), Err(PathError::InvalidByte));
        assert_eq!(default_normalize("/a{b}"), Err(PathError::InvalidByte));
        assert_eq!(default_normalize("/\u{e9}"), Err(PathError::InvalidByte));
        assert_eq!(default_normalize("/a%2"), Err(PathError::InvalidEscape));
        assert_eq!(default_normalize("/a%zz"), Err(PathError::InvalidEscape));
        assert_eq!(default_normalize("/a%"), Err(PathError::InvalidEscape));
    }

    #[test]
    fn empty_path_is_root() {
        assert_eq!(default_normalize("").unwrap(), "/");
    }

    /// Properties that must hold for any input: no panic, and any accepted
    /// output starts with `/`, has no dot segments, is a fixed point, and
    /// holds only path bytes.
    #[test]
    fn random_inputs_keep_invariants() {
        const ALPHABET: &[u8] = b"/./%2e%2f%5c%41aZ9-_~?#\\ \x00\xff:@";
        let mut rng = fastrand::Rng::with_seed(0x5eed);
        for _ in 0..20_000 {
            let len = rng.usize(0..24);
            let mut bytes: Vec<u8> = Vec::with_capacity(len + 1);
            bytes.push(b'/');
            for _ in 0..len {
                bytes.push(ALPHABET[rng.usize(..ALPHABET.len())]);
            }
            let input = String::from_utf8_lossy(&bytes).into_owned();
            for encoded_slash in [
                EncodedSlash::Reject,
                EncodedSlash::Decode,
                EncodedSlash::Keep,
            ] {
                for merge in [true, false] {
                    check_invariants(&input, policy(merge, encoded_slash));
                }
            }
        }
    }

    fn check_invariants(input: &str, policy: PathNormalization) {
        let Ok(output) = normalize(input, policy) else {
            return;
        };
        assert!(output.starts_with('/'), "{input:?} -> {output:?}");
        assert!(output.bytes().all(is_path_byte), "{input:?} -> {output:?}");
        assert!(
            !output.split('/').any(|s| s == "." || s == ".."),
            "{input:?} -> {output:?}"
        );
        if policy.merge_slashes {
            assert!(!output.contains("//"), "{input:?} -> {output:?}");
        }
        let again = normalize(&output, policy).unwrap();
        assert_eq!(again, output, "not idempotent for {input:?}");
    }
}
