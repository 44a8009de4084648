//! Errors the proxy responds to itself, and their JSON responses.
//!
//! Every error response has the same shape, so clients and dashboards can
//! read one format: `{"error":{"status","code","message","requestId"}}`
//! with `content-type: application/json`.

use std::sync::Arc;
use std::time::Duration;

use http::{HeaderValue, Response, StatusCode, header};

use super::body::{ProxyBody, full};
use super::normalize::PathError;

/// A request the proxy could not route or forward.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// No rule matches the request.
    #[error("no route matches the request host and path")]
    RouteNotFound,
    /// The request is malformed.
    #[error("{0}")]
    BadRequest(&'static str),
    /// The path cannot be normalized.
    #[error(transparent)]
    InvalidPath(#[from] PathError),
    /// The chosen backend has no endpoint to connect to.
    #[error("backend {backend} has no ready endpoints")]
    NoHealthyBackend {
        /// Backend display name.
        backend: Arc<str>,
    },
    /// Connecting to the chosen endpoint failed or timed out.
    #[error("failed to connect to backend {backend}")]
    ConnectFailed {
        /// Backend display name.
        backend: Arc<str>,
    },
    /// The backend is reached over TLS, which the upstream client lacks.
    #[error("backend {backend} uses https, which the upstream client does not support yet")]
    HttpsUnsupported {
        /// Backend display name.
        backend: Arc<str>,
    },
    /// The connection failed after the request was sent.
    #[error("backend {backend} failed before sending a complete response head")]
    Upstream {
        /// Backend display name.
        backend: Arc<str>,
    },
    /// The backend did not start its response in time.
    #[error("backend {backend} did not start a response within {}s", timeout.as_secs_f64())]
    UpstreamTimeout {
        /// Backend display name.
        backend: Arc<str>,
        /// The response timeout that passed.
        timeout: Duration,
    },
}

// === impl ProxyError ===

impl ProxyError {
    /// HTTP status of the error response.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::RouteNotFound => StatusCode::NOT_FOUND,
            Self::BadRequest(_) | Self::InvalidPath(_) => StatusCode::BAD_REQUEST,
            Self::NoHealthyBackend { .. } => StatusCode::SERVICE_UNAVAILABLE,
            Self::ConnectFailed { .. } | Self::HttpsUnsupported { .. } | Self::Upstream { .. } => {
                StatusCode::BAD_GATEWAY
            }
            Self::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    /// Stable machine-readable code of the error response.
    pub fn code(&self) -> &'static str {
        match self {
            Self::RouteNotFound => "route_not_found",
            Self::InvalidPath(PathError::EncodedSlash) => "encoded_slash_rejected",
            Self::BadRequest(_) | Self::InvalidPath(_) => "bad_request",
            Self::NoHealthyBackend { .. } => "no_healthy_backend",
            Self::ConnectFailed { .. } | Self::HttpsUnsupported { .. } => "upstream_connect_failed",
            Self::Upstream { .. } => "upstream_error",
            Self::UpstreamTimeout { .. } => "upstream_timeout",
        }
    }

    /// Builds the JSON error response. The caller adds `x-request-id`.
    pub fn to_response(&self, request_id: &HeaderValue) -> Response<ProxyBody> {
        let body = error_body(self.status(), self.code(), &self.to_string(), request_id);
        let mut response = Response::new(full(body));
        *response.status_mut() = self.status();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        response
    }
}

/// Serializes the error document.
pub fn error_body(
    status: StatusCode,
    code: &str,
    message: &str,
    request_id: &HeaderValue,
) -> Vec<u8> {
    // `headers::request_id` only returns visible ASCII, so `to_str` succeeds.
    let request_id = request_id.to_str().unwrap_or_default();
    let document = serde_json::json!({
        "error": {
            "status": status.as_u16(),
            "code": code,
            "message": message,
            "requestId": request_id,
        }
    });
    let mut bytes = document.to_string().into_bytes();
    bytes.push(b'\n');
    bytes
}

#[cfg(test)]
mod tests {
    use http_body_util::BodyExt;

    use super::*;

    async fn body_json(error: ProxyError) -> (StatusCode, serde_json::Value, Option<String>) {
        let response = error.to_response(&HeaderValue::from_static("req-1"));
        let status = response.status();
        let content_type = response
            .headers()
            .get(header::CONTENT_TYPE)
            .map(|value| value.to_str().unwrap().to_owned());
        let bytes = response.into_body().collect().await.unwrap().to_bytes();
        (
            status,
            serde_json::from_slice(&bytes).unwrap(),
            content_type,
        )
    }

    #[tokio::test]
    async fn not_found_body_has_every_field() {
        let (status, json, content_type) = body_json(ProxyError::RouteNotFound).await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(content_type.as_deref(), Some("application/json"));
        assert_eq!(json["error"]["status"], 404);
        assert_eq!(json["error"]["code"], "route_not_found");
        assert_eq!(json["error"]["requestId"], "req-1");
        assert!(
            json["error"]["message"]
                .as_str()
                .unwrap()
                .contains("no route")
        );
    }

    #[tokio::test]
    async fn codes_and_statuses_match_table() {
        let backend: Arc<str> = Arc::from("default/web:80");
        let cases = [
            (ProxyError::BadRequest("bad"), 400, "bad_request"),
            (
                ProxyError::InvalidPath(PathError::EncodedSlash),
                400,
                "encoded_slash_rejected",
            ),
            (
                ProxyError::InvalidPath(PathError::InvalidByte),
                400,
                "bad_request",
            ),
            (
                ProxyError::NoHealthyBackend {
                    backend: backend.clone(),
                },
                503,
                "no_healthy_backend",
            ),
            (
                ProxyError::ConnectFailed {
                    backend: backend.clone(),
                },
                502,
                "upstream_connect_failed",
            ),
            (
                ProxyError::HttpsUnsupported {
                    backend: backend.clone(),
                },
                502,
                "upstream_connect_failed",
            ),
            (
                ProxyError::Upstream {
                    backend: backend.clone(),
                },
                502,
                "upstream_error",
            ),
            (
                ProxyError::UpstreamTimeout {
                    backend,
                    timeout: Duration::from_secs(3),
                },
                504,
                "upstream_timeout",
            ),
        ];
        for (error, status, code) in cases {
            let (got_status, json, _) = body_json(error).await;
            assert_eq!(got_status.as_u16(), status, "{code}");
            assert_eq!(json["error"]["status"], status, "{code}");
            assert_eq!(json["error"]["code"], code);
        }
    }

    #[test]
    fn message_is_escaped_json() {
        let bytes = error_body(
            StatusCode::BAD_REQUEST,
            "bad_request",
            "quote \" and newline \n",
            &HeaderValue::from_static("id"),
        );
        let json: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
        assert_eq!(json["error"]["message"], "quote \" and newline \n");
    }
}
