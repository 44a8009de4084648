//! Recompiles the manifests and publishes the result, keeping the last
//! accepted version of every resource that an edit broke.
//!
//! A reload reads every file, then:
//! 1. restores the last accepted version of a resource that no longer
//!    parses, or that sat in a file that no longer parses;
//! 2. compiles, and replaces each newly rejected resource that was accepted
//!    before with its last accepted version, then compiles again;
//! 3. publishes unless both the snapshot version and the diagnostics equal
//!    those already served. A rejected edit with a kept resource gives the
//!    same version but new diagnostics, so it is published for `/config`.
//!
//! Resources removed from the files are dropped, so deleting works. The
//! published diagnostics show the rejection of the edit, not the old
//! version's acceptance, so `/config` shows the user what to fix.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use portcullis_compiler::{Compiled, Diagnostic, ObjectRef, Outcome, Resource, compile, kept_copy};

use crate::sources::{SourceFile, is_unreadable, name_duplicate_files, read_sources, resource_key};
use crate::state::SnapshotStore;

/// Result of one reload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ReloadOutcome {
    /// A new snapshot is served.
    Published {
        /// Content version.
        version: String,
        /// Generation in this process.
        generation: u64,
    },
    /// The snapshot and diagnostics equal those served, so nothing was
    /// published.
    Unchanged {
        /// Content version.
        version: String,
    },
}

/// Error of a reload that changed nothing.
#[derive(Debug, thiserror::Error)]
#[error("failed to read configuration at {path}; keeping the current snapshot")]
pub struct ReloadError {
    /// The configuration path.
    pub path: PathBuf,
    /// Cause of the failure.
    #[source]
    pub source: std::io::Error,
}

/// Reloads one configuration path into a store.
#[derive(Debug)]
pub struct Reloader {
    root: PathBuf,
    store: Arc<SnapshotStore>,
    last_good: BTreeMap<ObjectRef, Accepted>,
}

/// The last accepted version of a resource and the file it came from.
#[derive(Clone, Debug)]
struct Accepted {
    resource: Resource,
    source: PathBuf,
}

/// One compile input.
#[derive(Debug)]
struct Input {
    key: ObjectRef,
    resource: Resource,
    source: PathBuf,
}

/// The inputs of one reload and the diagnostics to publish beside them.
#[derive(Debug, Default)]
struct Plan {
    inputs: Vec<Input>,
    /// Diagnostics that are not the compiler's: parse failures, and the
    /// rejections of edits replaced by their last accepted version.
    extra: Vec<Diagnostic>,
    /// Resources whose compile diagnostic `extra` replaces.
    kept: BTreeSet<ObjectRef>,
}

// === impl Reloader ===

impl Reloader {
    /// Creates a reloader for `root`, a file or folder, with no resource
    /// accepted yet.
    pub fn new(root: PathBuf, store: Arc<SnapshotStore>) -> Self {
        Self {
            root,
            store,
            last_good: BTreeMap::new(),
        }
    }

    /// Returns the configuration path.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Reads, compiles and publishes the configuration. Blocks on file
    /// reads and compiling; run it off the async workers.
    ///
    /// # Errors
    /// Returns an error when the configuration path cannot be read; the
    /// current snapshot then keeps serving.
    pub fn reload(&mut self) -> Result<ReloadOutcome, ReloadError> {
        let sources = read_sources(&self.root).map_err(|source| ReloadError {
            path: self.root.clone(),
            source,
        })?;

        let mut plan = self.plan(sources);
        let mut compiled = compile(&resources(&plan.inputs));
        if self.keep_rejected_edits(&mut plan, &compiled.diagnostics) {
            compiled = compile(&resources(&plan.inputs));
        }
        let mut diagnostics = merge_diagnostics(&plan, compiled.diagnostics);
        let origins: Vec<(ObjectRef, PathBuf)> = plan
            .inputs
            .iter()
            .map(|input| (input.key.clone(), input.source.clone()))
            .collect();
        name_duplicate_files(&origins, &mut diagnostics);
        log_rejections(&diagnostics);

        self.remember_accepted(&plan, &diagnostics);
        Ok(self.publish(Compiled {
            snapshot: compiled.snapshot,
            diagnostics,
        }))
    }

    /// Collects the inputs, restoring resources that no longer parse.
    fn plan(&self, sources: Vec<SourceFile>) -> Plan {
        let damaged: BTreeSet<PathBuf> = sources
            .iter()
            .filter(|source| source.is_damaged())
            .map(|source| source.path.clone())
            .collect();
        let mut plan = Plan::default();
        let mut unparsed = BTreeSet::new();
        for source in sources {
            for diagnostic in &source.diagnostics {
                if !is_unreadable(diagnostic) {
                    unparsed.insert(diagnostic.object.clone());
                }
            }
            plan.extra.extend(source.diagnostics);
            for resource in source.resources {
                let key = resource_key(&resource);
                let source = source.path.clone();
                plan.inputs.push(Input {
                    key,
                    resource,
                    source,
                });
            }
        }

        let present: BTreeSet<ObjectRef> = plan.inputs.iter().map(|i| i.key.clone()).collect();
        for (key, accepted) in &self.last_good {
            let broken = unparsed.contains(key) || damaged.contains(&accepted.source);
            if broken && !present.contains(key) {
                warn_kept(key, "its manifest no longer parses");
                // Only a resource with its own parse rejection has a
                // diagnostic in `extra` to show instead of the compiler's.
                if unparsed.contains(key) {
                    plan.kept.insert(key.clone());
                }
                plan.inputs.push(Input {
                    key: key.clone(),
                    resource: accepted.resource.clone(),
                    source: accepted.source.clone(),
                });
            }
        }
        plan
    }

