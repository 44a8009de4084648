//! Reads manifest files, remembering which file each resource came from.
//!
//! Unlike `portcullis_compiler::load_path`, this walk skips entries whose
//! name starts with `.`. A Kubernetes ConfigMap volume keeps each file
//! three times (`name.yaml`, `..data/name.yaml` and the timestamped
//! `..2024_..` folder), so reading hidden entries would load every resource
//! three times. The source of each resource lets a reload keep the last
//! accepted resources of a file that no longer parses.

use std::collections::HashSet;
use std::io;
use std::path::{Path, PathBuf};

use portcullis_compiler::{Diagnostic, FieldError, ObjectRef, Resource, parse_documents};

/// Reason the compiler gives to the dropped copy of a duplicate resource.
const DUPLICATE_REASON: &str = "DuplicateResource";

/// Kinds the compiler gives to diagnostics that belong to no resource: a
/// document that could not be read, or a file that could not be opened.
const UNREADABLE_KINDS: [&str; 2] = ["Document", "File"];

/// The resources and parse diagnostics of one manifest file.
#[derive(Debug)]
pub struct SourceFile {
    /// Path of the file.
    pub path: PathBuf,
    /// Resources that parsed.
    pub resources: Vec<Resource>,
    /// Rejections found while parsing.
    pub diagnostics: Vec<Diagnostic>,
}

// === impl SourceFile ===

impl SourceFile {
    /// Returns whether part of the file could not be read, so resources it
    /// contained before may be missing from `resources`.
    pub fn is_damaged(&self) -> bool {
        self.diagnostics.iter().any(is_unreadable)
    }
}

/// Returns whether a diagnostic is about an unreadable document or file
/// rather than a resource.
pub fn is_unreadable(diagnostic: &Diagnostic) -> bool {
    UNREADABLE_KINDS.contains(&diagnostic.object.kind.as_str())
}

/// Reads `root`: one file, or every `*.yaml` and `*.yml` file below a
/// folder in sorted path order, skipping hidden entries.
///
/// # Errors
/// Returns an error only when `root` itself cannot be read; a file below
/// it that cannot be read becomes a `File` diagnostic.
pub fn read_sources(root: &Path) -> io::Result<Vec<SourceFile>> {
    let files = if std::fs::metadata(root)?.is_dir() {
        let mut files = Vec::new();
        collect_yaml_files(root, &mut HashSet::new(), &mut files)?;
        files.sort();
        files
    } else {
        vec![root.to_path_buf()]
    };
    Ok(files.into_iter().map(read_file).collect())
}

/// Returns every resource and parse diagnostic of `sources`.
pub fn flatten(sources: Vec<SourceFile>) -> (Vec<Resource>, Vec<Diagnostic>) {
    let mut resources = Vec::new();
    let mut diagnostics = Vec::new();
    for source in sources {
        resources.extend(source.resources);
        diagnostics.extend(source.diagnostics);
    }
    (resources, diagnostics)
}

/// Returns the identity of a resource, as the compiler names it in
/// diagnostics: kind, namespace (default `default`) and name.
pub fn resource_key(resource: &Resource) -> ObjectRef {
    let (kind, metadata) = match resource {
        Resource::Route(route) => ("Route", &route.metadata),
        Resource::Secret(secret) => ("Secret", &secret.metadata),
        Resource::Service(service) => ("Service", &service.metadata),
        Resource::EndpointSlice(slice) => ("EndpointSlice", &slice.metadata),
        Resource::ReferenceGrant(grant) => ("ReferenceGrant", &grant.metadata),
    };
    let namespace = metadata.namespace.as_deref().unwrap_or("default");
    let name = metadata.name.as_deref().unwrap_or_default();
    ObjectRef::new(kind, namespace, name)
}

/// Adds the YAML files below `dir`. `visited` holds the canonical folders
/// read so far, so a symlink back to a parent or to the folder itself is
/// read once instead of looping.
/// Adds the files that define a resource to each `DuplicateResource`
/// error, so the user can see which copies to reconcile. `origins` pairs
/// each resource read with its file.
pub fn name_duplicate_files(origins: &[(ObjectRef, PathBuf)], diagnostics: &mut [Diagnostic]) {
    for diagnostic in diagnostics.iter_mut() {
        let mut files: Vec<String> = origins
            .iter()
            .filter(|(key, _)| key == &diagnostic.object)
            .map(|(_, path)| path.display().to_string())
            .collect();
        files.sort();
        files.dedup();
        if files.is_empty() {
            continue;
        }
        let duplicates = diagnostic
            .errors
            .iter_mut()
            .filter(|error| error.reason == DUPLICATE_REASON);
        for error in duplicates {
            error.message = format!("{}; copies are in {}", error.message, files.join(", "));
        }
    }
}

fn collect_yaml_files(
    dir: &Path,
    visited: &mut HashSet<PathBuf>,
    files: &mut Vec<PathBuf>,
) -> io::Result<()> {
    if !visited.insert(std::fs::canonicalize(dir)?) {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir)? {
        let path = entry?.path();
        let hidden = path
            .file_name()
            .is_some_and(|name| name.to_string_lossy().starts_with('.'));
        if hidden {
            continue;
        }

        // `metadata` follows symlinks, so linked files and folders count. A
        // broken link to a YAML file is kept so that reading it reports it.
        let is_dir = std::fs::metadata(&path).is_ok_and(|metadata| metadata.is_dir());
        let is_yaml = path
            .extension()
            .is_some_and(|ext| ext == "yaml" || ext == "yml");
        if is_dir {
            collect_yaml_files(&path, visited, files)?;
        } else if is_yaml {
            files.push(path);
        }
    }
    Ok(())
}

fn read_file(path: PathBuf) -> SourceFile {
    let source = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let (resources, diagnostics) = parse_documents(&text, &source);
            SourceFile {
                path,
                resources,
                diagnostics,
            }
        }
        Err(error) => {
            let message = format!(
                "cannot read {source}: {error}; check that the file exists and is readable"
            );
            let object = ObjectRef::new("File", "", &source);
            let error = FieldError::new("", "FileUnreadable", message);
            let diagnostic = Diagnostic::rejected(object, None, vec![error]);
            SourceFile {
                path,
                resources: Vec::new(),
                diagnostics: vec![diagnostic],
            }
        }
    }
}

#[cfg(test)]
#[path = "sources_tests.rs"]
mod tests;
