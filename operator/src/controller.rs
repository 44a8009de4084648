//! The control loop: on any change, wait for the burst to settle, compile
//! every watched resource into one snapshot, publish it when its version
//! changed, and bring every Route's status up to date.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use portcullis_compiler::{Diagnostic, Snapshot, compile};
use portcullis_crds::Route;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::kinds::Inputs;
use crate::metrics::Metrics;
use crate::ready::{Channel, History, ReplicaView, RouteKey, ready_condition};
use crate::secrets::Secrets;
use crate::status::{Computed, route_conditions};
use crate::writer::StatusWriter;

/// Delay before a pass that failed a step runs again without a change.
const RETRY_DELAY: Duration = Duration::from_secs(5);

/// How often the loop checks whether the initial lists finished.
const STARTUP_POLL: Duration = Duration::from_millis(100);

/// The destination of snapshots and the source of replica states.
pub trait Delivery: Send + Sync {
    /// Publishes a snapshot to every replica.
    ///
    /// # Errors
    /// Returns an error when the snapshot cannot be sent, such as when it
    /// exceeds the channel's message size limit.
    fn publish(&self, snapshot: &Snapshot) -> anyhow::Result<()>;

    /// Returns every replica seen recently.
    fn replicas(&self) -> Vec<ReplicaView>;
}

/// Settings of the loop.
#[derive(Clone, Copy, Debug)]
pub struct LoopSettings {
    /// Quiet time after a change before compiling.
    pub debounce: Duration,
    /// Time after startup during which an existing `Ready` condition is
    /// kept rather than replaced by a pending or unknown one.
    pub ready_grace: Duration,
}

/// The controller state kept between passes.
pub struct Controller {
    inputs: Inputs,
    secrets: Secrets,
    delivery: Option<Box<dyn Delivery>>,
    writer: StatusWriter,
    metrics: Arc<Metrics>,
    history: History,
    published: Option<String>,
    settings: LoopSettings,
    grace_until: Instant,
}

// === impl Controller ===

impl Controller {
    /// Creates the controller. [`Self::run`] starts it.
    pub fn new(
        inputs: Inputs,
        secrets: Secrets,
        delivery: Option<Box<dyn Delivery>>,
        writer: StatusWriter,
        metrics: Arc<Metrics>,
        settings: LoopSettings,
    ) -> Self {
        Self {
            inputs,
            secrets,
            delivery,
            writer,
            metrics,
            history: History::default(),
            published: None,
            settings,
            grace_until: Instant::now() + settings.ready_grace,
        }
    }

    /// Runs passes until the task is dropped. `trigger` is woken by every
    /// watched change and every replica state change.
    pub async fn run(mut self, trigger: Arc<Notify>) {
        while !(self.inputs.is_ready() && self.secrets.is_ready()) {
            tokio::time::sleep(STARTUP_POLL).await;
        }
        tracing::info!("initial lists complete; starting reconcile passes");
        let mut grace_pass_pending = !self.settings.ready_grace.is_zero();
        loop {
            let complete = self.pass().await;
            let retry_at = (!complete).then(|| Instant::now() + RETRY_DELAY);
            // One more pass when the grace period ends, so Ready conditions
            // held back during it are recomputed.
            let grace_at = grace_pass_pending.then_some(self.grace_until);
            match retry_at.into_iter().chain(grace_at).min() {
                Some(deadline) => tokio::select! {
                    () = trigger.notified() => {}
                    () = tokio::time::sleep_until(deadline) => {}
                },
                None => trigger.notified().await,
            }
            if Instant::now() >= self.grace_until {
                grace_pass_pending = false;
            }
            tokio::time::sleep(self.settings.debounce).await;
        }
    }

    /// Runs one pass. Returns `false` when a step failed and a retry is
    /// due even without a change.
    async fn pass(&mut self) -> bool {
        let routes: Vec<Arc<Route>> = self
            .inputs
            .routes
            .iter()
            .flat_map(|store| store.state())
            .collect();
        let mut resources = self.inputs.collect();
        let (secrets, errors) = self.secrets.referenced(&routes).await;
        let mut complete = errors.is_empty();
        for error in errors {
            self.metrics.reconcile_error();
            tracing::warn!(%error, "reading a referenced Secret failed; its Routes report it as not found");
        }
        resources.extend(secrets);

        // Compiling a large configuration takes tens of milliseconds, so
        // the runtime moves this worker's other tasks to another thread.
        let compiled = tokio::task::block_in_place(|| compile(&resources));
        // A failed publish is not retried on a timer: its cause, such as a
        // snapshot over the size limit, lasts until the resources change.
        self.publish(&compiled.snapshot);
        self.metrics.set_routes(routes.len());

        let replicas = self.replicas();
        let diagnostics = route_diagnostics(&compiled.diagnostics);
        for route in &routes {
            let key = route_key(route);
            let conditions =
                self.conditions(route, &key, diagnostics.get(&key).copied(), &replicas);
            complete &= self
                .writer
                .apply(route, conditions, Instant::now() < self.grace_until)
                .await;
        }
        self.writer.forget_missing(&routes);
        complete
    }

    fn conditions(
        &self,
        route: &Route,
        key: &RouteKey,
        diagnostic: Option<&Diagnostic>,
        replicas: &[ReplicaView],
    ) -> Vec<Computed> {
        let generation = route.metadata.generation.unwrap_or(0);
        let programmed = self
            .published
            .as_deref()
            .is_some_and(|version| self.history.generation_in(version, key) == Some(generation));
        let channel = if self.delivery.is_some() {
            Channel::Enabled
        } else {
            Channel::Disabled
        };
        let ready = ready_condition(
            key,
            generation,
            programmed,
            channel,
            replicas,
            &self.history,
        );
        route_conditions(generation, diagnostic, programmed, ready)
    }

    fn publish(&mut self, snapshot: &Snapshot) {
        let version = snapshot.version();
        if self.published.as_deref() == Some(version) {
            return;
        }
        self.history.record(version, snapshot.ir());
        if let Some(delivery) = &self.delivery {
            if let Err(error) = delivery.publish(snapshot) {
                self.metrics.reconcile_error();
                tracing::error!(version, error = %format!("{error:#}"), "publishing the snapshot failed; replicas keep the previous one");
                return;
            }
            self.metrics.snapshot_published();
        }
        tracing::info!(
            version,
            routes = snapshot.ir().routes.len(),
            "snapshot published"
        );
        self.published = Some(version.to_owned());
    }

    fn replicas(&self) -> Vec<ReplicaView> {
        let replicas = self
            .delivery
            .as_ref()
            .map(|delivery| delivery.replicas())
            .unwrap_or_default();
        let connected = replicas.iter().filter(|replica| replica.connected).count();
        self.metrics.set_connected_replicas(connected);
        replicas
    }
}

/// Collects the compile diagnostics of Routes by namespace and name.
fn route_diagnostics(diagnostics: &[Diagnostic]) -> HashMap<RouteKey, &Diagnostic> {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.object.kind == "Route")
        .map(|diagnostic| {
            let object = &diagnostic.object;
            ((object.namespace.clone(), object.name.clone()), diagnostic)
        })
        .collect()
}

/// Namespace and name of a Route, as the compiler names it.
pub fn route_key(route: &Route) -> RouteKey {
    let namespace = route
        .metadata
        .namespace
        .clone()
        .unwrap_or_else(|| "default".to_owned());
    (namespace, route.metadata.name.clone().unwrap_or_default())
}