    /// Replaces each rejected edit of a previously accepted resource with
    /// its last accepted version. Returns whether anything was replaced.
    fn keep_rejected_edits(&self, plan: &mut Plan, diagnostics: &[Diagnostic]) -> bool {
        // A rejected copy of a resource whose other copy was accepted is a
        // duplicate, not a broken edit: the accepted copy serves.
        let accepted = accepted_keys(diagnostics);
        let mut replaced = false;
        for diagnostic in diagnostics {
            let key = &diagnostic.object;
            let Some(last) = self.last_good.get(key) else {
                continue;
            };
            if diagnostic.outcome != Outcome::Rejected
                || accepted.contains(key)
                || plan.kept.contains(key)
            {
                continue;
            }
            let Some(input) = plan.inputs.iter_mut().find(|input| &input.key == key) else {
                continue;
            };
            warn_kept(key, "the edit was rejected");
            input.resource = last.resource.clone();
            plan.kept.insert(key.clone());
            plan.extra.push(diagnostic.clone());
            replaced = true;
        }
        replaced
    }

    /// Records the accepted resources for the next reload. A resource that
    /// is still in the files but now rejected keeps its older accepted
    /// version; a resource gone from the files is forgotten.
    fn remember_accepted(&mut self, plan: &Plan, diagnostics: &[Diagnostic]) {
        let accepted = accepted_keys(diagnostics);
        let mut copies: BTreeMap<&ObjectRef, Vec<&Input>> = BTreeMap::new();
        for input in &plan.inputs {
            copies.entry(&input.key).or_default().push(input);
        }
        let mut next = BTreeMap::new();
        for (key, inputs) in copies {
            let entry = if accepted.contains(key) && !plan.kept.contains(key) {
                kept_input(&inputs).map(|input| Accepted {
                    resource: input.resource.clone(),
                    source: input.source.clone(),
                })
            } else {
                self.last_good.get(key).cloned()
            };
            if let Some(entry) = entry {
                next.insert(key.clone(), entry);
            }
        }
        self.last_good = next;
    }

    fn publish(&self, compiled: Compiled) -> ReloadOutcome {
        let version = compiled.snapshot.version().to_owned();
        let current = self.store.load();
        let unchanged =
            current.snapshot.version() == version && current.diagnostics == compiled.diagnostics;
        if self.store.is_ready() && unchanged {
            tracing::debug!(%version, "configuration unchanged");
            return ReloadOutcome::Unchanged { version };
        }

        let routes = compiled.snapshot.ir().routes.len();
        let certificates = compiled.snapshot.certificates().len();
        let rejected = compiled
            .diagnostics
            .iter()
            .filter(|diagnostic| diagnostic.outcome == Outcome::Rejected)
            .count();
        let generation = self.store.publish(compiled.snapshot, compiled.diagnostics);
        tracing::info!(%version, generation, routes, certificates, rejected, "snapshot applied");
        ReloadOutcome::Published {
            version,
            generation,
        }
    }
}

/// Returns the resources with an accepted diagnostic.
fn accepted_keys(diagnostics: &[Diagnostic]) -> BTreeSet<&ObjectRef> {
    diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.outcome == Outcome::Accepted)
        .map(|diagnostic| &diagnostic.object)
        .collect()
}

/// Returns the copy of a resource that the compiler kept, when the files
/// hold several.
fn kept_input<'a>(inputs: &[&'a Input]) -> Option<&'a Input> {
    let resources: Vec<&Resource> = inputs.iter().map(|input| &input.resource).collect();
    let kept_resource = kept_copy(&resources)?;
    inputs
        .iter()
        .copied()
        .find(|input| std::ptr::eq(&input.resource, kept_resource))
}

fn resources(inputs: &[Input]) -> Vec<Resource> {
    inputs.iter().map(|input| input.resource.clone()).collect()
}

/// Returns the compiler's diagnostics with those of kept resources replaced
/// by the rejection of their edit, sorted by resource.
fn merge_diagnostics(plan: &Plan, compiled: Vec<Diagnostic>) -> Vec<Diagnostic> {
    let mut merged: Vec<Diagnostic> = compiled
        .into_iter()
        .filter(|diagnostic| !plan.kept.contains(&diagnostic.object))
        .collect();
    merged.extend(plan.extra.iter().cloned());
    merged.sort_by(|a, b| a.object.cmp(&b.object));
    merged
}

/// Logs one line per field error of every rejected resource, and one per
/// unresolved reference of an accepted one.
pub fn log_rejections(diagnostics: &[Diagnostic]) {
    for diagnostic in diagnostics {
        let resource = diagnostic.object.to_string();
        for error in &diagnostic.unresolved_refs {
            tracing::warn!(
                resource = %resource,
                field = %error.field,
                reason = %error.reason,
                error = %error.message,
                "reference unresolved"
            );
        }
    }
    let rejected = diagnostics
        .iter()
        .filter(|diagnostic| diagnostic.outcome == Outcome::Rejected);
    for diagnostic in rejected {
        let resource = diagnostic.object.to_string();
        for error in &diagnostic.errors {
            tracing::warn!(
                resource = %resource,
                field = %error.field,
                reason = %error.reason,
                error = %error.message,
                "resource rejected"
            );
        }
    }
}

fn warn_kept(key: &ObjectRef, why: &str) {
    tracing::warn!(
        resource = %key,
        reason = why,
        "resource rejected, keeping last accepted version"
    );
}

#[cfg(test)]
#[path = "reload_tests.rs"]
mod tests;
