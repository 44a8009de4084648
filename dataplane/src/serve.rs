//! `portcullis serve`: binds the listeners, loads the configuration, and
//! runs the proxy, the admin listener and the configuration source until
//! SIGTERM. The source is the file watcher (`--config`) or the operator's
//! snapshot channel (`--operator`).
//!
//! Shutdown order: SIGTERM or SIGINT sets the shutdown channel, which turns
//! `/readyz` to 503, stops the configuration source and signals the proxy
//! to stop accepting and drain. The process exits 0 once the proxy returns, or
//! after the drain timeout plus [`DRAIN_GRACE`] if it does not.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::net::TcpListener;
use tokio::signal::unix::{Signal, SignalKind, signal};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::admin::{self, AdminState};
use crate::config::{ConfigSource, ProxySettings, ServeConfig};
use crate::control;
use crate::reload::{ReloadOutcome, Reloader};
use crate::state::SnapshotStore;

/// Time the proxy gets beyond `--drain-timeout` to return after shutdown.
pub const DRAIN_GRACE: Duration = Duration::from_secs(2);

/// The signals the process handles.
struct Signals {
    terminate: Signal,
    interrupt: Signal,
    hangup: Signal,
}

/// The bound listeners.
struct Listeners {
    http: TcpListener,
    https: Option<TcpListener>,
    admin: TcpListener,
}

/// Builds the Tokio runtime and serves until shutdown.
///
/// # Errors
/// Returns an error when a listener cannot be bound, the configuration
/// path cannot be read at startup, the operator's TLS files cannot be
/// loaded, or the proxy fails.
pub fn run(config: ServeConfig) -> anyhow::Result<()> {
    let runtime = runtime_builder(&config)
        .enable_all()
        .build()
        .context("failed to start the Tokio runtime")?;
    runtime.block_on(serve(config))
}

/// Chooses the runtime. One worker serving files gets a current-thread
/// runtime, because with a single worker the multi-thread scheduler's
/// shared queues and cross-thread wakeups only add cost. The operator
/// source keeps the multi-thread runtime, because it rebuilds snapshots
/// inside `block_in_place`, which panics on a current-thread runtime.
fn runtime_builder(config: &ServeConfig) -> tokio::runtime::Builder {
    let files = matches!(config.source, ConfigSource::Files(_));
    match config.worker_threads {
        Some(1) if files => tokio::runtime::Builder::new_current_thread(),
        threads => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            if let Some(threads) = threads {
                builder.worker_threads(threads);
            }
            builder
        }
    }
}

async fn serve(config: ServeConfig) -> anyhow::Result<()> {
    // Signal handlers go first: until they exist, SIGTERM or SIGHUP would
    // end the process with the default action instead of a clean shutdown.
    let signals = Signals::install()?;
    let settings = Arc::new(config.proxy.clone());
    let listeners = bind_all(&config).await?;

    // The admin listener starts before the first compile, so probes get
    // `/healthz` 200 and `/readyz` 503 while a large configuration loads.
    let store = Arc::new(SnapshotStore::new());
    let (shutdown_sender, shutdown) = watch::channel(false);
    let admin_state = AdminState {
        store: Arc::clone(&store),
        shutdown: shutdown.clone(),
        normalization: settings.normalization,
    };
    let admin_task = tokio::spawn(admin::serve(listeners.admin, admin_state));

    let source_task = match &config.source {
        ConfigSource::Files(path) => {
            let reloader = Reloader::new(path.clone(), Arc::clone(&store));
            let reloader = initial_load(reloader).await?;
            spawn_watcher(reloader, signals.hangup, shutdown.clone())
        }
        ConfigSource::Operator(operator) => {
            control::start(operator.clone(), Arc::clone(&store), shutdown.clone()).await?
        }
    };
    let mut proxy_task = spawn_proxy(listeners.http, listeners.https, &settings, &store, shutdown);

    let result = tokio::select! {
        () = wait_for_stop(signals.terminate, signals.interrupt) => Ok(()),
        ended = &mut proxy_task => Err(task_failure("proxy", ended)),
    };
    tracing::info!(drain_timeout = ?settings.drain_timeout, "shutting down");
    // Sending fails only when every receiver is gone, which leaves nothing to stop.
    let _ = shutdown_sender.send(true);

    if !proxy_task.is_finished() {
        drain(proxy_task, settings.drain_timeout + DRAIN_GRACE).await;
    }
    source_task.abort();
    admin_task.abort();
    tracing::info!("stopped");
    result
}

