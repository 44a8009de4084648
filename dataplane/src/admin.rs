//! The admin listener: health, readiness, configuration and explain.
//!
//! Endpoints, all returning JSON:
//! - `GET /healthz`: 200 while the process runs.
//! - `GET /readyz`: 200 once a snapshot from configuration is published,
//!   503 before that and while draining after SIGTERM.
//! - `GET /config`: version, generation, routes, diagnostics and
//!   certificates (Secret and hostnames only, never key material).
//! - `GET /explain?...` and `POST /explain`: which route takes a request.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, Response, StatusCode, header};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use portcullis_compiler::ir::RouteIr;
use portcullis_compiler::{Diagnostic, ObjectRef};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio::sync::watch;

use crate::config::PathNormalization;
use crate::explain::{ExplainInput, InputError, Source};
use crate::state::SnapshotStore;

/// Largest accepted `POST /explain` body, in bytes.
const MAX_EXPLAIN_BODY: usize = 64 * 1024;

/// Time an admin client has to send its request head.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// State shared by the admin handlers.
#[derive(Clone, Debug)]
pub struct AdminState {
    /// The served snapshots.
    pub store: Arc<SnapshotStore>,
    /// Becomes true on shutdown, which turns readiness off.
    pub shutdown: watch::Receiver<bool>,
    /// Path normalization the proxy applies, so explain matches the same
    /// path the proxy would.
    pub normalization: PathNormalization,
}

/// The `/config` document.
#[derive(Serialize)]
struct ConfigView<'a> {
    version: &'a str,
    generation: u64,
    ready: bool,
    routes: &'a [RouteIr],
    diagnostics: &'a [Diagnostic],
    certificates: Vec<CertificateView<'a>>,
}

/// A certificate as `/config` shows it: where it comes from and what it
/// serves. The type has no field for PEM text, so no key can leak.
#[derive(Serialize)]
struct CertificateView<'a> {
    secret: &'a ObjectRef,
    hostnames: &'a [String],
}

/// Serves the admin endpoints on `listener` until the task is dropped.
/// It keeps serving during drain so probes see readiness turn off.
///
/// # Errors
/// Never returns an error today; accept failures are logged and retried.
pub async fn serve(listener: TcpListener, state: AdminState) -> anyhow::Result<()> {
    let state = Arc::new(state);
    loop {
        let (stream, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "admin accept failed");
                // Back off so a persistent error such as EMFILE cannot spin.
                tokio::time::sleep(Duration::from_millis(50)).await;
                continue;
            }
        };

        let state = Arc::clone(&state);
        tokio::spawn(async move {
            let service = service_fn(move |request| handle(Arc::clone(&state), request));
            let connection = http1::Builder::new()
                .timer(TokioTimer::new())
                .header_read_timeout(HEADER_READ_TIMEOUT)
                .serve_connection(TokioIo::new(stream), service);
            if let Err(error) = connection.await {
                tracing::debug!(%error, %peer, "admin connection ended with an error");
            }
        });
    }
}

/// Routes one admin request.
pub async fn handle(
    state: Arc<AdminState>,
    request: Request<Incoming>,
) -> Result<Response<Full<Bytes>>, Infallible> {
    let path = request.uri().path().to_owned();
    let method = request.method().clone();
    let response = match (path.as_str(), &method) {
        ("/healthz", &Method::GET | &Method::HEAD) => json(StatusCode::OK, &Status::new("ok")),
        ("/readyz", &Method::GET | &Method::HEAD) => readiness(&state),
        ("/config", &Method::GET) => config(&state),
        ("/explain", &Method::GET) => {
            let query = request.uri().query().unwrap_or_default();
            explain(&state, ExplainInput::from_query(query), Source::Query)
        }
        ("/explain", &Method::POST) => {
            let input = read_json_input(request.into_body()).await;
            explain(&state, input, Source::Json)
        }
        ("/healthz" | "/readyz" | "/config" | "/explain", _) => method_not_allowed(&path),
        _ => error(
            StatusCode::NOT_FOUND,
            "not_found",
            format!("no admin endpoint at {path}; use /healthz, /readyz, /config or /explain"),
            None,
        ),
    };
    Ok(response)
}

