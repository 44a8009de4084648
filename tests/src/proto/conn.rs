//! Clients that talk to the gateway: HTTP/1.1, HTTP/2 with prior knowledge
//! (h2c) and TLS with a chosen SNI name and ALPN list.

use std::net::SocketAddr;
use std::sync::Arc;

use anyhow::Context as _;
use bytes::Bytes;
use http::{Request, Response, Version};
use http_body_util::BodyExt;
use hyper::body::{Body, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls::pki_types::{CertificateDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;

/// A response read to its end: status, headers, body and trailers.
#[derive(Debug)]
pub struct Collected {
    /// Status, headers and version of the response.
    pub head: http::response::Parts,
    /// The whole body.
    pub body: Bytes,
    /// Trailers, when the response sent any.
    pub trailers: Option<http::HeaderMap>,
}

impl Collected {
    /// Parses the body as JSON.
    ///
    /// # Errors
    /// Returns the parse error with the body text, so a failed test shows
    /// what arrived.
    pub fn json(&self) -> anyhow::Result<serde_json::Value> {
        serde_json::from_slice(&self.body).with_context(|| {
            format!(
                "response body is not JSON: {}",
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    /// Returns the value of header `name` as text, when present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.head.headers.get(name)?.to_str().ok()
    }
}

/// Builds a request for `host` and `path`. HTTP/2 requests carry an absolute
/// URI (so the client sends `:scheme` and `:authority`); HTTP/1.1 requests
/// use origin form with a `Host` header, as browsers send them.
pub fn request<B>(version: Version, scheme: &str, host: &str, path: &str, body: B) -> Request<B> {
    let builder = Request::builder().version(version);
    let builder = if version == Version::HTTP_2 {
        builder.uri(format!("{scheme}://{host}{path}"))
    } else {
        builder.uri(path).header(http::header::HOST, host)
    };
    builder
        .body(body)
        .expect("method, URI and Host built from valid parts")
}

/// Sends one request over `io` with HTTP/1.1 and returns the response head
/// with its body still streaming.
///
/// # Errors
/// Returns handshake and send errors.
pub async fn send_http1<T, B>(io: T, request: Request<B>) -> anyhow::Result<Response<Incoming>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .context("HTTP/1.1 handshake failed")?;
    tokio::spawn(connection.with_upgrades());
    let response = sender
        .send_request(request)
        .await
        .context("HTTP/1.1 request failed")?;
    Ok(response)
}

/// Sends one request over `io` with HTTP/2 and returns the response head
/// with its body still streaming.
///
/// # Errors
/// Returns handshake and send errors.
pub async fn send_http2<T, B>(io: T, request: Request<B>) -> anyhow::Result<Response<Incoming>>
where
    T: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let (mut sender, connection) =
        hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
            .await
            .context("HTTP/2 handshake failed")?;
    tokio::spawn(connection);
    let response = sender
        .send_request(request)
        .await
        .context("HTTP/2 request failed")?;
    Ok(response)
}

/// Sends `request` to `addr` over a new plain-text connection, with HTTP/2
/// prior knowledge when the request's version is HTTP/2, and reads the
/// whole response.
///
/// # Errors
/// Returns connect, send and body errors.
pub async fn fetch<B>(addr: SocketAddr, request: Request<B>) -> anyhow::Result<Collected>
where
    B: Body + Unpin + Send + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
{
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr} failed"))?;
    let response = if request.version() == Version::HTTP_2 {
        send_http2(stream, request).await?
    } else {
        send_http1(stream, request).await?
    };
    collect(response).await
}

/// Reads a response body to its end, keeping trailers.
///
/// # Errors
/// Returns the body error.
pub async fn collect(response: Response<Incoming>) -> anyhow::Result<Collected> {
    let (head, body) = response.into_parts();
    let collected = body.collect().await.context("response body failed")?;
    let trailers = collected.trailers().cloned();
    Ok(Collected {
        head,
        body: collected.to_bytes(),
        trailers,
    })
}

/// Opens a TLS connection to `addr` that trusts only `ca`, sends `sni` as
/// the server name (and verifies the certificate against it) and offers
/// the ALPN protocols in `alpn`.
///
/// # Errors
/// Returns connect and handshake errors, such as an unknown SNI name.
pub async fn connect_tls(
    addr: SocketAddr,
    ca: &CertificateDer<'static>,
    sni: &str,
    alpn: &[&[u8]],
) -> anyhow::Result<TlsStream<TcpStream>> {
    let mut roots = rustls::RootCertStore::empty();
    roots
        .add(ca.clone())
        .context("test CA is not a valid root")?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .context("ring provider lacks the default TLS versions")?
        .with_root_certificates(roots)
        .with_no_client_auth();
    config.alpn_protocols = alpn.iter().map(|protocol| protocol.to_vec()).collect();

    let name = ServerName::try_from(sni.to_owned()).context("invalid SNI name")?;
    let stream = TcpStream::connect(addr)
        .await
        .with_context(|| format!("connect to {addr} failed"))?;
    let tls = TlsConnector::from(Arc::new(config))
        .connect(name, stream)
        .await
        .with_context(|| format!("TLS handshake with SNI {sni} failed"))?;
    Ok(tls)
}
