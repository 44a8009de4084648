//! Writes Route status with server-side apply, only when it changed, and
//! records a Kubernetes Event for each new rejection.

use std::collections::HashMap;
use std::sync::Arc;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Condition, Time};
use k8s_openapi::jiff::Timestamp;
use kube::api::{Patch, PatchParams};
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use kube::{Api, Client, Resource};
use portcullis_crds::Route;
use serde_json::json;

use crate::controller::route_key;
use crate::metrics::Metrics;
use crate::ready::RouteKey;
use crate::status::{Computed, differs, merge};

/// Field manager of every status write.
pub const FIELD_MANAGER: &str = "portcullis-operator";

/// Writes status and events, remembering what it wrote.
pub struct StatusWriter {
    client: Client,
    recorder: Recorder,
    metrics: Arc<Metrics>,
    written: HashMap<RouteKey, Written>,
}

/// The last write to one Route. The reflector may not have seen that write
/// yet on the next pass, so the record keeps the pass from writing it again.
struct Written {
    uid: Option<String>,
    /// The Route's resourceVersion before the write.
    resource_version_before: Option<String>,
    conditions: Vec<Condition>,
}

// === impl StatusWriter ===

impl StatusWriter {
    /// Creates a writer that reports as `portcullis-operator`.
    pub fn new(client: Client, metrics: Arc<Metrics>) -> Self {
        let reporter = Reporter {
            controller: FIELD_MANAGER.to_owned(),
            instance: std::env::var("POD_NAME").ok(),
        };
        Self {
            recorder: Recorder::new(client.clone(), reporter),
            client,
            metrics,
            written: HashMap::new(),
        }
    }

    /// Writes `computed` to the Route's status when it differs from the
    /// conditions already on the Route. While `hold_ready` is set, an
    /// existing `Ready=True` replaces a computed `Ready` that waits for
    /// replicas (`Pending` or `NoReplicas`) or is true for no newer
    /// generation, so replicas reconnecting after an operator restart do
    /// not flap it. Returns `false` when the write
    /// failed.
    pub async fn apply(
        &mut self,
        route: &Route,
        mut computed: Vec<Computed>,
        hold_ready: bool,
    ) -> bool {
        let key = route_key(route);
        let existing = self.existing(&key, route);
        if hold_ready {
            keep_ready(&existing, &mut computed);
        }
        if !differs(&existing, &computed) {
            return true;
        }
        let now = Time(Timestamp::now());
        let conditions = merge(&existing, &computed, &now);
        match self.patch(route, &conditions).await {
            Ok(()) => {
                self.metrics.status_written();
                tracing::debug!(route = %format!("{}/{}", key.0, key.1), "route status written");
                self.record_events(route, &existing, &computed).await;
                self.written.insert(
                    key,
                    Written {
                        uid: route.metadata.uid.clone(),
                        resource_version_before: route.metadata.resource_version.clone(),
                        conditions,
                    },
                );
                true
            }
            Err(error) => {
                self.metrics.reconcile_error();
                tracing::warn!(route = %format!("{}/{}", key.0, key.1), %error, "writing route status failed; retrying");
                false
            }
        }
    }

    /// Drops the records of Routes that no longer exist.
    pub fn forget_missing(&mut self, routes: &[Arc<Route>]) {
        let present: std::collections::HashSet<RouteKey> =
            routes.iter().map(|route| route_key(route)).collect();
        self.written.retain(|key, _| present.contains(key));
    }

    /// Returns the conditions the Route has now: from the reflector, or from this
    /// writer's last write when the reflector has not caught up with it.
    fn existing(&self, key: &RouteKey, route: &Route) -> Vec<Condition> {
        if let Some(written) = self.written.get(key) {
            let same_object = written.uid == route.metadata.uid;
            let stale = written.resource_version_before == route.metadata.resource_version;
            if same_object && stale {
                return written.conditions.clone();
            }
        }
        route
            .status
            .as_ref()
            .map(|status| status.conditions.clone())
            .unwrap_or_default()
    }

    async fn patch(&self, route: &Route, conditions: &[Condition]) -> kube::Result<()> {
        let namespace = route.metadata.namespace.as_deref().unwrap_or("default");
        let name = route.metadata.name.as_deref().unwrap_or_default();
        let api: Api<Route> = Api::namespaced(self.client.clone(), namespace);
        let body = json!({
            "apiVersion": Route::api_version(&()),
            "kind": Route::kind(&()),
            "metadata": { "name": name },
            "status": { "conditions": conditions },
        });
        let params = PatchParams::apply(FIELD_MANAGER).force();
        api.patch_status(name, &params, &Patch::Apply(&body))
            .await?;
        Ok(())
    }

