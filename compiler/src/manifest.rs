//! Reads Kubernetes-style YAML manifests into typed resources.
//!
//! Each document is dispatched on `apiVersion` and `kind`. A Route is first
//! checked against the CRD's OpenAPI schema (see [`crate::schema`]), since
//! no API server does that in standalone mode, then deserialized.

use std::collections::HashSet;
use std::path::{Path, PathBuf};

use k8s_openapi::api::core::v1::{Secret, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use portcullis_crds::Route;
use serde::Deserialize;
use serde::de::DeserializeOwned;
use serde_json::Value;

use crate::grant::ReferenceGrant;
use crate::{Diagnostic, FieldError, ObjectRef};

/// API group of this project's resources.
const PORTCULLIS_GROUP: &str = "portcullis.io";

/// `apiVersion` of a Route.
const ROUTE_API_VERSION: &str = "portcullis.io/v1alpha1";

/// A resource the compiler reads. Other kinds are skipped with a debug log,
/// except unknown kinds in the `portcullis.io` group, which are rejected.
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
    /// A Gateway API ReferenceGrant, permitting cross-namespace references.
    ReferenceGrant(Box<ReferenceGrant>),
}

/// The kinds the compiler reads, by `apiVersion` and `kind`.
#[derive(Clone, Copy)]
enum Kind {
    Route,
    Secret,
    Service,
    EndpointSlice,
    ReferenceGrant,
}

/// Source file and index of a document, for messages.
struct DocumentSource<'a> {
    source: &'a str,
    index: usize,
}

/// Parses a multi-document YAML stream. `source` names the stream (a file
/// path) in diagnostics. A document that cannot be parsed yields a rejected
/// diagnostic naming the source, the document index and, where it can be
/// read, the resource; the other documents are still returned.
pub fn parse_documents(text: &str, source: &str) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut resources = Vec::new();
    let mut diagnostics = Vec::new();
    for (index, document) in serde_yaml_ng::Deserializer::from_str(text).enumerate() {
        let origin = DocumentSource { source, index };
        let value = match Value::deserialize(document) {
            Ok(value) => value,
            Err(error) => {
                let message = format!("{origin}: invalid YAML: {error}; fix the syntax");
                diagnostics.push(unreadable(&origin, "", "InvalidYAML", message));
                // The YAML stream cannot be resynchronized after a syntax
                // error, so the documents after it are not read.
                break;
            }
        };
        if value.is_null() {
            continue;
        }
        match parse_value(value, &origin) {
            Ok(Some(resource)) => resources.push(resource),
            Ok(None) => {}
            Err(diagnostic) => diagnostics.push(*diagnostic),
        }
    }
    (resources, diagnostics)
}

/// Reads a file, or every `*.yaml`/`*.yml` file below a folder in sorted
/// path order, with [`parse_documents`].
///
/// # Errors
/// Returns an error only when `path` itself cannot be read; unreadable
/// files below a folder become diagnostics.
pub fn load_path(path: &Path) -> std::io::Result<(Vec<Resource>, Vec<Diagnostic>)> {
    if !std::fs::metadata(path)?.is_dir() {
        let text = std::fs::read_to_string(path)?;
        return Ok(parse_documents(&text, &path.display().to_string()));
    }
    let mut files = Vec::new();
    let mut diagnostics = Vec::new();
    collect_yaml_files(path, &mut HashSet::new(), &mut files, &mut diagnostics)?;
    files.sort();
    let mut resources = Vec::new();
    for file in files {
        let source = file.display().to_string();
        match std::fs::read_to_string(&file) {
            Ok(text) => {
                let (found, problems) = parse_documents(&text, &source);
                resources.extend(found);
                diagnostics.extend(problems);
            }
            Err(error) => diagnostics.push(unreadable_file(&source, &error)),
        }
    }
    Ok((resources, diagnostics))
}

/// Adds the YAML files below `dir`, following symlinks. `visited` holds
/// the canonical folders read so far, so a link back to a parent or to the
/// folder itself is read once instead of looping.
fn collect_yaml_files(
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
    diagnostics: &mut Vec<Diagnostic>,
) -> std::io::Result<()> {
    if !visited.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if path.is_dir() {
            if let Err(error) = collect_yaml_files(&path, visited, files, diagnostics) {
                diagnostics.push(unreadable_file(&path.display().to_string(), &error));
            }
        } else if is_yaml {
            files.push(path);
        }
    }
    Ok(())
}

