//! Protocol-level test clients and servers: HTTP/2 with prior knowledge,
//! TLS with SNI and ALPN, gRPC-style trailers, WebSocket echo, raw request
//! bytes and large generated bodies.

pub mod body;
pub mod cli;
pub mod conn;
pub mod grpc;
pub mod manifest;
pub mod pattern;
pub mod raw;
pub mod ws;

#[cfg(test)]
mod tests;
