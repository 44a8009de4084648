//! Reads the start of a request body to find its GraphQL operation,
//! without losing it: the bytes read are replayed ahead of the rest.

use bytes::{Bytes, BytesMut};
use http::{HeaderMap, Method, header};
use http_body::Body as _;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use portcullis_compiler::graphql::{self, ParsedBody};

use super::body::{ProxyBody, Replay, incoming};
use super::error::ProxyError;

/// A request body after the peek, with the operation when one was found.
pub struct Peeked {
    /// The body to forward, unchanged.
    pub body: ProxyBody,
    /// The operation; `None` when the body contains no readable one.
    pub parsed: Option<ParsedBody>,
}

/// Peeks at a `POST` body with a JSON content type, reading at most
/// `limit` bytes. Any other request is passed through unread.
///
/// # Errors
/// Returns [`ProxyError::BadRequest`] when reading the body fails.
pub async fn peek_graphql(
    method: &Method,
    headers: &HeaderMap,
    body: Incoming,
    limit: usize,
) -> Result<Peeked, ProxyError> {
    let too_large = body.size_hint().lower() > limit as u64;
    if method != Method::POST || !is_json(headers) || too_large {
        return Ok(Peeked {
            body: incoming(body),
            parsed: None,
        });
    }

    let read = read_prefix(body, limit).await?;
    let parsed = if read.complete {
        graphql::parse_body(&read.data)
    } else {
        None
    };
    let buffered = if read.data.is_empty() {
        Vec::new()
    } else {
        vec![read.data]
    };
    let replay = Replay::new(buffered, read.trailers, read.rest);
    Ok(Peeked {
        body: replay.boxed_unsync(),
        parsed,
    })
}

/// `application/json` or any `application/*+json`, with parameters.
fn is_json(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return false;
    };
    let Ok(value) = value.to_str() else {
        return false;
    };
    let essence = value.split(';').next().unwrap_or_default().trim();
    let Some(subtype) = essence
        .get(..12)
        .filter(|prefix| prefix.eq_ignore_ascii_case("application/"))
        .map(|_| &essence[12..])
    else {
        return false;
    };
    subtype.eq_ignore_ascii_case("json")
        || subtype.len() > 5 && subtype[subtype.len() - 5..].eq_ignore_ascii_case("+json")
}

struct Prefix {
    data: Bytes,
    trailers: Option<HeaderMap>,
    /// The unread rest; `None` when the body ended.
    rest: Option<Incoming>,
    /// Whether `data` is the whole body.
    complete: bool,
}

/// Reads frames until the body ends or more than `limit` bytes arrived.
async fn read_prefix(mut body: Incoming, limit: usize) -> Result<Prefix, ProxyError> {
    let mut data = BytesMut::new();
    loop {
        if body.is_end_stream() {
            return Ok(prefix(data, None, None));
        }
        let Some(frame) = body.frame().await else {
            return Ok(prefix(data, None, None));
        };
        let frame = frame.map_err(|_| ProxyError::BadRequest("failed to read the request body"))?;
        match frame.into_data() {
            Ok(chunk) => {
                data.extend_from_slice(&chunk);
                if data.len() > limit {
                    return Ok(prefix(data, None, Some(body)));
                }
            }
            Err(frame) => {
                let trailers = frame.into_trailers().ok();
                return Ok(prefix(data, trailers, None));
            }
        }
    }
}

fn prefix(data: BytesMut, trailers: Option<HeaderMap>, rest: Option<Incoming>) -> Prefix {
    let complete = rest.is_none();
    Prefix {
        data: data.freeze(),
        trailers,
        rest,
        complete,
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderValue;

    use super::*;

    fn content_type(value: &'static str) -> HeaderMap {
        let mut headers = HeaderMap::new();
        headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
        headers
    }

    #[test]
    fn json_content_types_are_recognized() {
        for value in [
            "application/json",
            "Application/JSON; charset=utf-8",
            "application/graphql+json",
            "application/vnd.api+json",
        ] {
            assert!(is_json(&content_type(value)), "{value}");
        }
    }

    #[test]
    fn other_content_types_are_not_json() {
        for value in [
            "text/plain",
            "application/jsonx",
            "application/+json",
            "json",
            "application/",
        ] {
            assert!(!is_json(&content_type(value)), "{value}");
        }
        assert!(!is_json(&HeaderMap::new()));
    }
}
