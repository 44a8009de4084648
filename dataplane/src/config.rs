//! Data-plane settings, parsed from flags and environment by the binary.
//!
//! [`ServeConfig::from_args`] checks every flag before it returns, so one
//! run reports every bad value together, each with its flag name.

use std::fmt;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use ipnet::IpNet;
use tracing_subscriber::EnvFilter;

use crate::cli::ServeArgs;
use crate::control::OperatorSettings;

/// Smallest accepted `--max-header-bytes`; a smaller limit would reject
/// ordinary browser requests.
pub const MIN_MAX_HEADER_BYTES: usize = 1024;

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

/// Format of log lines.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line, from tracing-subscriber's JSON formatter.
    Json,
}

/// Logging options.
#[derive(Clone, Debug, Default)]
pub struct LogSettings {
    /// Line format.
    pub format: LogFormat,
    /// Filter directives from `--log-level`; `None` means RUST_LOG, then
    /// `info`.
    pub filter: Option<String>,
}

/// Source of the served snapshots.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ConfigSource {
    /// Standalone mode: a manifest file or folder, watched and recompiled.
    Files(PathBuf),
    /// Operator mode: snapshots pushed over the snapshot channel.
    Operator(OperatorSettings),
}

/// Everything `portcullis serve` needs, validated.
#[derive(Clone, Debug)]
pub struct ServeConfig {
    /// Manifests (`--config`) or the operator (`--operator`).
    pub source: ConfigSource,
    /// Admin listener address.
    pub admin: SocketAddr,
    /// Proxy settings.
    pub proxy: ProxySettings,
    /// Logging options.
    pub log: LogSettings,
    /// Tokio worker threads; `None` means one per available core.
    pub worker_threads: Option<usize>,
}

/// One invalid flag value.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FlagError {
    /// Flag name with its dashes, such as `--listen`.
    pub flag: &'static str,
    /// Description of the problem and the expected value.
    pub message: String,
}

/// Every invalid flag of one run.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub struct ConfigError {
    /// The invalid flags, in flag order.
    pub errors: Vec<FlagError>,
}

// === impl ConfigError ===

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration:")?;
        for error in &self.errors {
            write!(f, "\n  {}: {}", error.flag, error.message)?;
        }
        Ok(())
    }
}

impl ConfigError {
    /// Returns the flags that failed, for tests and messages.
    pub fn flags(&self) -> Vec<&'static str> {
        self.errors.iter().map(|error| error.flag).collect()
    }
}

// === impl ServeConfig ===

impl ServeConfig {
    /// Validates every serve flag.
    ///
    /// # Errors
    /// Returns every invalid or missing value at once, each with its flag.
    pub fn from_args(args: &ServeArgs) -> Result<Self, ConfigError> {
        let mut check = Checker::default();

        let source = check.source(args);
        let admin = check.address("--admin", &args.admin);
        let proxy = check.proxy(args);
        let log = check.log(args);
        let worker_threads = args
            .worker_threads
            .as_deref()
            .and_then(|value| check.count("--worker-threads", value, 1));

        if !check.errors.is_empty() {
            return Err(ConfigError {
                errors: check.errors,
            });
        }
        Ok(Self {
            source: source.expect("no error means a source was set"),
            admin: admin.expect("no error means the address parsed"),
            proxy,
            log,
            worker_threads,
        })
    }
}

/// Collects flag errors while parsing; failed values fall back to defaults
/// so parsing can go on to the next flag.
#[derive(Default)]
struct Checker {
    errors: Vec<FlagError>,
}

impl Checker {
    fn fail(&mut self, flag: &'static str, message: String) {
        self.errors.push(FlagError { flag, message });
    }

    fn source(&mut self, args: &ServeArgs) -> Option<ConfigSource> {
        let operator = match OperatorSettings::from_args(args) {
            Ok(operator) => operator,
            Err(errors) => {
                self.errors.extend(errors);
                return None;
            }
        };
        match (args.config.as_ref(), operator) {
            (Some(_), Some(_)) => {
                self.fail(
                    "--config",
                    "cannot be combined with --operator; pass one of them".to_owned(),
                );
                None
            }
            (None, Some(operator)) => Some(ConfigSource::Operator(operator)),
            (path, None) => self.config_path(path).map(ConfigSource::Files),
        }
    }

    fn config_path(&mut self, path: Option<&PathBuf>) -> Option<PathBuf> {
        let Some(path) = path else {
            self.fail(
                "--config",
                "missing: pass a manifest file or folder with --config (PORTCULLIS_CONFIG), or an operator address with --operator (PORTCULLIS_OPERATOR)"
                    .to_owned(),
            );
            return None;
        };
        if let Err(error) = std::fs::metadata(path) {
            self.fail(
                "--config",
                format!("cannot read {}: {error}", path.display()),
            );
        }
        Some(path.clone())
    }

