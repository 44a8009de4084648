//! Snapshot delivery to data planes over the mutually authenticated
//! snapshot channel.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use portcullis_channel::{ChannelServer, ReplicaStatus, TlsFiles};
use portcullis_compiler::Snapshot;
use tokio::sync::Notify;

use crate::cli::ChannelFiles;
use crate::controller::Delivery;
use crate::metrics::Metrics;
use crate::ready::ReplicaView;

/// Snapshot delivery through a [`ChannelServer`].
struct ChannelDelivery {
    server: ChannelServer,
}

/// Starts the channel listener on `listen` and returns its [`Delivery`].
/// Every replica connect, disconnect, ACK or NACK wakes `trigger`, and
/// `metrics` counts rejected handshakes.
///
/// # Errors
/// Returns an error when a PEM file cannot be read or the address cannot
/// be bound.
pub async fn start(
    listen: SocketAddr,
    files: &ChannelFiles,
    trigger: Arc<Notify>,
    metrics: &Metrics,
) -> anyhow::Result<Box<dyn Delivery>> {
    let tls = TlsFiles {
        ca: files.ca.clone(),
        cert: files.cert.clone(),
        key: files.key.clone(),
    };
    let server = ChannelServer::from_files(&tls)
        .context("loading the snapshot channel's TLS files failed")?;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("binding the snapshot listener to {listen} failed"))?;
    crate::run::log_listener("snapshot", &listener);

    let counted = server.clone();
    metrics.set_rejected_handshakes(move || counted.rejected_handshakes());
    let serving = server.clone();
    tokio::spawn(async move {
        if let Err(error) = serving.serve(listener, std::future::pending()).await {
            tracing::error!(%error, "the snapshot channel listener stopped");
        }
    });
    let mut replicas = server.watch_replicas();
    tokio::spawn(async move {
        while replicas.changed().await {
            trigger.notify_one();
        }
    });
    Ok(Box::new(ChannelDelivery { server }))
}

impl Delivery for ChannelDelivery {
    fn publish(&self, snapshot: &Snapshot) -> anyhow::Result<()> {
        self.server
            .publish(snapshot)
            .context("encoding the snapshot for the channel failed")
    }

    fn replicas(&self) -> Vec<ReplicaView> {
        self.server.replicas().into_iter().map(view).collect()
    }
}

fn view(status: ReplicaStatus) -> ReplicaView {
    ReplicaView {
        name: status.replica,
        connected: status.connected,
        acked_version: status.acked_version,
        nacked: status
            .nacked
            .map(|nacked| (nacked.version, nacked.reason, nacked.resource)),
    }
}
