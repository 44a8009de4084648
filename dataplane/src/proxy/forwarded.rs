//! Client address and forwarding headers (`X-Forwarded-*`, `Forwarded`).
//!
//! Trust is decided by the TCP peer alone. From a trusted proxy, the client
//! is the rightmost `X-Forwarded-For` entry that is not itself a trusted
//! proxy, and incoming forwarding headers are extended. From any other
//! peer, the peer is the client and incoming forwarding headers are
//! discarded and replaced, so a client cannot forge its address.

use std::fmt::Write as _;
use std::net::{IpAddr, SocketAddr};

use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue};
use ipnet::IpNet;

const X_FORWARDED_FOR: HeaderName = HeaderName::from_static("x-forwarded-for");
const X_FORWARDED_PROTO: HeaderName = HeaderName::from_static("x-forwarded-proto");
const X_FORWARDED_HOST: HeaderName = HeaderName::from_static("x-forwarded-host");
const FORWARDED: HeaderName = HeaderName::from_static("forwarded");
/// Set by nginx-style proxies; like `X-Forwarded-For`, trusted only from a
/// trusted proxy.
const X_REAL_IP: HeaderName = HeaderName::from_static("x-real-ip");

/// Downstream side of a request: peer, trust, scheme and host.
#[derive(Clone, Copy, Debug)]
pub struct Downstream<'a> {
    /// TCP peer.
    pub peer: IpAddr,
    /// Whether the peer is a trusted proxy.
    pub trusted: bool,
    /// `https` on the TLS listener, else `http`.
    pub proto: &'static str,
    /// Host the client asked for.
    pub host: &'a HeaderValue,
}

/// Maps an IPv4-mapped IPv6 address to IPv4, so one trusted range covers
/// both forms of a peer on a dual-stack listener.
pub fn canonical(addr: IpAddr) -> IpAddr {
    match addr {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(addr, IpAddr::V4),
        IpAddr::V4(_) => addr,
    }
}

/// Returns whether `addr` is in one of the trusted ranges.
pub fn is_trusted(addr: IpAddr, trusted: &[IpNet]) -> bool {
    let addr = canonical(addr);
    trusted.iter().any(|net| net.contains(&addr))
}

/// Returns the client address: the peer, unless the peer is trusted and
/// `X-Forwarded-For` names an untrusted hop.
///
/// The walk goes right to left, over every `X-Forwarded-For` field line,
/// and stops at the first untrusted address. An entry that is not an
/// address also stops it, and the last trusted hop to its right is used,
/// because anything left of a forged entry is not trustworthy.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[IpNet]) -> IpAddr {
    let peer = canonical(peer);
    if !is_trusted(peer, trusted) {
        return peer;
    }

    let mut client = peer;
    let values: Vec<&HeaderValue> = headers.get_all(&X_FORWARDED_FOR).iter().collect();
    for value in values.iter().rev() {
        let Ok(text) = value.to_str() else {
            return client;
        };
        for entry in text.rsplit(',') {
            let Some(addr) = parse_forwarded_addr(entry.trim()) else {
                return client;
            };
            client = canonical(addr);
            if !is_trusted(client, trusted) {
                return client;
            }
        }
    }
    client
}

/// Parses `1.2.3.4`, `1.2.3.4:80`, `::1` or `[::1]:80`.
fn parse_forwarded_addr(entry: &str) -> Option<IpAddr> {
    entry
        .parse::<IpAddr>()
        .ok()
        .or_else(|| entry.parse::<SocketAddr>().ok().map(|addr| addr.ip()))
}

/// Sets the forwarding headers on a request about to go upstream.
pub fn set_forwarding_headers(headers: &mut HeaderMap, downstream: &Downstream<'_>) {
    let peer = canonical(downstream.peer);
    if !downstream.trusted {
        remove_forwarding_headers(headers);
    }

    append_x_forwarded_for(headers, peer);
    if !headers.contains_key(&X_FORWARDED_PROTO) {
        headers.insert(
            X_FORWARDED_PROTO,
            HeaderValue::from_static(downstream.proto),
        );
    }
    if !headers.contains_key(&X_FORWARDED_HOST) && !downstream.host.is_empty() {
        headers.insert(X_FORWARDED_HOST, downstream.host.clone());
    }
    append_forwarded(headers, peer, downstream);
}

/// Removes every `X-Forwarded-*` header, `Forwarded` and `X-Real-IP`.
fn remove_forwarding_headers(headers: &mut HeaderMap) {
    let names: Vec<HeaderName> = headers
        .keys()
        .filter(|name| name.as_str().starts_with("x-forwarded-"))
        .cloned()
        .collect();
    for name in names {
        headers.remove(name);
    }
    headers.remove(FORWARDED);
    headers.remove(X_REAL_IP);
}

fn append_x_forwarded_for(headers: &mut HeaderMap, peer: IpAddr) {
    // Field lines are joined into one, because some backends read only
    // the first `X-Forwarded-For` line.
    let mut value = String::new();
    for line in headers.get_all(&X_FORWARDED_FOR) {
        if let Ok(text) = line.to_str() {
            value.push_str(text);
            value.push_str(", ");
        }
    }
    let _ = write!(value, "{peer}");
    if let Ok(value) = header_value(value) {
        headers.insert(X_FORWARDED_FOR, value);
    }
}