    fn proxy(&mut self, args: &ServeArgs) -> ProxySettings {
        let defaults = ProxySettings::default();
        let listen = self.address("--listen", &args.listen);
        let tls_listen = args
            .tls_listen
            .as_deref()
            .and_then(|value| self.address("--tls-listen", value));

        ProxySettings {
            listen: listen.unwrap_or(defaults.listen),
            tls_listen,
            trusted_proxies: self.networks(&args.trusted_proxy),
            country_header: self.header_name(args.country_header.as_deref()),
            geoip_db: self.geoip_db(args.geoip_db.as_ref()),
            graphql_max_body: self
                .count("--graphql-max-body", &args.graphql_max_body, 0)
                .unwrap_or(defaults.graphql_max_body),
            normalization: self.normalization(args),
            max_header_bytes: self
                .count(
                    "--max-header-bytes",
                    &args.max_header_bytes,
                    MIN_MAX_HEADER_BYTES,
                )
                .unwrap_or(defaults.max_header_bytes),
            header_read_timeout: self
                .seconds("--header-read-timeout", &args.header_read_timeout, false)
                .unwrap_or(defaults.header_read_timeout),
            connect_timeout: self
                .seconds("--connect-timeout", &args.connect_timeout, false)
                .unwrap_or(defaults.connect_timeout),
            response_timeout: self
                .seconds("--response-timeout", &args.response_timeout, false)
                .unwrap_or(defaults.response_timeout),
            drain_timeout: self
                .seconds("--drain-timeout", &args.drain_timeout, true)
                .unwrap_or(defaults.drain_timeout),
        }
    }

    fn normalization(&mut self, args: &ServeArgs) -> PathNormalization {
        let merge_slashes = match args.merge_slashes.to_ascii_lowercase().as_str() {
            "true" => true,
            "false" => false,
            _ => {
                self.fail(
                    "--merge-slashes",
                    format!(
                        "invalid value {:?}: expected true or false",
                        args.merge_slashes
                    ),
                );
                true
            }
        };
        let encoded_slash = match args.encoded_slash.to_ascii_lowercase().as_str() {
            "reject" => EncodedSlash::Reject,
            "decode" => EncodedSlash::Decode,
            "keep" => EncodedSlash::Keep,
            _ => {
                self.fail(
                    "--encoded-slash",
                    format!(
                        "invalid value {:?}: expected reject, decode or keep",
                        args.encoded_slash
                    ),
                );
                EncodedSlash::Reject
            }
        };
        PathNormalization {
            merge_slashes,
            encoded_slash,
        }
    }

    fn log(&mut self, args: &ServeArgs) -> LogSettings {
        let format = match args.log_format.to_ascii_lowercase().as_str() {
            "text" => LogFormat::Text,
            "json" => LogFormat::Json,
            _ => {
                self.fail(
                    "--log-format",
                    format!("invalid value {:?}: expected text or json", args.log_format),
                );
                LogFormat::Text
            }
        };
        if let Some(filter) = &args.log_level
            && let Err(error) = EnvFilter::try_new(filter)
        {
            self.fail(
                "--log-level",
                format!("invalid filter {filter:?}: {error}; use a level such as info or debug"),
            );
        }
        LogSettings {
            format,
            filter: args.log_level.clone(),
        }
    }

    fn address(&mut self, flag: &'static str, value: &str) -> Option<SocketAddr> {
        match value.parse() {
            Ok(address) => Some(address),
            Err(_) => {
                self.fail(
                    flag,
                    format!(
                        "invalid address {value:?}: expected IP:PORT such as 0.0.0.0:8080 or [::]:8080"
                    ),
                );
                None
            }
        }
    }

    fn networks(&mut self, values: &[String]) -> Vec<IpNet> {
        let mut networks = Vec::with_capacity(values.len());
        for value in values {
            let parsed = value
                .parse::<IpNet>()
                .or_else(|_| value.parse::<std::net::IpAddr>().map(IpNet::from));
            match parsed {
                Ok(network) => networks.push(network.trunc()),
                Err(_) => self.fail(
                    "--trusted-proxy",
                    format!("invalid network {value:?}: expected a CIDR such as 10.0.0.0/8 or an IP address"),
                ),
            }
        }
        networks
    }

    fn header_name(&mut self, value: Option<&str>) -> Option<http::HeaderName> {
        let value = value?;
        match http::HeaderName::from_bytes(value.as_bytes()) {
            Ok(name) => Some(name),
            Err(_) => {
                self.fail(
                    "--country-header",
                    format!("invalid header name {value:?}: use letters, digits and dashes"),
                );
                None
            }
        }
    }

    fn geoip_db(&mut self, path: Option<&PathBuf>) -> Option<PathBuf> {
        let path = path?;
        match std::fs::metadata(path) {
            Ok(meta) if meta.is_file() => Some(path.clone()),
            Ok(_) => {
                self.fail("--geoip-db", format!("{} is not a file", path.display()));
                None
            }
            Err(error) => {
                self.fail(
                    "--geoip-db",
                    format!("cannot read {}: {error}", path.display()),
                );
                None
            }
        }
    }

    fn count(&mut self, flag: &'static str, value: &str, min: usize) -> Option<usize> {
        match value.trim().parse::<usize>() {
            Ok(count) if count >= min => Some(count),
            _ => {
                self.fail(
                    flag,
                    format!("invalid value {value:?}: expected a whole number of at least {min}"),
                );
                None
            }
        }
    }

    fn seconds(&mut self, flag: &'static str, value: &str, zero_ok: bool) -> Option<Duration> {
        let parsed = value
            .trim()
            .parse::<f64>()
            .ok()
            .and_then(|secs| Duration::try_from_secs_f64(secs).ok())
            .filter(|duration| zero_ok || !duration.is_zero());
        if parsed.is_none() {
            let expected = if zero_ok { "0 or more" } else { "more than 0" };
            self.fail(
                flag,
                format!(
                    "invalid duration {value:?}: expected seconds, {expected}, such as 10 or 0.5"
                ),
            );
        }
        parsed
    }
}

#[cfg(test)]
#[path = "config_tests.rs"]
mod tests;
