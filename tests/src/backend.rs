//! Real HTTP backends on 127.0.0.1 ephemeral ports: an echo server that
//! reports what it received, or any handler a test supplies.
//!
//! Every backend serves HTTP/1.1 (with upgrades) and HTTP/2 with prior
//! knowledge (h2c) on the same port.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use http::{HeaderMap, Request, Response};
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo};
use hyper_util::server::conn::auto;
use serde_json::{Map, Value, json};
use tokio::net::TcpListener;
use tokio::task::{JoinHandle, JoinSet};

/// Error type of [`BoxBody`].
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Response body type of backend handlers.
pub type BoxBody = http_body_util::combinators::BoxBody<Bytes, BoxError>;

/// A request as an echo backend received it, body included.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    /// Method.
    pub method: http::Method,
    /// Path, without the query.
    pub path: String,
    /// Raw query, without `?`; empty when absent.
    pub query: String,
    /// HTTP version, such as `HTTP/1.1`.
    pub version: String,
    /// Headers as received.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
}

/// A backend server, stopped when dropped.
#[derive(Debug)]
pub struct Backend {
    name: String,
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    task: JoinHandle<()>,
}

// === impl Backend ===

impl Backend {
    /// Starts an echo backend named `name`.
    ///
    /// Each response has status 200, header `x-backend: <name>` and a JSON
    /// body `{"backend", "method", "path", "query", "version", "headers",
    /// "headerList", "bodyLength"}`. `headers` maps each lowercase name to
    /// its values joined with `, `; `headerList` keeps every `[name, value]`
    /// pair in order. Each request is also kept, body included, for
    /// [`Backend::requests`].
    pub async fn echo(name: &str) -> Self {
        let recorded = Arc::new(Mutex::new(Vec::new()));
        let handler = {
            let name = name.to_owned();
            let recorded = Arc::clone(&recorded);
            move |request| echo(name.clone(), Arc::clone(&recorded), request)
        };
        Self::serve(name, handler, recorded).await
    }

    /// Starts a backend that serves every request with `handler`.
    pub async fn start<H, F>(handler: H) -> Self
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        Self::serve("custom", handler, Arc::default()).await
    }

    /// Name given to [`Backend::echo`], or `custom`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Bound port.
    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// `127.0.0.1:<port>`, as a Route's static `endpoint`.
    pub fn endpoint(&self) -> String {
        self.addr.to_string()
    }

    /// Number of requests received so far.
    pub fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }

    /// Requests received so far by an echo backend, oldest first. Always
    /// empty for a backend started with [`Backend::start`].
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.recorded
            .lock()
            .expect("recorded requests lock poisoned")
            .clone()
    }

    /// Returns the newest request received by an echo backend.
    ///
    /// # Panics
    /// Panics when none was received.
    pub fn last_request(&self) -> RecordedRequest {
        let recorded = self
            .recorded
            .lock()
            .expect("recorded requests lock poisoned");
        let last = recorded.last().cloned();
        last.unwrap_or_else(|| panic!("backend {} received no request", self.name))
    }

    async fn serve<H, F>(name: &str, handler: H, recorded: Arc<Mutex<Vec<RecordedRequest>>>) -> Self
    where
        H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
        F: Future<Output = Response<BoxBody>> + Send + 'static,
    {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("failed to bind a backend on 127.0.0.1:0");
        let addr = listener
            .local_addr()
            .expect("bound listener has an address");
        let hits = Arc::new(AtomicUsize::new(0));
        let task = tokio::spawn(accept_loop(listener, Arc::new(handler), Arc::clone(&hits)));
        Self {
            name: name.to_owned(),
            addr,
            hits,
            recorded,
            task,
        }
    }
}

impl Drop for Backend {
    fn drop(&mut self) {
        // Aborting the accept loop drops its JoinSet, which aborts every
        // open connection as well.
        self.task.abort();
    }
}

/// Wraps `bytes` as a [`BoxBody`].
pub fn full(bytes: impl Into<Bytes>) -> BoxBody {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed()
}

/// Returns an empty [`BoxBody`].
pub fn empty() -> BoxBody {
    Empty::new().map_err(|never| match never {}).boxed()
}

