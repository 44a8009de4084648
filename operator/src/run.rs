//! `portcullis-operator run`: connects to the API server, starts the
//! watchers, the metrics listener and the snapshot channel, and runs the
//! control loop until SIGINT or SIGTERM.

use std::sync::Arc;

use anyhow::Context as _;
use kube::Client;
use tokio::sync::Notify;

use crate::cli::{LogFormat, RunArgs};
use crate::controller::{Controller, LoopSettings};
use crate::kinds::{Inputs, Scope};
use crate::metrics::Metrics;
use crate::secrets::Secrets;
use crate::writer::StatusWriter;

/// Runs the operator on a new multi-threaded runtime.
///
/// # Errors
/// Returns an error when the flags are inconsistent, no Kubernetes
/// configuration is found, the Route CRD is not installed or a listener
/// cannot be bound.
pub fn run(args: RunArgs) -> anyhow::Result<()> {
    init_logging(&args)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime failed")?;
    runtime.block_on(serve(args))
}

async fn serve(args: RunArgs) -> anyhow::Result<()> {
    let channel = args.channel()?;
    let client = Client::try_default()
        .await
        .context("no Kubernetes client configuration found; set KUBECONFIG or run in a pod with a service account")?;
    let scope = if args.namespaces.is_empty() {
        Scope::All
    } else {
        Scope::Namespaces(args.namespaces.clone())
    };
    let metrics = Arc::new(Metrics::default());
    let trigger = Arc::new(Notify::new());

    let inputs = Inputs::start(&client, &scope, &trigger).await?;
    let secrets = Secrets::start(&client, &scope, &trigger);
    if let Some(listen) = args.metrics_listen {
        let listener = tokio::net::TcpListener::bind(listen)
            .await
            .with_context(|| format!("binding the metrics listener to {listen} failed"))?;
        log_listener("metrics", &listener);
        tokio::spawn(crate::metrics::serve(listener, metrics.clone()));
    }
    let delivery = match channel {
        Some((listen, files)) => {
            Some(crate::delivery::start(listen, &files, trigger.clone(), &metrics).await?)
        }
        None => None,
    };

    let settings = LoopSettings {
        debounce: args.debounce(),
        ready_grace: std::time::Duration::from_secs(args.ready_grace_seconds),
    };
    let writer = StatusWriter::new(client.clone(), metrics.clone());
    let controller = Controller::new(inputs, secrets, delivery, writer, metrics, settings);
    tracing::info!(namespaces = ?args.namespaces, "operator started");
    tokio::select! {
        () = controller.run(trigger) => {}
        () = shutdown_signal() => tracing::info!("shutdown signal received; stopping"),
    }
    Ok(())
}

/// Logs the bound address, which differs from the flag for port 0.
pub fn log_listener(name: &str, listener: &tokio::net::TcpListener) {
    match listener.local_addr() {
        Ok(address) => tracing::info!(listener = name, address = %address, "listener started"),
        Err(error) => {
            tracing::warn!(listener = name, %error, "reading the listener address failed")
        }
    }
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut terminate) => {
                tokio::select! {
                    _ = interrupt => {}
                    _ = terminate.recv() => {}
                }
            }
            Err(error) => {
                tracing::warn!(%error, "installing the SIGTERM handler failed; only SIGINT stops the operator");
                let _ = interrupt.await;
            }
        }
    }
    #[cfg(not(unix))]
    let _ = interrupt.await;
}

fn init_logging(args: &RunArgs) -> anyhow::Result<()> {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(&args.log_level))
        .with_context(|| {
            format!(
                "invalid --log-level {:?}; use a level such as info or debug",
                args.log_level
            )
        })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let result = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().try_init(),
    };
    result.map_err(|error| anyhow::anyhow!("installing the logger failed: {error}"))
}
