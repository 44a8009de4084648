//! The proxy: listeners, request handling and the upstream client.
