//! The snapshot channel between the Portcullis operator and its data planes.
//!
//! Each data-plane replica keeps one HTTP/2 stream open to the operator over
//! mutual TLS 1.3: `POST /v1alpha1/stream`. The request body carries the
//! replica's messages (`hello`, then `ack` or `nack` per snapshot) and the
//! response body carries the operator's (`snapshot`, on connect and on
//! every new version). Each message is one JSON object behind a 4-byte
//! big-endian length. HTTP/2 PING frames on both sides detect dead peers.
//!
//! The operator side is [`ChannelServer`]; the replica side is
//! [`ChannelClient`], which also saves every applied snapshot so a replica
//! that restarts while the operator is down can serve it
//! ([`load_persisted`]).

mod body;
mod client;
mod frame;
mod message;
mod persist;
mod server;
pub mod tls;

pub use client::{Backoff, ChannelClient, ClientConfig, ClientError, ClientStatus};
pub use frame::{FrameError, MAX_MESSAGE_BYTES};
pub use message::{ClientMessage, NackReason, ServerMessage};
pub use persist::{
    PERSIST_FORMAT, PersistError, PersistedSnapshot, load_persisted, save_persisted,
};
pub use server::{ChannelServer, Nacked, ReplicaStatus, ReplicaWatch};
pub use tls::{TlsError, TlsFiles};

/// Path of the message stream.
pub const STREAM_PATH: &str = "/v1alpha1/stream";

/// Media type of both stream bodies.
pub const CONTENT_TYPE: &str = "application/x-portcullis-channel";

/// HTTP/2 settings shared by both ends.
mod http2_settings {
    use std::time::Duration;

    /// Interval between PING frames.
    pub(crate) const KEEPALIVE_INTERVAL: Duration = Duration::from_secs(10);
    /// Time without a PING acknowledgement after which the connection is
    /// considered dead and closed.
    pub(crate) const KEEPALIVE_TIMEOUT: Duration = Duration::from_secs(20);
    /// Flow-control window per stream. Larger than the 64 KiB default so a
    /// snapshot of several MiB is not throttled by round trips.
    pub(crate) const STREAM_WINDOW: u32 = 4 * 1024 * 1024;
    /// Flow-control window per connection.
    pub(crate) const CONNECTION_WINDOW: u32 = 8 * 1024 * 1024;
}
