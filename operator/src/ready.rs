//! The `Ready` condition: whether every connected data-plane replica runs a
//! snapshot that contains the Route at its current generation.
//!
//! The operator remembers which Route generations each recently published
//! version contains, so an acknowledged version can be mapped back to the
//! generations it carries.

use std::collections::{BTreeMap, VecDeque};

use portcullis_compiler::ObjectRef;
use portcullis_compiler::ir::SnapshotIr;

use crate::status::Computed;

/// Published versions remembered. A replica that acknowledged an older
/// version counts as not yet running any generation.
const HISTORY_VERSIONS: usize = 256;

/// Route namespace and name.
pub type RouteKey = (String, String);

/// A replica as the channel last reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaView {
    /// Replica name.
    pub name: String,
    /// Whether the replica is connected now.
    pub connected: bool,
    /// Latest acknowledged version.
    pub acked_version: Option<String>,
    /// Latest rejected version, with the reason and the blamed resource.
    pub nacked: Option<(String, String, Option<ObjectRef>)>,
}

/// Route generations contained in each recently published version.
#[derive(Debug, Default)]
pub struct History {
    versions: VecDeque<(String, BTreeMap<RouteKey, i64>)>,
}

/// Whether a snapshot channel runs at all.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Channel {
    /// No `--snapshot-listen`: no replica can connect.
    Disabled,
    /// Replicas may connect.
    Enabled,
}

// === impl History ===

impl History {
    /// Records the Route generations of a published version.
    pub fn record(&mut self, version: &str, ir: &SnapshotIr) {
        if self.versions.iter().any(|(known, _)| known == version) {
            return;
        }
        let routes = ir
            .routes
            .iter()
            .map(|route| {
                (
                    (route.namespace.clone(), route.name.clone()),
                    route.generation.unwrap_or(0),
                )
            })
            .collect();
        self.versions.push_back((version.to_owned(), routes));
        while self.versions.len() > HISTORY_VERSIONS {
            self.versions.pop_front();
        }
    }

    /// The generation of `route` in `version`, when the version is known
    /// and contains the Route.
    pub fn generation_in(&self, version: &str, route: &RouteKey) -> Option<i64> {
        self.versions
            .iter()
            .find(|(known, _)| known == version)
            .and_then(|(_, routes)| routes.get(route).copied())
    }
}

/// Computes `Ready` for a Route at `generation`. `programmed` is true when
/// the published snapshot contains it.
pub fn ready_condition(
    route: &RouteKey,
    generation: i64,
    programmed: bool,
    channel: Channel,
    replicas: &[ReplicaView],
    history: &History,
) -> Computed {
    let condition = |status, reason, message: String, observed| {
        Computed::new("Ready", status, reason, message, observed)
    };
    if !programmed {
        let message = "the Route is not in the snapshot because it is not accepted; fix the errors \
                       listed in the Accepted condition";
        return condition("False", "Invalid", message.to_owned(), generation);
    }
    let connected: Vec<&ReplicaView> = replicas
        .iter()
        .filter(|replica| replica.connected)
        .collect();
    if channel == Channel::Disabled || connected.is_empty() {
        let message = match channel {
            Channel::Disabled => {
                "the operator runs without a snapshot channel (--snapshot-listen), so no data plane receives the Route"
            }
            Channel::Enabled => {
                "no data-plane replica is connected to the operator; start data planes with the operator as their config source"
            }
        };
        return condition("Unknown", "NoReplicas", message.to_owned(), generation);
    }
    if let Some(message) = rejection(route, generation, &connected, history) {
        return condition("False", "Rejected", message, generation);
    }
    acknowledged(route, generation, &connected, history)
}

/// Computes `Ready` from the versions the connected replicas acknowledged.
fn acknowledged(
    route: &RouteKey,
    generation: i64,
    connected: &[&ReplicaView],
    history: &History,
) -> Computed {
    let condition = |status, reason, message: String, observed| {
        Computed::new("Ready", status, reason, message, observed)
    };
    let running: Vec<Option<i64>> = connected
        .iter()
        .map(|replica| {
            replica
                .acked_version
                .as_deref()
                .and_then(|version| history.generation_in(version, route))
        })
        .collect();
    let waiting: Vec<&str> = connected
        .iter()
        .zip(&running)
        .filter(|(_, running)| **running != Some(generation))
        .map(|(replica, _)| replica.name.as_str())
        .collect();
    if waiting.is_empty() {
        let message = format!(
            "all {} connected replicas run generation {generation}",
            connected.len()
        );
        return condition("True", "Ready", message, generation);
    }

    let waiting = waiting.join(", ");
    let oldest = running
        .iter()
        .copied()
        .collect::<Option<Vec<i64>>>()
        .and_then(|all| all.into_iter().min());
    let Some(oldest) = oldest else {
        let message =
            format!("waiting for {waiting} to acknowledge a snapshot with generation {generation}");
        return condition("False", "Pending", message, generation);
    };
    // Every replica runs some generation: the condition stays true for the
    // oldest one, so observedGeneration moves only after every ACK.
    let message = format!(
        "generation {oldest} runs on all {} connected replicas; generation {generation} waits for an ACK from {waiting}",
        connected.len()
    );
    condition("True", "Ready", message, oldest)
}

/// Builds a message naming the replicas that rejected a snapshot containing this
/// generation of the Route, when the rejection can be blamed on it.
fn rejection(
    route: &RouteKey,
    generation: i64,
    connected: &[&ReplicaView],
    history: &History,
) -> Option<String> {
    let blamed: Vec<String> = connected
        .iter()
        .filter_map(|replica| {
            let (version, reason, resource) = replica.nacked.as_ref()?;
            if history.generation_in(version, route) != Some(generation) {
                return None;
            }
            let acked = replica.acked_version.as_deref();
            let runs_it =
                acked.and_then(|version| history.generation_in(version, route)) == Some(generation);
            if runs_it && resource.is_none() {
                // The rejected snapshot changed something else: this
                // generation already runs from an earlier version.
                return None;
            }
            let blames_this = resource.as_ref().is_none_or(|object| {
                object.kind == "Route" && object.namespace == route.0 && object.name == route.1
            });
            blames_this.then(|| {
                format!(
                    "replica {} rejected snapshot {version}: {reason}",
                    replica.name
                )
            })
        })
        .collect();
    if blamed.is_empty() {
        return None;
    }
    Some(format!(
        "{}; the replica keeps serving its previous snapshot; fix the Route or the data plane and check the replica's log",
        blamed.join("; ")
    ))
}

#[cfg(test)]
#[path = "ready_tests.rs"]
mod tests;
