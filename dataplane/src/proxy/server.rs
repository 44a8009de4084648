//! Listeners: accept loops, per-connection HTTP serving and graceful
//! shutdown.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::{GracefulShutdown, Watcher};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio_rustls::TlsAcceptor;

use super::handler::{ConnInfo, Proxy};

/// Smallest HTTP/1 read buffer hyper accepts.
const MIN_HTTP1_BUF_SIZE: usize = 8192;

/// Pause after a failed accept (such as too many open files), so the loop
/// does not spin while the condition lasts.
const ACCEPT_ERROR_BACKOFF: Duration = Duration::from_millis(100);

/// Accepts on both listeners until `shutdown` becomes true, then waits for
/// open connections to finish their requests, at most `drain_timeout`.
pub async fn run(
    proxy: Arc<Proxy>,
    http: TcpListener,
    https: Option<(TcpListener, TlsAcceptor)>,
    mut shutdown: watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let builder = Arc::new(connection_builder(&proxy.settings));
    let graceful = GracefulShutdown::new();
    let handshake_timeout = proxy.settings.header_read_timeout;

    loop {
        tokio::select! {
            accepted = http.accept() => match accepted {
                Ok((stream, peer)) => {
                    let conn = Conn { proxy: proxy.clone(), builder: builder.clone(), watcher: graceful.watcher() };
                    tokio::spawn(conn.serve_plain(stream, peer));
                }
                Err(error) => accept_failed("http", &error).await,
            },
            accepted = accept_tls(https.as_ref()) => match accepted {
                Ok((stream, peer, acceptor)) => {
                    let conn = Conn { proxy: proxy.clone(), builder: builder.clone(), watcher: graceful.watcher() };
                    tokio::spawn(conn.serve_tls(stream, peer, acceptor, handshake_timeout));
                }
                Err(error) => accept_failed("https", &error).await,
            },
            () = wait_for_shutdown(&mut shutdown) => break,
        }
    }

    drop(http);
    drop(https);
    drain(graceful, proxy.settings.drain_timeout).await;
    Ok(())
}

fn connection_builder(settings: &crate::config::ProxySettings) -> Builder<TokioExecutor> {
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(settings.header_read_timeout)
        .max_buf_size(settings.max_header_bytes.max(MIN_HTTP1_BUF_SIZE));
    let header_list_size = u32::try_from(settings.max_header_bytes).unwrap_or(u32::MAX);
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_header_list_size(header_list_size);
    builder
}

async fn accept_tls(
    https: Option<&(TcpListener, TlsAcceptor)>,
) -> std::io::Result<(TcpStream, SocketAddr, TlsAcceptor)> {
    match https {
        Some((listener, acceptor)) => {
            let (stream, peer) = listener.accept().await?;
            Ok((stream, peer, acceptor.clone()))
        }
        None => std::future::pending().await,
    }
}

async fn accept_failed(listener: &str, error: &std::io::Error) {
    tracing::warn!(listener, %error, "accept failed");
    tokio::time::sleep(ACCEPT_ERROR_BACKOFF).await;
}

/// Resolves once the value is true, or the sender is gone.
async fn wait_for_shutdown(shutdown: &mut watch::Receiver<bool>) {
    if shutdown.wait_for(|stop| *stop).await.is_err() {
        // A dropped sender can never signal shutdown; keep serving.
        std::future::pending::<()>().await;
    }
}

async fn drain(graceful: GracefulShutdown, timeout: Duration) {
    tracing::info!(
        timeout_seconds = timeout.as_secs_f64(),
        "draining connections"
    );
    match tokio::time::timeout(timeout, graceful.shutdown()).await {
        Ok(()) => tracing::info!("connections drained"),
        Err(_) => tracing::warn!("drain timeout passed; closing the remaining connections"),
    }
}

/// One accepted connection and what it needs to serve.
struct Conn {
    proxy: Arc<Proxy>,
    builder: Arc<Builder<TokioExecutor>>,
    watcher: Watcher,
}

// === impl Conn ===

impl Conn {
    async fn serve_plain(self, stream: TcpStream, peer: SocketAddr) {
        let _ = stream.set_nodelay(true);
        // hyper's header read timeout starts only once the protocol is
        // detected from the first bytes, so a client that connects and
        // sends nothing would hold the connection forever. Bound that wait
        // by the same timeout.
        let timeout = self.proxy.settings.header_read_timeout;
        let mut first = [0u8; 1];
        if tokio::time::timeout(timeout, stream.peek(&mut first))
            .await
            .is_err()
        {
            tracing::debug!(%peer, "connection closed: no request within the header read timeout");
            return;
        }
        self.serve(stream, ConnInfo { peer, tls: false }).await;
    }

    async fn serve_tls(
        self,
        stream: TcpStream,
        peer: SocketAddr,
        acceptor: TlsAcceptor,
        timeout: Duration,
    ) {
        let _ = stream.set_nodelay(true);
        let stream = match tokio::time::timeout(timeout, acceptor.accept(stream)).await {
            Ok(Ok(stream)) => stream,
            Ok(Err(error)) => {
                tracing::debug!(%peer, %error, "TLS handshake failed");
                return;
            }
            Err(_) => {
                tracing::debug!(%peer, "TLS handshake timed out");
                return;
            }
        };
        self.serve(stream, ConnInfo { peer, tls: true }).await;
    }

    async fn serve<I>(self, io: I, info: ConnInfo)
    where
        I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let proxy = self.proxy;
        let service = service_fn(move |request| {
            let proxy = proxy.clone();
            async move { Ok::<_, Infallible>(proxy.handle(info, request).await) }
        });
        let connection = self
            .builder
            .serve_connection_with_upgrades(TokioIo::new(io), service);
        if let Err(error) = self.watcher.watch(connection.into_owned()).await {
            tracing::debug!(peer = %info.peer, %error, "connection closed with an error");
        }
    }
}