fn parse_value(
    value: Value,
    origin: &DocumentSource<'_>,
) -> Result<Option<Resource>, Box<Diagnostic>> {
    let api_version = value
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("");
    let kind_name = value.get("kind").and_then(Value::as_str).unwrap_or("");
    let Some(kind) = kind_of(api_version, kind_name) else {
        if api_version.is_empty() || kind_name.is_empty() {
            let message = format!("{origin}: apiVersion and kind are required; add both");
            return Err(Box::new(unreadable(
                origin,
                "apiVersion",
                "MissingField",
                message,
            )));
        }
        if api_version.split('/').next() == Some(PORTCULLIS_GROUP) {
            // A typo in this project's own group would otherwise drop the
            // resource without a word, so it is reported.
            let message = format!(
                "{origin}: unknown kind {kind_name:?} in apiVersion {api_version:?}; \
                 use kind Route with apiVersion {ROUTE_API_VERSION}"
            );
            return Err(Box::new(unreadable(origin, "kind", "UnknownKind", message)));
        }
        tracing::debug!(%origin, api_version, kind = kind_name, "skipping resource of unsupported kind");
        return Ok(None);
    };
    let object = object_ref(&value, kind_name);
    let generation = value
        .pointer("/metadata/generation")
        .and_then(Value::as_i64);
    if matches!(kind, Kind::Route) {
        let errors = crate::schema::check_route(&value);
        if !errors.is_empty() {
            let errors = errors.into_iter().map(|e| origin.annotate(e)).collect();
            return Err(Box::new(Diagnostic::rejected(object, generation, errors)));
        }
    }
    deserialize(kind, value, origin)
        .map(Some)
        .map_err(|error| Box::new(Diagnostic::rejected(object, generation, vec![error])))
}

fn kind_of(api_version: &str, kind: &str) -> Option<Kind> {
    match (api_version, kind) {
        (ROUTE_API_VERSION, "Route") => Some(Kind::Route),
        ("v1", "Secret") => Some(Kind::Secret),
        ("v1", "Service") => Some(Kind::Service),
        ("discovery.k8s.io/v1", "EndpointSlice") => Some(Kind::EndpointSlice),
        ("gateway.networking.k8s.io/v1beta1", "ReferenceGrant") => Some(Kind::ReferenceGrant),
        _ => None,
    }
}

fn deserialize(
    kind: Kind,
    value: Value,
    origin: &DocumentSource<'_>,
) -> Result<Resource, FieldError> {
    Ok(match kind {
        Kind::Route => {
            let mut route: Box<Route> = typed(value, origin)?;
            route
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            Resource::Route(route)
        }
        Kind::Secret => {
            let mut secret: Box<Secret> = typed(value, origin)?;
            secret
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            Resource::Secret(secret)
        }
        Kind::Service => {
            let mut service: Box<Service> = typed(value, origin)?;
            service
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            Resource::Service(service)
        }
        Kind::EndpointSlice => {
            let mut slice: Box<EndpointSlice> = typed(value, origin)?;
            slice
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            Resource::EndpointSlice(slice)
        }
        Kind::ReferenceGrant => {
            let mut grant: Box<ReferenceGrant> = typed(value, origin)?;
            grant
                .metadata
                .namespace
                .get_or_insert_with(|| "default".to_owned());
            Resource::ReferenceGrant(grant)
        }
    })
}

/// Deserializes with the path of the first field that fails.
fn typed<T: DeserializeOwned>(
    value: Value,
    origin: &DocumentSource<'_>,
) -> Result<Box<T>, FieldError> {
    serde_path_to_error::deserialize(value)
        .map(Box::new)
        .map_err(|error| {
            let field = error.path().to_string();
            let message = format!("{origin}: field {field}: {}; fix the value", error.inner());
            FieldError::new(field, "InvalidField", message)
        })
}

fn object_ref(value: &Value, kind: &str) -> ObjectRef {
    let text = |pointer: &str| value.pointer(pointer).and_then(Value::as_str).unwrap_or("");
    let namespace = match text("/metadata/namespace") {
        "" => "default",
        namespace => namespace,
    };
    ObjectRef::new(kind, namespace, text("/metadata/name"))
}

fn unreadable(
    origin: &DocumentSource<'_>,
    field: &str,
    reason: &str,
    message: String,
) -> Diagnostic {
    let object = ObjectRef::new("Document", "", &origin.to_string());
    Diagnostic::rejected(object, None, vec![FieldError::new(field, reason, message)])
}

fn unreadable_file(source: &str, error: &std::io::Error) -> Diagnostic {
    let object = ObjectRef::new("File", "", source);
    let message =
        format!("cannot read {source}: {error}; check that the file exists and is readable");
    Diagnostic::rejected(
        object,
        None,
        vec![FieldError::new("", "FileUnreadable", message)],
    )
}

// === impl DocumentSource ===

impl DocumentSource<'_> {
    /// Prefixes a schema error message with the document's location.
    fn annotate(&self, mut error: FieldError) -> FieldError {
        error.message = format!("{self}: {}", error.message);
        error
    }
}

impl std::fmt::Display for DocumentSource<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} document {}", self.source, self.index)
    }
}
