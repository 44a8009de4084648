//! The kinds the operator watches and how each becomes compiler input.
//!
//! Adding a kind (a policy resource, say) takes an impl of [`WatchedKind`]
//! and one line in [`Inputs::start`]. Each kind is watched with a
//! kube-runtime reflector per watched namespace, and every change wakes the
//! controller through one shared [`Notify`].

use std::fmt::Debug;
use std::sync::Arc;

use futures::StreamExt;
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::reflector::{self, Store};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client};
use portcullis_compiler::Resource;
use portcullis_crds::Route;
use serde::de::DeserializeOwned;
use tokio::sync::Notify;

use crate::grant::ReferenceGrantObject;

/// A Kubernetes kind whose objects the compiler reads.
pub trait WatchedKind:
    kube::Resource<DynamicType = (), Scope = k8s_openapi::NamespaceResourceScope>
    + Clone
    + DeserializeOwned
    + Debug
    + Send
    + Sync
    + 'static
{
    /// Kind name for logs and errors.
    const KIND: &'static str;

    /// Whether the operator runs without this kind when the API server
    /// does not serve it (an optional CRD of another project).
    const OPTIONAL: bool = false;

    /// Turns an object into compiler input.
    fn to_resource(&self) -> Resource;
}

/// Where objects are watched: the listed namespaces, or all of them.
#[derive(Clone, Debug)]
pub enum Scope {
    /// Every namespace.
    All,
    /// Only these namespaces.
    Namespaces(Vec<String>),
}

/// The reflector stores of every watched kind.
#[derive(Default)]
pub struct Inputs {
    sources: Vec<Box<dyn Source>>,
    /// Routes, kept typed for status writes and Secret references.
    pub routes: Vec<Store<Route>>,
}

/// One reflector store, seen without its type.
trait Source: Send + Sync {
    fn collect(&self, out: &mut Vec<Resource>);
    fn is_ready(&self) -> bool;
}

struct TypedSource<K: WatchedKind> {
    store: Store<K>,
    ready: Arc<std::sync::atomic::AtomicBool>,
}

/// Failure to start watching a kind.
#[derive(Debug, thiserror::Error)]
pub enum KindError {
    /// A required kind is not served by the API server.
    #[error("the API server does not serve {kind} ({api_version}); {fix}")]
    NotInstalled {
        /// Kind name.
        kind: &'static str,
        /// API group and version.
        api_version: String,
        /// The fix.
        fix: &'static str,
    },
    /// The probe request failed for another reason.
    #[error("listing {kind} failed")]
    Probe {
        /// Kind name.
        kind: &'static str,
        /// The client error.
        #[source]
        source: kube::Error,
    },
}

// === impl Inputs ===

impl Inputs {
    /// Starts a reflector for every watched kind in every namespace of
    /// `scope`. Secrets are watched separately, see [`crate::secrets`].
    ///
    /// # Errors
    /// Returns [`KindError`] when a required kind, such as Route, is not
    /// installed or cannot be listed.
    pub async fn start(
        client: &Client,
        scope: &Scope,
        trigger: &Arc<Notify>,
    ) -> Result<Self, KindError> {
        let mut inputs = Self::default();
        inputs.routes = inputs.register::<Route>(client, scope, trigger).await?;
        inputs.register::<Service>(client, scope, trigger).await?;
        inputs
            .register::<EndpointSlice>(client, scope, trigger)
            .await?;
        inputs
            .register::<ReferenceGrantObject>(client, scope, trigger)
            .await?;
        Ok(inputs)
    }

    /// Returns every watched object as compiler input.
    pub fn collect(&self) -> Vec<Resource> {
        let mut out = Vec::new();
        for source in &self.sources {
            source.collect(&mut out);
        }
        out
    }

    /// Returns whether every reflector has finished its initial list, so a compile
    /// reads the whole cluster rather than a prefix of it.
    pub fn is_ready(&self) -> bool {
        self.sources.iter().all(|source| source.is_ready())
    }

