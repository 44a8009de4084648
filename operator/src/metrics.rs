//! Operator metrics in the Prometheus text exposition format, served on
//! `--metrics-listen` at `/metrics`, beside `/healthz`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::sync::OnceLock;
use std::sync::atomic::{AtomicU64, Ordering};

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpListener;

/// Counters and gauges shared by the controller and the metrics listener.
#[derive(Debug, Default)]
pub struct Metrics {
    status_writes: AtomicU64,
    snapshots_published: AtomicU64,
    reconcile_errors: AtomicU64,
    events_published: AtomicU64,
    connected_replicas: AtomicU64,
    routes: AtomicU64,
    rejected_handshakes: OnceLock<CounterSource>,
}

/// A counter kept elsewhere, read when metrics are rendered.
struct CounterSource(Box<dyn Fn() -> u64 + Send + Sync>);

impl std::fmt::Debug for CounterSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "CounterSource({})", (self.0)())
    }
}

// === impl Metrics ===

impl Metrics {
    /// Counts one status write sent to the API server.
    pub fn status_written(&self) {
        self.status_writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one new snapshot version published.
    pub fn snapshot_published(&self) {
        self.snapshots_published.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one failed reconcile step (a status write, an event, a
    /// Secret read or the publish).
    pub fn reconcile_error(&self) {
        self.reconcile_errors.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one Kubernetes Event published.
    pub fn event_published(&self) {
        self.events_published.fetch_add(1, Ordering::Relaxed);
    }

    /// Sets the number of replicas connected to the snapshot channel.
    pub fn set_connected_replicas(&self, count: usize) {
        self.connected_replicas
            .store(count as u64, Ordering::Relaxed);
    }

    /// Sets the number of Routes in the last compile.
    pub fn set_routes(&self, count: usize) {
        self.routes.store(count as u64, Ordering::Relaxed);
    }

    /// Sets where the count of rejected snapshot-channel handshakes comes
    /// from. Without it the metric is not rendered.
    pub fn set_rejected_handshakes(&self, source: impl Fn() -> u64 + Send + Sync + 'static) {
        let _ = self
            .rejected_handshakes
            .set(CounterSource(Box::new(source)));
    }

    /// Renders every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = String::new();
        let counters = [
            (
                "portcullis_operator_status_writes_total",
                "Route status writes sent to the API server.",
                &self.status_writes,
            ),
            (
                "portcullis_operator_snapshots_published_total",
                "New snapshot versions published to the channel.",
                &self.snapshots_published,
            ),
            (
                "portcullis_operator_reconcile_errors_total",
                "Failed reconcile steps: status writes, events, Secret reads, publishes.",
                &self.reconcile_errors,
            ),
            (
                "portcullis_operator_events_published_total",
                "Kubernetes Events published.",
                &self.events_published,
            ),
        ];
        for (name, help, value) in counters {
            write_metric(&mut out, name, help, "counter", value);
        }
        if let Some(source) = self.rejected_handshakes.get() {
            write_metric(
                &mut out,
                "portcullis_operator_channel_rejected_handshakes_total",
                "Snapshot-channel connections closed because the TLS handshake failed, as for a client without a valid certificate.",
                "counter",
                &AtomicU64::new((source.0)()),
            );
        }
        let gauges = [
            (
                "portcullis_operator_connected_replicas",
                "Data-plane replicas connected to the snapshot channel.",
                &self.connected_replicas,
            ),
            (
                "portcullis_operator_routes",
                "Routes in the last compile.",
                &self.routes,
            ),
        ];
        for (name, help, value) in gauges {
            write_metric(&mut out, name, help, "gauge", value);
        }
        out
    }
}

fn write_metric(out: &mut String, name: &str, help: &str, kind: &str, value: &AtomicU64) {
    let value = value.load(Ordering::Relaxed);
    // Writing to a String cannot fail.
    let _ = writeln!(
        out,
        "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
    );
}

/// Serves `/metrics` and `/healthz` on `listener` until the task is
/// dropped.
pub async fn serve(listener: TcpListener, metrics: Arc<Metrics>) {
    loop {
        let (tcp, peer) = match listener.accept().await {
            Ok(accepted) => accepted,
            Err(error) => {
                tracing::warn!(%error, "accepting a metrics connection failed");
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
                continue;
            }
        };
        let metrics = metrics.clone();
        tokio::spawn(async move {
            let service = hyper::service::service_fn(move |request| {
                let response = respond(&request, &metrics);
                async move { Ok::<_, std::convert::Infallible>(response) }
            });
            let builder = hyper_util::server::conn::auto::Builder::new(TokioExecutor::new());
            if let Err(error) = builder.serve_connection(TokioIo::new(tcp), service).await {
                tracing::debug!(%error, %peer, "metrics connection failed");
            }
        });
    }
}

fn respond(request: &Request<Incoming>, metrics: &Metrics) -> Response<Full<Bytes>> {
    let (status, content_type, body) = match request.uri().path() {
        "/metrics" => (
            StatusCode::OK,
            "text/plain; version=0.0.4",
            metrics.render(),
        ),
        "/healthz" => (StatusCode::OK, "text/plain", "ok\n".to_owned()),
        _ => (
            StatusCode::NOT_FOUND,
            "text/plain",
            "not found\n".to_owned(),
        ),
    };
    let mut response = Response::new(Full::new(Bytes::from(body)));
    *response.status_mut() = status;
    if let Ok(value) = content_type.parse() {
        response
            .headers_mut()
            .insert(hyper::header::CONTENT_TYPE, value);
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn render_lists_counters_with_values() {
        let metrics = Metrics::default();
        metrics.status_written();
        metrics.status_written();
        metrics.set_connected_replicas(3);
        let text = metrics.render();
        assert!(text.contains("\nportcullis_operator_status_writes_total 2\n"));
        assert!(text.contains("\nportcullis_operator_snapshots_published_total 0\n"));
        assert!(text.contains("\nportcullis_operator_reconcile_errors_total 0\n"));
        assert!(text.contains("\nportcullis_operator_connected_replicas 3\n"));
        assert!(text.contains("# TYPE portcullis_operator_connected_replicas gauge"));
        assert!(!text.contains("rejected_handshakes"));
        metrics.set_rejected_handshakes(|| 7);
        let text = metrics.render();
        assert!(text.contains("\nportcullis_operator_channel_rejected_handshakes_total 7\n"));
    }
}
