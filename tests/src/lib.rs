//! Helpers for the end-to-end tests: the gateway process, backends, clients
//! and certificates.
//!
//! A typical test writes manifests into a [`ConfigDir`], starts echo
//! [`Backend`]s, starts the binary with [`Gateway::builder`] and sends
//! requests with [`client`].

pub mod backend;
pub mod certs;
pub mod client;
pub mod config_dir;
pub mod gateway;
pub mod logs;
pub mod mmdb;
pub mod proto;

pub use backend::Backend;
pub use client::Response;
pub use gateway::{ConfigDir, Gateway, LogLine};
