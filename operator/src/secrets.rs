//! TLS Secrets referenced by Routes, and only those, read into memory.
//!
//! The operator watches the metadata of `kubernetes.io/tls` Secrets (no
//! key material travels on the watch) and reads a Secret in full only while
//! a Route references it, again whenever its `resourceVersion` changes, as
//! when cert-manager rotates it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Secret;
use kube::api::PartialObjectMeta;
use kube::runtime::reflector::{self, ObjectRef, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use portcullis_compiler::Resource;
use portcullis_crds::Route;
use tokio::sync::Notify;

use crate::kinds::Scope;

/// Only these Secrets can hold certificates for Routes.
const TLS_SECRET_SELECTOR: &str = "type=kubernetes.io/tls";

/// Metadata of every TLS Secret, and the full referenced ones.
pub struct Secrets {
    client: Client,
    metadata: Vec<Store<PartialObjectMeta<Secret>>>,
    ready: Arc<AtomicBool>,
    /// Full Secrets by namespace and name, with the resourceVersion read.
    loaded: BTreeMap<(String, String), (String, Arc<Secret>)>,
}

// === impl Secrets ===

impl Secrets {
    /// Starts the metadata watchers, one per namespace of `scope`.
    pub fn start(client: &Client, scope: &Scope, trigger: &Arc<Notify>) -> Self {
        let ready = Arc::new(AtomicBool::new(false));
        let apis: Vec<Api<PartialObjectMeta<Secret>>> = match scope {
            Scope::All => vec![Api::all(client.clone())],
            Scope::Namespaces(namespaces) => namespaces
                .iter()
                .map(|namespace| Api::namespaced(client.clone(), namespace))
                .collect(),
        };
        let pending = Arc::new(std::sync::atomic::AtomicUsize::new(apis.len()));
        let metadata = apis
            .into_iter()
            .map(|api| spawn_watch(api, trigger.clone(), ready.clone(), pending.clone()))
            .collect();
        Self {
            client: client.clone(),
            metadata,
            ready,
            loaded: BTreeMap::new(),
        }
    }

    /// Returns whether every metadata watcher finished its initial list.
    pub fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Reads the Secrets that `routes` reference and returns them as
    /// compiler input. Secrets no Route references are dropped from
    /// memory. A Secret that cannot be read is left out, so the Route
    /// reports it as not found, and the error is returned for the log.
    pub async fn referenced(&mut self, routes: &[Arc<Route>]) -> (Vec<Resource>, Vec<kube::Error>) {
        let referenced = references(routes);
        self.loaded.retain(|key, _| referenced.contains(key));
        let mut errors = Vec::new();
        for (namespace, name) in &referenced {
            let Some(version) = self.resource_version(namespace, name) else {
                self.loaded.remove(&(namespace.clone(), name.clone()));
                continue;
            };
            let key = (namespace.clone(), name.clone());
            if self
                .loaded
                .get(&key)
                .is_some_and(|(read, _)| *read == version)
            {
                continue;
            }
            let api: Api<Secret> = Api::namespaced(self.client.clone(), namespace);
            match api.get(name).await {
                Ok(secret) => {
                    let read = secret.metadata.resource_version.clone().unwrap_or(version);
                    self.loaded.insert(key, (read, Arc::new(secret)));
                }
                Err(error) => errors.push(error),
            }
        }
        let resources = self
            .loaded
            .values()
            .map(|(_, secret)| Resource::Secret(Box::new((**secret).clone())))
            .collect();
        (resources, errors)
    }

    fn resource_version(&self, namespace: &str, name: &str) -> Option<String> {
        let key = ObjectRef::new(name).within(namespace);
        self.metadata
            .iter()
            .find_map(|store| store.get(&key))
            .map(|meta| meta.metadata.resource_version.clone().unwrap_or_default())
    }
}

/// Namespace and name of every Secret in `spec.tls.certificateRefs`.
fn references(routes: &[Arc<Route>]) -> BTreeSet<(String, String)> {
    let mut referenced = BTreeSet::new();
    for route in routes {
        let Some(tls) = &route.spec.tls else {
            continue;
        };
        let own = route.metadata.namespace.as_deref().unwrap_or("default");
        for reference in &tls.certificate_refs {
            let namespace = reference.namespace.as_deref().unwrap_or(own);
            referenced.insert((namespace.to_owned(), reference.name.clone()));
        }
    }
    referenced
}

fn spawn_watch(
    api: Api<PartialObjectMeta<Secret>>,
    trigger: Arc<Notify>,
    ready: Arc<AtomicBool>,
    pending: Arc<std::sync::atomic::AtomicUsize>,
) -> Store<PartialObjectMeta<Secret>> {
    let (store, writer) = reflector::store();
    let config = watcher::Config::default().fields(TLS_SECRET_SELECTOR);
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        let mut listed = false;
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    if !listed && pending.fetch_sub(1, Ordering::AcqRel) == 1 {
                        ready.store(true, Ordering::Release);
                    }
                    listed = true;
                    trigger.notify_one();
                }
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => trigger.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(kind = "Secret", %error, "watch failed; retrying with backoff")
                }
            }
        }
    });
    store
}