/// Appends one RFC 7239 element: `for=..;host=..;proto=..`.
fn append_forwarded(headers: &mut HeaderMap, peer: IpAddr, downstream: &Downstream<'_>) {
    let mut element = String::from("for=");
    match peer {
        IpAddr::V4(v4) => {
            let _ = write!(element, "{v4}");
        }
        IpAddr::V6(v6) => {
            let _ = write!(element, "\"[{v6}]\"");
        }
    }
    if let Ok(host) = downstream.host.to_str()
        && !host.is_empty()
    {
        element.push_str(";host=");
        push_forwarded_value(&mut element, host);
    }
    element.push_str(";proto=");
    element.push_str(downstream.proto);

    if let Ok(value) = header_value(element) {
        headers.append(FORWARDED, value);
    }
}

/// Turns `text` into a header value without copying it, unlike
/// `HeaderValue::from_str`. The same bytes are rejected.
fn header_value(text: String) -> Result<HeaderValue, http::header::InvalidHeaderValue> {
    HeaderValue::from_maybe_shared(Bytes::from(text))
}

/// Appends `value` as an RFC 7230 token when it is one, else quoted.
fn push_forwarded_value(out: &mut String, value: &str) {
    let is_token = value
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&b));
    if is_token {
        out.push_str(value);
        return;
    }
    out.push('"');
    for ch in value.chars() {
        if ch == '"' || ch == '\\' {
            out.push('\\');
        }
        out.push(ch);
    }
    out.push('"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn nets(list: &[&str]) -> Vec<IpNet> {
        list.iter().map(|net| net.parse().unwrap()).collect()
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                HeaderName::from_bytes(name.as_bytes()).unwrap(),
                HeaderValue::from_str(value).unwrap(),
            );
        }
        map
    }

    #[test]
    fn untrusted_peer_is_the_client() {
        let map = headers(&[("x-forwarded-for", "9.9.9.9")]);
        let client = client_addr(ip("203.0.113.7"), &map, &nets(&["10.0.0.0/8"]));
        assert_eq!(client, ip("203.0.113.7"));
    }

    #[test]
    fn trusted_peer_yields_rightmost_untrusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let map = headers(&[("x-forwarded-for", "1.1.1.1, 2.2.2.2, 10.0.0.5")]);
        assert_eq!(client_addr(ip("10.0.0.1"), &map, &trusted), ip("2.2.2.2"));
    }

    #[test]
    fn walk_spans_several_field_lines() {
        let trusted = nets(&["10.0.0.0/8"]);
        let map = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "10.0.0.9, 10.0.0.8"),
        ]);
        assert_eq!(client_addr(ip("10.0.0.1"), &map, &trusted), ip("1.1.1.1"));
    }

    #[test]
    fn all_trusted_hops_yield_leftmost() {
        let trusted = nets(&["10.0.0.0/8"]);
        let map = headers(&[("x-forwarded-for", "10.1.1.1, 10.2.2.2")]);
        assert_eq!(client_addr(ip("10.0.0.1"), &map, &trusted), ip("10.1.1.1"));
    }

    #[test]
    fn garbage_entry_stops_at_last_trusted_hop() {
        let trusted = nets(&["10.0.0.0/8"]);
        let map = headers(&[("x-forwarded-for", "1.1.1.1, unknown, 10.0.0.7")]);
        assert_eq!(client_addr(ip("10.0.0.1"), &map, &trusted), ip("10.0.0.7"));
    }

    #[test]
    fn entries_with_ports_and_mapped_addresses_parse() {
        let trusted = nets(&["127.0.0.0/8"]);
        let map = headers(&[("x-forwarded-for", "[2001:db8::1]:443, 5.6.7.8:9000")]);
        let peer = ip("::ffff:127.0.0.1");
        assert_eq!(client_addr(peer, &map, &trusted), ip("5.6.7.8"));
    }

    #[test]
    fn untrusted_peer_headers_are_replaced() {
        let mut map = headers(&[
            ("x-forwarded-for", "6.6.6.6"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
            ("x-forwarded-port", "1"),
            ("forwarded", "for=6.6.6.6"),
        ]);
        let host = HeaderValue::from_static("a.example.com");
        let downstream = Downstream {
            peer: ip("203.0.113.7"),
            trusted: false,
            proto: "http",
            host: &host,
        };
        set_forwarding_headers(&mut map, &downstream);
        assert_eq!(map["x-forwarded-for"], "203.0.113.7");
        assert_eq!(map["x-forwarded-proto"], "http");
        assert_eq!(map["x-forwarded-host"], "a.example.com");
        assert!(!map.contains_key("x-forwarded-port"));
        let forwarded: Vec<_> = map.get_all("forwarded").iter().collect();
        assert_eq!(forwarded, ["for=203.0.113.7;host=a.example.com;proto=http"]);
    }

    #[test]
    fn trusted_peer_headers_are_extended() {
        let mut map = headers(&[
            ("x-forwarded-for", "1.1.1.1"),
            ("x-forwarded-for", "2.2.2.2"),
            ("x-forwarded-proto", "https"),
            ("forwarded", "for=1.1.1.1"),
        ]);
        let host = HeaderValue::from_static("a.example.com:8443");
        let downstream = Downstream {
            peer: ip("::1"),
            trusted: true,
            proto: "http",
            host: &host,
        };
        set_forwarding_headers(&mut map, &downstream);
        assert_eq!(map["x-forwarded-for"], "1.1.1.1, 2.2.2.2, ::1");
        assert_eq!(map["x-forwarded-proto"], "https");
        assert_eq!(map["x-forwarded-host"], "a.example.com:8443");
        let forwarded: Vec<_> = map.get_all("forwarded").iter().collect();
        assert_eq!(forwarded.len(), 2);
        assert_eq!(forwarded[0], "for=1.1.1.1");
        assert_eq!(
            forwarded[1],
            "for=\"[::1]\";host=\"a.example.com:8443\";proto=http"
        );
    }
}