fn readiness(state: &AdminState) -> Response<Full<Bytes>> {
    if *state.shutdown.borrow() {
        return json(StatusCode::SERVICE_UNAVAILABLE, &Status::new("draining"));
    }
    if !state.store.is_ready() {
        return json(
            StatusCode::SERVICE_UNAVAILABLE,
            &Status::new("no configuration loaded"),
        );
    }
    json(StatusCode::OK, &Status::new("ready"))
}

fn config(state: &AdminState) -> Response<Full<Bytes>> {
    let published = state.store.load();
    let snapshot = &published.snapshot;
    let certificates = snapshot
        .certificates()
        .iter()
        .map(|certificate| CertificateView {
            secret: &certificate.secret,
            hostnames: &certificate.hostnames,
        })
        .collect();
    let view = ConfigView {
        version: snapshot.version(),
        generation: published.generation,
        ready: state.store.is_ready(),
        routes: &snapshot.ir().routes,
        diagnostics: &published.diagnostics,
        certificates,
    };
    json(StatusCode::OK, &view)
}

fn explain(
    state: &AdminState,
    input: Result<ExplainInput, InputError>,
    source: Source,
) -> Response<Full<Bytes>> {
    let request = input.and_then(|input| input.validate(source));
    let mut request = match request {
        Ok(request) => request,
        Err(error) => return bad_request(&error),
    };
    match crate::explain::normalize_path(request.path(), state.normalization) {
        Ok(path) => request.set_path(path),
        Err(message) => {
            let parameter = crate::explain::Param::Path.name(source);
            return bad_request(&InputError { parameter, message });
        }
    }

    let published = state.store.load();
    json(StatusCode::OK, &request.explain(&published.snapshot))
}

async fn read_json_input(body: Incoming) -> Result<ExplainInput, InputError> {
    let collected = Limited::new(body, MAX_EXPLAIN_BODY).collect().await;
    let bytes = collected.map_err(|error| InputError {
        parameter: "body",
        message: format!(
            "could not read the body ({error}); send at most {MAX_EXPLAIN_BODY} bytes"
        ),
    })?;
    ExplainInput::from_json(&bytes.to_bytes())
}

fn method_not_allowed(path: &str) -> Response<Full<Bytes>> {
    let allow = if path == "/explain" {
        "GET, POST"
    } else {
        "GET"
    };
    let mut response = error(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        format!("{path} accepts {allow}"),
        None,
    );
    response
        .headers_mut()
        .insert(header::ALLOW, header::HeaderValue::from_static(allow));
    response
}

fn bad_request(error: &InputError) -> Response<Full<Bytes>> {
    self::error(
        StatusCode::BAD_REQUEST,
        "bad_request",
        error.to_string(),
        Some(error.parameter),
    )
}

/// A `{"status": ...}` body.
#[derive(Serialize)]
struct Status<'a> {
    status: &'a str,
}

impl<'a> Status<'a> {
    fn new(status: &'a str) -> Self {
        Self { status }
    }
}

/// An error body in the same shape the proxy uses.
#[derive(Serialize)]
struct ErrorBody<'a> {
    error: ErrorDetail<'a>,
}

#[derive(Serialize)]
struct ErrorDetail<'a> {
    status: u16,
    code: &'a str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    parameter: Option<&'a str>,
}

fn error(
    status: StatusCode,
    code: &str,
    message: String,
    parameter: Option<&str>,
) -> Response<Full<Bytes>> {
    let body = ErrorBody {
        error: ErrorDetail {
            status: status.as_u16(),
            code,
            message,
            parameter,
        },
    };
    json(status, &body)
}

fn json(status: StatusCode, value: &impl Serialize) -> Response<Full<Bytes>> {
    let (status, mut body) = match serde_json::to_vec(value) {
        Ok(body) => (status, body),
        Err(error) => {
            tracing::error!(%error, "failed to serialize an admin response");
            let body = br#"{"error":{"status":500,"code":"internal_error","message":"failed to serialize the response"}}"#;
            (StatusCode::INTERNAL_SERVER_ERROR, body.to_vec())
        }
    };
    body.push(b'\n');

    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    response
}

#[cfg(test)]
#[path = "admin_tests.rs"]
mod tests;
