//! The operator's record of each replica: connection, acknowledgements
//! and rejections.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::{Duration, Instant};

use portcullis_compiler::ObjectRef;
use tokio::sync::watch;

/// How long a disconnected replica stays listed. Replicas of a Deployment
/// get new names on every rollout, so old entries must expire.
const DISCONNECTED_RETENTION: Duration = Duration::from_secs(600);

/// The state of one replica, as the operator last saw it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ReplicaStatus {
    /// Replica name from its `hello` message.
    pub replica: String,
    /// Whether at least one stream from this replica is open.
    pub connected: bool,
    /// Open streams under this name; more than one means two replicas
    /// share a name, or a reconnect raced the old stream's close.
    pub streams: u32,
    /// Peer address of the latest stream.
    pub address: SocketAddr,
    /// Version the replica reported serving when it connected.
    pub reported_version: Option<String>,
    /// Latest version the replica acknowledged.
    pub acked_version: Option<String>,
    /// Latest rejection, cleared by the next acknowledgement.
    pub nacked: Option<Nacked>,
}

/// A snapshot a replica rejected.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Nacked {
    /// The rejected version.
    pub version: String,
    /// The replica's reason.
    pub reason: String,
    /// The resource the replica blamed, when known.
    pub resource: Option<ObjectRef>,
}

/// Every replica seen recently, keyed by name.
#[derive(Clone, Debug, Default)]
pub(crate) struct Replicas {
    entries: BTreeMap<String, Entry>,
}

#[derive(Clone, Debug)]
struct Entry {
    status: ReplicaStatus,
    disconnected_at: Option<Instant>,
}

/// A receiver that wakes when any replica connects, disconnects,
/// acknowledges or rejects a snapshot.
#[derive(Clone, Debug)]
pub struct ReplicaWatch {
    receiver: watch::Receiver<Replicas>,
}

// === impl Replicas ===

impl Replicas {
    /// Snapshot of every listed replica, sorted by name.
    pub(crate) fn statuses(&self) -> Vec<ReplicaStatus> {
        let entries = self.entries.values();
        entries.map(|entry| entry.status.clone()).collect()
    }

    pub(crate) fn connect(
        &mut self,
        replica: &str,
        address: SocketAddr,
        reported_version: Option<String>,
    ) {
        self.prune(Instant::now());
        let entry = self
            .entries
            .entry(replica.to_owned())
            .or_insert_with(|| Entry {
                status: ReplicaStatus {
                    replica: replica.to_owned(),
                    connected: false,
                    streams: 0,
                    address,
                    reported_version: None,
                    acked_version: None,
                    nacked: None,
                },
                disconnected_at: None,
            });
        entry.status.streams += 1;
        entry.status.connected = true;
        entry.status.address = address;
        entry.status.reported_version = reported_version;
        entry.disconnected_at = None;
    }

    pub(crate) fn disconnect(&mut self, replica: &str) {
        let Some(entry) = self.entries.get_mut(replica) else {
            return;
        };
        entry.status.streams = entry.status.streams.saturating_sub(1);
        if entry.status.streams == 0 {
            entry.status.connected = false;
            entry.disconnected_at = Some(Instant::now());
        }
    }

    pub(crate) fn ack(&mut self, replica: &str, version: String) {
        if let Some(entry) = self.entries.get_mut(replica) {
            entry.status.acked_version = Some(version);
            entry.status.nacked = None;
        }
    }

    pub(crate) fn nack(&mut self, replica: &str, nacked: Nacked) {
        if let Some(entry) = self.entries.get_mut(replica) {
            entry.status.nacked = Some(nacked);
        }
    }

    fn prune(&mut self, now: Instant) {
        self.entries.retain(|_, entry| match entry.disconnected_at {
            Some(at) => now.duration_since(at) < DISCONNECTED_RETENTION,
            None => true,
        });
    }
}

// === impl ReplicaWatch ===

impl ReplicaWatch {
    pub(crate) fn new(receiver: watch::Receiver<Replicas>) -> Self {
        Self { receiver }
    }

    /// Waits for the next change. Returns `false` once the server is
    /// dropped and no change can come.
    pub async fn changed(&mut self) -> bool {
        self.receiver.changed().await.is_ok()
    }

    /// Lists every replica, sorted by name, and marks the current state
    /// as seen.
    pub fn current(&mut self) -> Vec<ReplicaStatus> {
        self.receiver.borrow_and_update().statuses()
    }
}
