//! TLS termination with certificates chosen by SNI from the current
//! snapshot.
//!
//! PEM is parsed once per snapshot version, on the first handshake after a
//! swap, and the parsed map is cached until the version changes. A
//! certificate change therefore applies to the next handshake without a
//! restart, and handshakes in between cost one map lookup.

use std::collections::HashMap;
use std::sync::Arc;

use arc_swap::ArcSwapOption;
use portcullis_compiler::ir::CertificateIr;
use rustls::ServerConfig;
use rustls::crypto::CryptoProvider;
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::TlsAcceptor;

use crate::state::SnapshotStore;

/// Builds the acceptor for the TLS listener: ring provider, TLS 1.2 and
/// 1.3, ALPN `h2` then `http/1.1`.
///
/// # Errors
/// Returns an error when the provider rejects the protocol versions.
pub fn acceptor(store: Arc<SnapshotStore>) -> anyhow::Result<TlsAcceptor> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = SniResolver::new(store, provider.clone());
    let mut config = ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// Picks a certificate by SNI: exact hostname, then `*.` wildcard of the
/// parent domain. Connections without SNI or without a match fail the
/// handshake.
#[derive(Debug)]
pub struct SniResolver {
    store: Arc<SnapshotStore>,
    provider: Arc<CryptoProvider>,
    cache: ArcSwapOption<CertMap>,
}

/// Parsed certificates of one snapshot version.
struct CertMap {
    version: String,
    by_host: HashMap<String, Arc<CertifiedKey>>,
}

impl std::fmt::Debug for CertMap {
    // Lists hostnames only, so no key type or material reaches a log.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CertMap")
            .field("version", &self.version)
            .field("hostnames", &self.by_host.keys().collect::<Vec<_>>())
            .finish()
    }
}

// === impl SniResolver ===

impl SniResolver {
    /// Creates a resolver that reads certificates from `store`.
    pub fn new(store: Arc<SnapshotStore>, provider: Arc<CryptoProvider>) -> Self {
        Self {
            store,
            provider,
            cache: ArcSwapOption::empty(),
        }
    }

    /// Returns the certificates of the current snapshot, parsing them when
    /// the version changed since the last call. Concurrent first
    /// handshakes may each parse once; the last one stored wins.
    fn current(&self) -> Arc<CertMap> {
        let published = self.store.load();
        let version = published.snapshot.version();
        if let Some(map) = self.cache.load_full()
            && map.version == version
        {
            return map;
        }
        let map = Arc::new(build_map(
            version,
            published.snapshot.certificates(),
            &self.provider,
        ));
        self.cache.store(Some(map.clone()));
        map
    }
}

impl ResolvesServerCert for SniResolver {
    fn resolve(&self, client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        let name = client_hello.server_name()?.to_ascii_lowercase();
        let map = self.current();
        let found = lookup(&map.by_host, &name);
        if found.is_none() {
            tracing::debug!(server_name = %name, "no certificate for the requested server name");
        }
        found
    }
}

fn lookup(by_host: &HashMap<String, Arc<CertifiedKey>>, name: &str) -> Option<Arc<CertifiedKey>> {
    if let Some(key) = by_host.get(name) {
        return Some(key.clone());
    }
    let (_, parent) = name.split_once('.')?;
    by_host.get(&format!("*.{parent}")).cloned()
}

fn build_map(version: &str, certificates: &[CertificateIr], provider: &CryptoProvider) -> CertMap {
    let mut by_host = HashMap::new();
    for certificate in certificates {
        let key = match certified_key(certificate, provider) {
            Ok(key) => Arc::new(key),
            Err(error) => {
                tracing::warn!(
                    secret = %format_args!("{}/{}", certificate.secret.namespace, certificate.secret.name),
                    %error,
                    "TLS certificate skipped"
                );
                continue;
            }
        };
        for hostname in &certificate.hostnames {
            by_host
                .entry(hostname.to_ascii_lowercase())
                .or_insert_with(|| key.clone());
        }
    }
    CertMap {
        version: version.to_owned(),
        by_host,
    }
}

/// Failure to use a Secret's PEM.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// The chain contains no readable certificate.
    #[error("tls.crt holds no PEM certificate")]
    NoCertificate,
    /// The key is missing or not PEM.
    #[error("tls.key holds no PEM private key: {0}")]
    Key(rustls_pki_types::pem::Error),
    /// The key type is not supported by the provider.
    #[error("tls.key is not a supported private key: {0}")]
    Unsupported(rustls::Error),
}

/// Parses a chain and key into a signing certificate.
///
/// # Errors
/// Returns [`CertError`] when either PEM cannot be used.
pub fn certified_key(
    certificate: &CertificateIr,
    provider: &CryptoProvider,
) -> Result<CertifiedKey, CertError> {
    let chain: Vec<CertificateDer<'static>> =
        CertificateDer::pem_slice_iter(certificate.cert_pem.as_bytes())
            .filter_map(Result::ok)
            .collect();
    if chain.is_empty() {
        return Err(CertError::NoCertificate);
    }
    let key =
        PrivateKeyDer::from_pem_slice(certificate.key_pem.as_bytes()).map_err(CertError::Key)?;
    let signing_key = provider
        .key_provider
        .load_private_key(key)
        .map_err(CertError::Unsupported)?;
    Ok(CertifiedKey::new(chain, signing_key))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_name_wins_over_wildcard() {
        let provider = rustls::crypto::ring::default_provider();
        let exact = generated("exact.example.com", &provider);
        let wildcard = generated("*.example.com", &provider);
        let mut by_host = HashMap::new();
        by_host.insert("exact.example.com".to_owned(), exact.clone());
        by_host.insert("*.example.com".to_owned(), wildcard.clone());

        let found = lookup(&by_host, "exact.example.com").unwrap();
        assert!(Arc::ptr_eq(&found, &exact));
        let found = lookup(&by_host, "other.example.com").unwrap();
        assert!(Arc::ptr_eq(&found, &wildcard));
        assert!(lookup(&by_host, "a.b.example.com").is_none());
        assert!(lookup(&by_host, "example.com").is_none());
    }

    #[test]
    fn bad_pem_is_reported() {
        let provider = rustls::crypto::ring::default_provider();
        let certificate = CertificateIr {
            secret: portcullis_compiler::ObjectRef {
                kind: "Secret".into(),
                namespace: "default".into(),
                name: "tls".into(),
            },
            hostnames: vec!["a.example.com".into()],
            cert_pem: "not pem".into(),
            key_pem: String::new(),
        };
        let error = certified_key(&certificate, &provider).unwrap_err();
        assert!(matches!(error, CertError::NoCertificate));
    }

    fn generated(name: &str, provider: &CryptoProvider) -> Arc<CertifiedKey> {
        let issued = rcgen::generate_simple_self_signed(vec![name.to_owned()]).unwrap();
        let certificate = CertificateIr {
            secret: portcullis_compiler::ObjectRef {
                kind: "Secret".into(),
                namespace: "default".into(),
                name: name.into(),
            },
            hostnames: vec![name.into()],
            cert_pem: issued.cert.pem(),
            key_pem: issued.signing_key.serialize_pem(),
        };
        Arc::new(certified_key(&certificate, provider).unwrap())
    }
}
