//! Operator mode: snapshots arrive from the operator over the snapshot
//! channel instead of being compiled from files.
//!
//! Start-up order:
//! 1. When `--snapshot-cache` names an existing file, the snapshot saved by
//!    the previous run is checked (checksum, layout), rebuilt and served at
//!    once, so a replica that restarts while the operator is down serves its
//!    last good configuration. A damaged file is logged and skipped.
//! 2. The channel client connects, retrying with backoff for as long as the
//!    process runs. Each snapshot it receives is rebuilt, published and
//!    acknowledged (ACK). A snapshot that cannot be built, or that contains
//!    the Route named by the test hook `--reject-snapshots-with-route`, is
//!    rejected (NACK), and the previous snapshot keeps serving.

mod settings;

use std::path::Path;
use std::sync::Arc;

use anyhow::Context as _;
use portcullis_channel::{ChannelClient, ClientConfig, NackReason, load_persisted};
use portcullis_compiler::ir::SnapshotIr;
use portcullis_compiler::{ObjectRef, Snapshot};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use settings::{OperatorSettings, RouteName};

use crate::state::SnapshotStore;

/// Applies snapshots received from the operator to the store.
#[derive(Debug)]
struct Applier {
    store: Arc<SnapshotStore>,
    reject_route: Option<RouteName>,
}

/// Serves the persisted snapshot, if any, and starts the channel client in
/// a task that ends when `shutdown` turns true.
///
/// Must run on a multi-threaded runtime, because each received snapshot
/// is rebuilt with [`tokio::task::block_in_place`].
///
/// # Errors
/// Returns an error when a TLS file cannot be loaded or the server name is
/// invalid. A damaged snapshot cache is logged, not returned.
pub async fn start(
    settings: OperatorSettings,
    store: Arc<SnapshotStore>,
    shutdown: watch::Receiver<bool>,
) -> anyhow::Result<JoinHandle<()>> {
    let last_version = match &settings.snapshot_cache {
        Some(path) => restore(path, Arc::clone(&store)).await,
        None => None,
    };

    let config = client_config(&settings, last_version);
    let client = ChannelClient::new(config).context("failed to set up the operator channel")?;
    tracing::info!(
        operator = %settings.address,
        server_name = %settings.server_name,
        replica = %settings.replica,
        "connecting to the operator"
    );

    let applier = Applier {
        store,
        reject_route: settings.reject_route,
    };
    let apply = move |ir| tokio::task::block_in_place(|| applier.apply(ir));
    Ok(tokio::spawn(client.run(apply, wait_for_shutdown(shutdown))))
}

fn client_config(settings: &OperatorSettings, last_version: Option<String>) -> ClientConfig {
    let mut config = ClientConfig::new(
        settings.address.clone(),
        settings.server_name.clone(),
        settings.tls.clone(),
        settings.replica.clone(),
    );
    config.persist_path = settings.snapshot_cache.clone();
    config.last_version = last_version;
    config
}

async fn wait_for_shutdown(mut shutdown: watch::Receiver<bool>) {
    // An error means the sender is gone, which also ends the process.
    let _ = shutdown.wait_for(|stop| *stop).await;
}

/// Loads, rebuilds and publishes the persisted snapshot on a blocking
/// thread; returns the operator's version of it when it is served.
async fn restore(path: &Path, store: Arc<SnapshotStore>) -> Option<String> {
    let path = path.to_owned();
    let restored = tokio::task::spawn_blocking(move || restore_blocking(&path, &store)).await;
    match restored {
        Ok(version) => version,
        Err(error) => {
            tracing::error!(%error, "loading the persisted snapshot panicked; starting without it");
            None
        }
    }
}

fn restore_blocking(path: &Path, store: &SnapshotStore) -> Option<String> {
    let file = path.display().to_string();
    match std::fs::exists(path) {
        Ok(true) => {}
        Ok(false) => {
            tracing::info!(file, "no persisted snapshot yet; waiting for the operator");
            return None;
        }
        Err(error) => {
            tracing::error!(file, %error, "cannot check the persisted snapshot; starting without it");
            return None;
        }
    }

    let persisted = match load_persisted(path) {
        Ok(persisted) => persisted,
        Err(error) => {
            let error = error_chain(&error);
            tracing::error!(
                file,
                error,
                "persisted snapshot rejected; starting without it and waiting for the operator"
            );
            return None;
        }
    };
    match Snapshot::from_ir(persisted.ir) {
        Ok(snapshot) => {
            publish(store, snapshot, "cache");
            Some(persisted.version)
        }
        Err(problem) => {
            tracing::error!(
                file,
                error = problem,
                "persisted snapshot cannot be built; starting without it and waiting for the operator"
            );
            None
        }
    }
}

// === impl Applier ===

impl Applier {
    /// Rebuilds and publishes `ir`, returning the version now served, or
    /// the reason it was rejected.
    fn apply(&self, ir: SnapshotIr) -> Result<String, NackReason> {
        if let Some(route) = self.rejected_route(&ir) {
            let reason = format!(
                "Route {route} is rejected by this replica's --reject-snapshots-with-route test hook"
            );
            tracing::warn!(reason, "snapshot rejected; keeping the current snapshot");
            let resource = ObjectRef {
                kind: "Route".to_owned(),
                namespace: route.namespace.clone(),
                name: route.name.clone(),
            };
            return Err(NackReason::new(reason).with_resource(resource));
        }

        match Snapshot::from_ir(ir) {
            Ok(snapshot) => Ok(publish(&self.store, snapshot, "operator")),
            Err(problem) => {
                let reason = format!("snapshot cannot be built on this replica: {problem}");
                tracing::warn!(reason, "snapshot rejected; keeping the current snapshot");
                Err(NackReason::new(reason))
            }
        }
    }

    fn rejected_route(&self, ir: &SnapshotIr) -> Option<&RouteName> {
        let route = self.reject_route.as_ref()?;
        ir.routes
            .iter()
            .any(|candidate| candidate.namespace == route.namespace && candidate.name == route.name)
            .then_some(route)
    }
}

/// Publishes `snapshot` with no diagnostics, since the operator reports
/// those on the resources, and logs it as standalone mode does.
fn publish(store: &SnapshotStore, snapshot: Snapshot, source: &'static str) -> String {
    let version = snapshot.version().to_owned();
    let routes = snapshot.ir().routes.len();
    let certificates = snapshot.certificates().len();
    let generation = store.publish(snapshot, Vec::new());
    tracing::info!(%version, generation, routes, certificates, source, "snapshot applied");
    version
}

/// Formats an error and its causes on one line, as `error: cause: cause`.
fn error_chain(error: &dyn std::error::Error) -> String {
    let mut line = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        line.push_str(": ");
        line.push_str(&cause.to_string());
        source = cause.source();
    }
    line
}

#[cfg(test)]
#[path = "control_tests.rs"]
mod tests;
