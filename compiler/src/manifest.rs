//! Reads Kubernetes-style YAML manifests into typed resources.

use std::path::Path;

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use portcullis_crds::Route;

use crate::Diagnostic;

/// A resource the compiler reads. Other kinds are skipped with a debug log.
#[derive(Clone, Debug)]
pub enum Resource {
    /// A Portcullis Route.
    Route(Box<Route>),
    /// A Secret, read for TLS certificates.
    Secret(Box<Secret>),
    /// A Service, resolved for Service backends.
    Service(Box<Service>),
    /// An EndpointSlice, giving a Service's ready endpoints.
    EndpointSlice(Box<EndpointSlice>),
}

/// Parses a multi-document YAML stream. `source` names the stream (a file
/// path) in diagnostics. A document that cannot be parsed yields a rejected
/// diagnostic naming the source, the document index and, where it can be
/// read, the resource; the other documents are still returned.
pub fn parse_documents(text: &str, source: &str) -> (Vec<Resource>, Vec<Diagnostic>) {
    let _ = (text, source);
    todo!("manifest parsing")
}

/// Reads a file, or every `*.yaml`/`*.yml` file below a folder in sorted
/// path order, with [`parse_documents`].
///
/// # Errors
/// Returns an error only when `path` itself cannot be read; unreadable
/// files below a folder become diagnostics.
pub fn load_path(path: &Path) -> std::io::Result<(Vec<Resource>, Vec<Diagnostic>)> {
    let _ = path;
    todo!("manifest loading")
}