async fn accept_loop<H, F>(listener: TcpListener, handler: Arc<H>, hits: Arc<AtomicUsize>)
where
    H: Fn(Request<Incoming>) -> F + Send + Sync + 'static,
    F: Future<Output = Response<BoxBody>> + Send + 'static,
{
    let mut connections = JoinSet::new();
    loop {
        let Ok((stream, _)) = listener.accept().await else {
            continue;
        };
        let handler = Arc::clone(&handler);
        let hits = Arc::clone(&hits);
        let service = service_fn(move |request| {
            hits.fetch_add(1, Ordering::SeqCst);
            let response = handler(request);
            async move { Ok::<_, Infallible>(response.await) }
        });
        connections.spawn(async move {
            let builder = auto::Builder::new(TokioExecutor::new());
            let connection = builder.serve_connection_with_upgrades(TokioIo::new(stream), service);
            let _ = connection.await;
        });
        // Reap finished connections so the set does not grow without bound.
        while connections.try_join_next().is_some() {}
    }
}

async fn echo(
    name: String,
    recorded: Arc<Mutex<Vec<RecordedRequest>>>,
    request: Request<Incoming>,
) -> Response<BoxBody> {
    let (parts, body) = request.into_parts();
    let body = match body.collect().await {
        Ok(collected) => collected.to_bytes(),
        Err(err) => return error_response(&format!("failed to read request body: {err}")),
    };
    let entry = RecordedRequest {
        method: parts.method.clone(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        version: format!("{:?}", parts.version),
        headers: parts.headers.clone(),
        body,
    };
    let report = echo_report(&name, &entry);
    recorded
        .lock()
        .expect("recorded requests lock poisoned")
        .push(entry);

    Response::builder()
        .header("content-type", "application/json")
        .header("x-backend", name.as_str())
        .body(full(report.to_string()))
        .unwrap_or_else(|err| error_response(&format!("invalid echo response: {err}")))
}

fn echo_report(name: &str, request: &RecordedRequest) -> Value {
    let mut headers = Map::new();
    let mut header_list = Vec::new();
    for (header, value) in &request.headers {
        let value = String::from_utf8_lossy(value.as_bytes()).into_owned();
        header_list.push(json!([header.as_str(), value]));
        let joined = match headers.get(header.as_str()).and_then(Value::as_str) {
            Some(previous) => format!("{previous}, {value}"),
            None => value,
        };
        headers.insert(header.as_str().to_owned(), Value::String(joined));
    }
    json!({
        "backend": name,
        "method": request.method.as_str(),
        "path": request.path,
        "query": request.query,
        "version": request.version,
        "headers": headers,
        "headerList": header_list,
        "bodyLength": request.body.len(),
    })
}

fn error_response(message: &str) -> Response<BoxBody> {
    let mut response = Response::new(full(message.to_owned()));
    *response.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::client;

    #[tokio::test]
    async fn echo_reports_request_and_records_body() {
        let backend = Backend::echo("alpha").await;
        let mut request = client::request(http::Method::POST, "a.example.com", "/x/y?q=1", "hello");
        request
            .headers_mut()
            .append("x-multi", "one".parse().expect("valid value"));
        request
            .headers_mut()
            .append("x-multi", "two".parse().expect("valid value"));

        let response = client::send_ok(backend.addr(), request).await;
        let report = response.json();

        assert_eq!(response.status, http::StatusCode::OK);
        assert_eq!(response.backend(), Some("alpha"));
        assert_eq!(report["method"], "POST");
        assert_eq!(report["path"], "/x/y");
        assert_eq!(report["query"], "q=1");
        assert_eq!(report["headers"]["host"], "a.example.com");
        assert_eq!(report["headers"]["x-multi"], "one, two");
        assert_eq!(report["bodyLength"], 5);
        assert_eq!(backend.hits(), 1);
        assert_eq!(backend.last_request().body, Bytes::from_static(b"hello"));
    }

    #[tokio::test]
    async fn custom_handler_answers_and_counts() {
        let backend = Backend::start(|_request| async {
            let mut response = Response::new(full("teapot"));
            *response.status_mut() = http::StatusCode::IM_A_TEAPOT;
            response
        })
        .await;

        let response = client::get(backend.addr(), "localhost", "/").await;

        assert_eq!(response.status, http::StatusCode::IM_A_TEAPOT);
        assert_eq!(response.text(), "teapot");
        assert_eq!(backend.hits(), 1);
        assert!(backend.requests().is_empty());
    }
}
