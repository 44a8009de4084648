//! The Portcullis data plane: a hyper proxy that serves compiled snapshots
//! and swaps them without dropping a request.

pub mod admin;
pub mod config;
pub mod proxy;
pub mod state;
pub mod watch;
