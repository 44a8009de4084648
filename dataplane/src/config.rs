//! Data-plane settings, parsed from flags and environment by the binary.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;

/// How the path normalizer treats `%2F` and `%5C` (encoded slash and
/// backslash) in a request path.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum EncodedSlash {
    /// Answer 400: the request is ambiguous and most likely an attack.
    #[default]
    Reject,
    /// Decode to `/` (or `\`) before dot-segment removal and matching.
    Decode,
    /// Keep the encoded byte as part of its segment.
    Keep,
}

/// Path normalization applied before matching and forwarding.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PathNormalization {
    /// Collapse runs of `/` into one.
    pub merge_slashes: bool,
    /// Treatment of encoded slashes.
    pub encoded_slash: EncodedSlash,
}

impl Default for PathNormalization {
    fn default() -> Self {
        Self {
            merge_slashes: true,
            encoded_slash: EncodedSlash::Reject,
        }
    }
}

/// Everything the proxy needs besides the snapshot.
#[derive(Clone, Debug)]
pub struct ProxySettings {
    /// Plain-text listener (HTTP/1.1 and h2c with prior knowledge).
    pub listen: SocketAddr,
    /// TLS listener with SNI certificates from the snapshot, when set.
    pub tls_listen: Option<SocketAddr>,
    /// Peers whose forwarding and country headers are trusted.
    pub trusted_proxies: Vec<IpNet>,
    /// Header carrying the client's country, set by a trusted edge.
    pub country_header: Option<http::HeaderName>,
    /// MaxMind-format database for country lookups by client address.
    pub geoip_db: Option<PathBuf>,
    /// Maximum body read to find a GraphQL operation, in bytes.
    pub graphql_max_body: usize,
    /// Path normalization.
    pub normalization: PathNormalization,
    /// Maximum size of the request head, in bytes; larger heads get 431.
    pub max_header_bytes: usize,
    /// Time allowed for a client to send the request head.
    pub header_read_timeout: Duration,
    /// Time allowed to connect to a backend endpoint.
    pub connect_timeout: Duration,
    /// Time allowed for a backend to start its response.
    pub response_timeout: Duration,
    /// Time in-flight requests get to finish after SIGTERM.
    pub drain_timeout: Duration,
}

impl Default for ProxySettings {
    fn default() -> Self {
        Self {
            listen: SocketAddr::from(([0, 0, 0, 0], 8080)),
            tls_listen: None,
            trusted_proxies: Vec::new(),
            country_header: None,
            geoip_db: None,
            graphql_max_body: 64 * 1024,
            normalization: PathNormalization::default(),
            max_header_bytes: 64 * 1024,
            header_read_timeout: Duration::from_secs(10),
            connect_timeout: Duration::from_secs(5),
            response_timeout: Duration::from_secs(30),
            drain_timeout: Duration::from_secs(30),
        }
    }
}
