//! Tests with real servers and clients on 127.0.0.1 ephemeral ports.

mod forwarding;
mod pool;
mod routing;
mod support;
