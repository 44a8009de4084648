//! Hop-by-hop header removal and request ids.

use http::{HeaderMap, HeaderName, HeaderValue, header};

/// Request id header, read from clients and set on every response.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Maximum length of a reused client request id, in bytes.
const MAX_REQUEST_ID_LEN: usize = 200;

/// Headers that describe one connection and must not be forwarded
/// (RFC 9110 section 7.6.1, plus the non-standard `Proxy-Connection` and
/// `Keep-Alive`). `TE` and `Upgrade` are handled separately.
const HOP_BY_HOP: [HeaderName; 5] = [
    header::CONNECTION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
    header::TRAILER,
    header::TRANSFER_ENCODING,
];

/// Returns the client's request id when it is 1 to 200 visible ASCII
/// bytes, else a new random one.
pub fn request_id(headers: &HeaderMap) -> HeaderValue {
    if let Some(value) = headers.get(&X_REQUEST_ID) {
        let bytes = value.as_bytes();
        let visible = bytes.iter().all(|byte| matches!(byte, 0x21..=0x7e));
        if !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_LEN && visible {
            return value.clone();
        }
    }
    generate_request_id()
}

fn generate_request_id() -> HeaderValue {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    // 32 lowercase hex digits built on the stack: `format!` would allocate
    // a String that `HeaderValue` then copies.
    let mut id = [0_u8; 32];
    let mut bits = fastrand::u128(..);
    for digit in id.iter_mut().rev() {
        *digit = HEX[(bits & 0xf) as usize];
        bits >>= 4;
    }
    HeaderValue::from_bytes(&id).expect("hex digits are a valid header value")
}

/// Returns whether the request requests a protocol switch (`Connection: upgrade`
/// and an `Upgrade` header).
///
/// Only WebSocket upgrades count. Any other protocol, `h2c` above all, would
/// turn the connection into a tunnel that later requests cross without
/// being routed, so its `Upgrade` header is dropped as hop-by-hop and the
/// request is forwarded as a plain request.
pub fn is_upgrade_request(headers: &HeaderMap) -> bool {
    let websocket = headers.get_all(header::UPGRADE).iter().any(|value| {
        value.to_str().is_ok_and(|text| {
            text.split(',')
                .any(|protocol| protocol.trim().eq_ignore_ascii_case("websocket"))
        })
    });
    websocket && connection_has_token(headers, "upgrade")
}

fn connection_has_token(headers: &HeaderMap, token: &str) -> bool {
    connection_tokens(headers).any(|t| t.eq_ignore_ascii_case(token))
}

fn connection_tokens(headers: &HeaderMap) -> impl Iterator<Item = &str> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|token| !token.is_empty())
}

/// Removes hop-by-hop headers and every header named in `Connection`.
///
/// `TE` survives only as `TE: trailers`, which gRPC needs end to end. With
/// `keep_upgrade`, `Upgrade` survives with `Connection: upgrade`, for
/// protocol switches (WebSocket) and their 101 responses.
pub fn strip_hop_by_hop(headers: &mut HeaderMap, keep_upgrade: bool) {
    let listed: Vec<HeaderName> = connection_tokens(headers)
        .filter_map(|token| HeaderName::from_bytes(token.as_bytes()).ok())
        .collect();
    let upgrade = headers.remove(header::UPGRADE);
    let wants_trailers = headers
        .get_all(header::TE)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .any(|token| token.trim().eq_ignore_ascii_case("trailers"));

    for name in listed {
        headers.remove(name);
    }
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
    headers.remove(header::TE);

    if wants_trailers {
        headers.insert(header::TE, HeaderValue::from_static("trailers"));
    }
    if keep_upgrade && let Some(upgrade) = upgrade {
        headers.insert(header::UPGRADE, upgrade);
        headers.insert(header::CONNECTION, HeaderValue::from_static("upgrade"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn fixed_and_listed_headers_are_removed() {
        let mut map = headers(&[
            ("connection", "keep-alive, X-Secret-Hop"),
            ("connection", "x-other"),
            ("keep-alive", "timeout=5"),
            ("proxy-connection", "keep-alive"),
            ("transfer-encoding", "chunked"),
            ("trailer", "x-checksum"),
            ("te", "gzip"),
            ("upgrade", "websocket"),
            ("x-secret-hop", "1"),
            ("x-other", "2"),
            ("x-kept", "3"),
        ]);
        strip_hop_by_hop(&mut map, false);
        let names: Vec<&str> = map.keys().map(HeaderName::as_str).collect();
        assert_eq!(names, ["x-kept"]);
    }

    #[test]
    fn te_trailers_survives() {
        let mut map = headers(&[("te", "gzip, trailers")]);
        strip_hop_by_hop(&mut map, false);
        assert_eq!(map["te"], "trailers");
    }

    #[test]
    fn upgrade_survives_when_kept() {
        let mut map = headers(&[
            ("connection", "Upgrade, x-hop"),
            ("upgrade", "websocket"),
            ("x-hop", "1"),
            ("sec-websocket-key", "abc"),
        ]);
        assert!(is_upgrade_request(&map));
        strip_hop_by_hop(&mut map, true);
        assert_eq!(map["upgrade"], "websocket");
        assert_eq!(map["connection"], "upgrade");
        assert_eq!(map["sec-websocket-key"], "abc");
        assert!(!map.contains_key("x-hop"));
    }

    #[test]
    fn upgrade_without_connection_token_is_not_upgrade() {
        let map = headers(&[("upgrade", "websocket")]);
        assert!(!is_upgrade_request(&map));
    }

    #[test]
    fn only_websocket_upgrades_are_upgrades() {
        let websocket = headers(&[("upgrade", "WebSocket"), ("connection", "Upgrade")]);
        assert!(is_upgrade_request(&websocket));
        let h2c = headers(&[
            ("upgrade", "h2c"),
            ("connection", "Upgrade, HTTP2-Settings"),
        ]);
        assert!(!is_upgrade_request(&h2c));
        let tls = headers(&[("upgrade", "TLS/1.2"), ("connection", "upgrade")]);
        assert!(!is_upgrade_request(&tls));
    }

    #[test]
    fn valid_request_id_is_reused() {
        let map = headers(&[("x-request-id", "abc-123_XYZ")]);
        assert_eq!(request_id(&map), "abc-123_XYZ");
    }

    #[test]
    fn invalid_request_ids_are_replaced() {
        let long = "a".repeat(201);
        for bad in ["", "has space", long.as_str()] {
            let map = headers(&[("x-request-id", bad)]);
            let id = request_id(&map);
            assert_ne!(id, bad);
            assert_eq!(id.len(), 32);
        }
        let exact = "b".repeat(200);
        let map = headers(&[("x-request-id", exact.as_str())]);
        assert_eq!(request_id(&map), exact.as_str());
    }

    #[test]
    fn generated_ids_are_lowercase_hex() {
        let id = request_id(&HeaderMap::new());
        assert_eq!(id.len(), 32);
        let hex = id
            .as_bytes()
            .iter()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
        assert!(hex, "{id:?} is not lowercase hex");
    }

    #[test]
    fn generated_ids_differ() {
        let first = request_id(&HeaderMap::new());
        let second = request_id(&HeaderMap::new());
        assert_ne!(first, second);
    }
}
