//! The Portcullis data plane: a hyper proxy that serves compiled snapshots
//! and swaps them without dropping a request.

pub mod admin;
pub mod cli;
pub mod config;
pub mod control;
pub mod explain;
pub mod logging;
pub mod offline;
pub mod proxy;
pub mod reload;
pub mod serve;
pub mod sources;
pub mod state;
pub mod watch;

#[cfg(test)]
mod test_support;