// === impl Signals ===

impl Signals {
    fn install() -> anyhow::Result<Self> {
        let install = |kind: SignalKind, name: &str| {
            signal(kind).with_context(|| format!("failed to install the {name} handler"))
        };
        Ok(Self {
            terminate: install(SignalKind::terminate(), "SIGTERM")?,
            interrupt: install(SignalKind::interrupt(), "SIGINT")?,
            hangup: install(SignalKind::hangup(), "SIGHUP")?,
        })
    }
}

async fn bind_all(config: &ServeConfig) -> anyhow::Result<Listeners> {
    let http = bind("http", config.proxy.listen).await?;
    let https = match config.proxy.tls_listen {
        Some(address) => Some(bind("https", address).await?),
        None => None,
    };
    let admin = bind("admin", config.admin).await?;
    Ok(Listeners { http, https, admin })
}

async fn bind(name: &'static str, address: SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = TcpListener::bind(address)
        .await
        .with_context(|| format!("failed to bind the {name} listener on {address}"))?;
    let bound = listener
        .local_addr()
        .context("failed to read a bound address")?;
    tracing::info!(listener = name, address = %bound, "listener started");
    Ok(listener)
}

/// Loads the configuration once before serving, on a blocking thread.
async fn initial_load(reloader: Reloader) -> anyhow::Result<Reloader> {
    tokio::task::spawn_blocking(move || {
        let mut reloader = reloader;
        match reloader.reload()? {
            ReloadOutcome::Published { .. } | ReloadOutcome::Unchanged { .. } => Ok(reloader),
        }
    })
    .await?
}

/// Runs the watcher, logging why it stopped if it fails: the proxy keeps
/// serving the current snapshot without reloads then.
fn spawn_watcher(
    reloader: Reloader,
    hangup: Signal,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(error) = crate::watch::run(reloader, hangup, shutdown).await {
            tracing::error!(
                error = format!("{error:#}"),
                "configuration watcher stopped; changes are no longer applied"
            );
        }
    })
}

fn spawn_proxy(
    http: TcpListener,
    https: Option<TcpListener>,
    settings: &Arc<ProxySettings>,
    store: &Arc<SnapshotStore>,
    shutdown: watch::Receiver<bool>,
) -> JoinHandle<anyhow::Result<()>> {
    let settings = Arc::clone(settings);
    let store = Arc::clone(store);
    tokio::spawn(crate::proxy::serve(http, https, settings, store, shutdown))
}

/// Waits for SIGTERM or SIGINT.
async fn wait_for_stop(mut terminate: Signal, mut interrupt: Signal) {
    tokio::select! {
        _ = terminate.recv() => tracing::info!("SIGTERM received"),
        _ = interrupt.recv() => tracing::info!("SIGINT received"),
    }
}

/// Waits for the proxy to finish draining, up to `limit`.
async fn drain(proxy: JoinHandle<anyhow::Result<()>>, limit: Duration) {
    match tokio::time::timeout(limit, proxy).await {
        Ok(Ok(Ok(()))) => {}
        Ok(ended) => {
            tracing::error!(error = %task_failure("proxy", ended), "proxy failed while draining")
        }
        Err(_) => tracing::warn!(?limit, "proxy did not finish draining in time; exiting"),
    }
}

fn task_failure(
    name: &str,
    ended: Result<anyhow::Result<()>, tokio::task::JoinError>,
) -> anyhow::Error {
    match ended {
        Ok(Ok(())) => anyhow::anyhow!("the {name} stopped before shutdown was requested"),
        Ok(Err(error)) => error.context(format!("the {name} failed")),
        Err(error) => anyhow::Error::new(error).context(format!("the {name} task panicked")),
    }
}