    /// Publishes a Warning event for each condition that turned into a
    /// failure with this write.
    async fn record_events(&self, route: &Route, existing: &[Condition], computed: &[Computed]) {
        let reference = route.object_ref(&());
        for condition in computed {
            let Some(reason) = failure_reason(condition) else {
                continue;
            };
            let unchanged = existing.iter().any(|old| {
                old.type_ == condition.type_
                    && old.status == condition.status
                    && old.reason == condition.reason
                    && old.message == condition.message
            });
            if unchanged {
                continue;
            }
            let event = Event {
                type_: EventType::Warning,
                reason: reason.to_owned(),
                note: Some(condition.message.chars().take(1024).collect()),
                action: "Reconcile".to_owned(),
                secondary: None,
            };
            match self.recorder.publish(&event, &reference).await {
                Ok(()) => self.metrics.event_published(),
                Err(error) => {
                    self.metrics.reconcile_error();
                    tracing::warn!(%error, reason, "publishing an event failed");
                }
            }
        }
    }
}

/// Returns the event reason for a failed condition, or `None` for a healthy one.
fn failure_reason(condition: &Computed) -> Option<&str> {
    match (condition.type_, condition.status) {
        ("Accepted", "False") => Some("RouteRejected"),
        ("ResolvedRefs", "False") => Some(condition.reason.as_str()),
        ("Ready", "False") if condition.reason == "Rejected" => Some("ReplicaRejected"),
        _ => None,
    }
}

/// Replaces a computed `Ready` that waits for replicas, or that is true for
/// no newer generation, by the existing one when that one is true. A
/// rejection or an invalid Route still shows.
fn keep_ready(existing: &[Condition], computed: &mut [Computed]) {
    let Some(old) = existing
        .iter()
        .find(|condition| condition.type_ == "Ready" && condition.status == "True")
    else {
        return;
    };
    let Some(ready) = computed
        .iter_mut()
        .find(|condition| condition.type_ == "Ready")
    else {
        return;
    };
    let old_generation = old.observed_generation.unwrap_or(0);
    // Until every replica is back, a partial count ("all 1 connected
    // replicas") would replace the message, so a true Ready for the same
    // generation is also kept.
    let reconnecting = match ready.reason.as_str() {
        "Pending" | "NoReplicas" => true,
        "Ready" => ready.observed_generation <= old_generation,
        _ => false,
    };
    if reconnecting {
        ready.status = "True";
        ready.reason = old.reason.clone();
        ready.message = old.message.clone();
        ready.observed_generation = old.observed_generation.unwrap_or(ready.observed_generation);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::status::merge;

    fn ready(status: &'static str, reason: &str, message: &str, generation: i64) -> Computed {
        Computed::new("Ready", status, reason, message.to_owned(), generation)
    }

    fn existing_ready() -> Vec<Condition> {
        let before = [ready(
            "True",
            "Ready",
            "all 2 connected replicas run generation 1",
            1,
        )];
        merge(&[], &before, &Time(Timestamp::UNIX_EPOCH))
    }

    #[test]
    fn keep_ready_holds_while_reconnecting() {
        for computed in [
            ready("Unknown", "NoReplicas", "no replica", 1),
            ready("False", "Pending", "waiting for b", 1),
            ready(
                "True",
                "Ready",
                "all 1 connected replicas run generation 1",
                1,
            ),
        ] {
            let mut conditions = vec![computed];
            keep_ready(&existing_ready(), &mut conditions);
            assert_eq!(conditions[0].status, "True");
            assert_eq!(
                conditions[0].message,
                "all 2 connected replicas run generation 1"
            );
            assert_eq!(conditions[0].observed_generation, 1);
        }
    }

    #[test]
    fn keep_ready_lets_failures_and_newer_generations_through() {
        for computed in [
            ready("False", "Rejected", "replica b rejected snapshot v2", 1),
            ready("False", "Invalid", "not accepted", 2),
            ready(
                "True",
                "Ready",
                "all 2 connected replicas run generation 2",
                2,
            ),
        ] {
            let mut conditions = vec![computed.clone()];
            keep_ready(&existing_ready(), &mut conditions);
            assert_eq!(conditions[0], computed);
        }
    }
}