    async fn register<K: WatchedKind>(
        &mut self,
        client: &Client,
        scope: &Scope,
        trigger: &Arc<Notify>,
    ) -> Result<Vec<Store<K>>, KindError> {
        let mut stores = Vec::new();
        for api in apis::<K>(client, scope) {
            if !probe(&api).await? {
                tracing::info!(
                    kind = K::KIND,
                    "kind not served by the API server; not watched"
                );
                return Ok(Vec::new());
            }
            let source = spawn_reflector(api, watcher::Config::default(), trigger.clone());
            stores.push(source.store.clone());
            self.sources.push(Box::new(source));
        }
        Ok(stores)
    }
}

/// Builds one `Api` per watched namespace, or one for all namespaces.
pub fn apis<K: WatchedKind>(client: &Client, scope: &Scope) -> Vec<Api<K>> {
    match scope {
        Scope::All => vec![Api::all(client.clone())],
        Scope::Namespaces(namespaces) => namespaces
            .iter()
            .map(|namespace| Api::namespaced(client.clone(), namespace))
            .collect(),
    }
}

/// Lists at most one object to learn whether the kind is served. Returns
/// `false` for a missing optional kind.
///
/// NOTE: the probe runs once at startup, so an optional CRD installed
/// later, such as ReferenceGrant, is watched only after a restart.
async fn probe<K: WatchedKind>(api: &Api<K>) -> Result<bool, KindError> {
    let params = kube::api::ListParams::default().limit(1);
    match api.list_metadata(&params).await {
        Ok(_) => Ok(true),
        Err(kube::Error::Api(status)) if status.code == 404 => {
            if K::OPTIONAL {
                return Ok(false);
            }
            Err(KindError::NotInstalled {
                kind: K::KIND,
                api_version: K::api_version(&()).into_owned(),
                fix: "install the CRDs with `portcullis-operator crds | kubectl apply -f -`",
            })
        }
        Err(source) => Err(KindError::Probe {
            kind: K::KIND,
            source,
        }),
    }
}

/// Runs a reflector for `api` in a background task that wakes `trigger`
/// on every change and marks the source ready after the first full list.
fn spawn_reflector<K: WatchedKind>(
    api: Api<K>,
    config: watcher::Config,
    trigger: Arc<Notify>,
) -> TypedSource<K> {
    let (store, writer) = reflector::store();
    let ready = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let source = TypedSource {
        store,
        ready: ready.clone(),
    };
    let stream = reflector::reflector(writer, watcher(api, config)).default_backoff();
    tokio::spawn(async move {
        let mut stream = std::pin::pin!(stream);
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::InitDone) => {
                    ready.store(true, std::sync::atomic::Ordering::Release);
                    trigger.notify_one();
                }
                Ok(watcher::Event::Apply(_) | watcher::Event::Delete(_)) => trigger.notify_one(),
                Ok(_) => {}
                Err(error) => {
                    tracing::warn!(kind = K::KIND, %error, "watch failed; retrying with backoff")
                }
            }
        }
    });
    source
}

// === impl TypedSource ===

impl<K: WatchedKind> Source for TypedSource<K> {
    fn collect(&self, out: &mut Vec<Resource>) {
        out.extend(self.store.state().iter().map(|object| object.to_resource()));
    }

    fn is_ready(&self) -> bool {
        self.ready.load(std::sync::atomic::Ordering::Acquire)
    }
}

// === the registered kinds ===

impl WatchedKind for Route {
    const KIND: &'static str = "Route";

    fn to_resource(&self) -> Resource {
        Resource::Route(Box::new(self.clone()))
    }
}

impl WatchedKind for Service {
    const KIND: &'static str = "Service";

    fn to_resource(&self) -> Resource {
        Resource::Service(Box::new(self.clone()))
    }
}

impl WatchedKind for EndpointSlice {
    const KIND: &'static str = "EndpointSlice";

    fn to_resource(&self) -> Resource {
        Resource::EndpointSlice(Box::new(self.clone()))
    }
}

impl WatchedKind for ReferenceGrantObject {
    const KIND: &'static str = "ReferenceGrant";
    const OPTIONAL: bool = true;

    fn to_resource(&self) -> Resource {
        Resource::ReferenceGrant(Box::new(self.to_compiler()))
    }
}
