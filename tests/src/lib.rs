//! Helpers for the end-to-end tests: processes, backends, clients and certificates.
