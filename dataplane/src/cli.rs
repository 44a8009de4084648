//! Command-line interface of the `portcullis` binary.
//!
//! Serve flags are parsed as raw strings here and validated together in
//! [`crate::config`], so one run reports every bad value at once instead of
//! stopping at the first.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

/// The Portcullis data plane: serves compiled routes from manifests or
/// from the operator.
#[derive(Debug, Parser)]
#[command(
    name = "portcullis",
    version,
    about,
    args_conflicts_with_subcommands = true,
    subcommand_negates_reqs = true
)]
pub struct Cli {
    /// Subcommand to run; `serve` when omitted.
    #[command(subcommand)]
    pub command: Option<Command>,

    /// Flags of `serve`, accepted without the subcommand name.
    #[command(flatten)]
    pub serve: ServeArgs,
}

/// A subcommand.
#[derive(Debug, Subcommand)]
#[expect(
    clippy::large_enum_variant,
    reason = "parsed once per process, so the size of the value does not matter"
)]
pub enum Command {
    /// Serve the manifests at --config and reload them when they change, or
    /// the snapshots the operator at --operator sends.
    Serve(ServeArgs),
    /// Compile the manifests offline and explain which route takes a request.
    Explain(ExplainArgs),
    /// Compile the manifests offline and report every resource.
    Check(CheckArgs),
}

/// Flags of `serve`, as given. Each also reads `PORTCULLIS_<NAME>`.
#[derive(Clone, Debug, Args)]
pub struct ServeArgs {
    /// YAML file or folder of YAML files with Route, Secret, Service and
    /// EndpointSlice manifests. Exclusive with --operator.
    #[arg(long, env = "PORTCULLIS_CONFIG", value_name = "PATH")]
    pub config: Option<PathBuf>,

    /// Operator snapshot listener as HOST:PORT; snapshots come from the
    /// operator instead of --config.
    #[arg(
        long,
        env = "PORTCULLIS_OPERATOR",
        value_name = "ADDR",
        conflicts_with = "config"
    )]
    pub operator: Option<String>,

    /// DNS name (or IP address) in the operator's certificate; defaults to
    /// the host part of --operator.
    #[arg(long, env = "PORTCULLIS_OPERATOR_SERVER_NAME", value_name = "NAME")]
    pub operator_server_name: Option<String>,

    /// PEM file with the CA that signed the operator's certificate.
    #[arg(long, env = "PORTCULLIS_OPERATOR_CA", value_name = "PATH")]
    pub operator_ca: Option<PathBuf>,

    /// PEM file with this replica's client certificate chain.
    #[arg(long, env = "PORTCULLIS_OPERATOR_CERT", value_name = "PATH")]
    pub operator_cert: Option<PathBuf>,

    /// PEM file with the private key of --operator-cert.
    #[arg(long, env = "PORTCULLIS_OPERATOR_KEY", value_name = "PATH")]
    pub operator_key: Option<PathBuf>,

    /// Replica name reported to the operator; defaults to $POD_NAME, then
    /// the host name.
    #[arg(long, env = "PORTCULLIS_REPLICA_NAME", value_name = "NAME")]
    pub replica_name: Option<String>,

    /// File where the last applied operator snapshot is saved and read back
    /// at startup; nothing is saved when unset.
    #[arg(long, env = "PORTCULLIS_SNAPSHOT_CACHE", value_name = "PATH")]
    pub snapshot_cache: Option<PathBuf>,

    /// Test hook: reject (NACK) every operator snapshot that contains this
    /// Route, given as NAMESPACE/NAME.
    #[arg(
        long,
        env = "PORTCULLIS_REJECT_SNAPSHOTS_WITH_ROUTE",
        value_name = "NAMESPACE/NAME",
        hide = true
    )]
    pub reject_snapshots_with_route: Option<String>,

    /// Address of the plain-text listener (HTTP/1.1 and h2c with prior
    /// knowledge).
    #[arg(
        long,
        env = "PORTCULLIS_LISTEN",
        value_name = "ADDR",
        default_value = "0.0.0.0:8080"
    )]
    pub listen: String,

    /// Address of the TLS listener; no TLS listener when unset.
    #[arg(long, env = "PORTCULLIS_TLS_LISTEN", value_name = "ADDR")]
    pub tls_listen: Option<String>,

    /// Address of the admin listener (health, readiness, config, explain).
    #[arg(
        long,
        env = "PORTCULLIS_ADMIN",
        value_name = "ADDR",
        default_value = "127.0.0.1:9901"
    )]
    pub admin: String,

    /// Network of proxies whose X-Forwarded-For and country header are
    /// trusted. Repeatable; the variable takes a comma-separated list.
    #[arg(
        long,
        env = "PORTCULLIS_TRUSTED_PROXY",
        value_name = "CIDR",
        value_delimiter = ','
    )]
    pub trusted_proxy: Vec<String>,

    /// Request header with the client's ISO 3166-1 country code, read only
    /// from trusted proxies.
    #[arg(long, env = "PORTCULLIS_COUNTRY_HEADER", value_name = "NAME")]
    pub country_header: Option<String>,

    /// MaxMind-format database used to find the client's country.
    #[arg(long, env = "PORTCULLIS_GEOIP_DB", value_name = "PATH")]
    pub geoip_db: Option<PathBuf>,

    /// Maximum request body read to find a GraphQL operation, in bytes.
    #[arg(
        long,
        env = "PORTCULLIS_GRAPHQL_MAX_BODY",
        value_name = "BYTES",
        default_value = "65536"
    )]
    pub graphql_max_body: String,

    /// Collapse runs of `/` in request paths: true or false.
    #[arg(
        long,
        env = "PORTCULLIS_MERGE_SLASHES",
        value_name = "BOOL",
        default_value = "true"
    )]
    pub merge_slashes: String,

    /// Treatment of `%2F` and `%5C` in request paths: reject, decode or keep.
    #[arg(
        long,
        env = "PORTCULLIS_ENCODED_SLASH",
        value_name = "MODE",
        default_value = "reject"
    )]
    pub encoded_slash: String,

    /// Maximum size of a request head, in bytes.
    #[arg(
        long,
        env = "PORTCULLIS_MAX_HEADER_BYTES",
        value_name = "N",
        default_value = "65536"
    )]
    pub max_header_bytes: String,

    /// Time a client has to send the request head, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_HEADER_READ_TIMEOUT",
        value_name = "SECS",
        default_value = "10"
    )]
    pub header_read_timeout: String,

    /// Time allowed to connect to a backend, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_CONNECT_TIMEOUT",
        value_name = "SECS",
        default_value = "5"
    )]
    pub connect_timeout: String,

    /// Time a backend has to start its response, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_RESPONSE_TIMEOUT",
        value_name = "SECS",
        default_value = "30"
    )]
    pub response_timeout: String,

    /// Time in-flight requests get to finish after SIGTERM, in seconds.
    #[arg(
        long,
        env = "PORTCULLIS_DRAIN_TIMEOUT",
        value_name = "SECS",
        default_value = "30"
    )]
    pub drain_timeout: String,

    /// Log line format: text or json.
    #[arg(
        long,
        env = "PORTCULLIS_LOG_FORMAT",
        value_name = "FORMAT",
        default_value = "text"
    )]
    pub log_format: String,

    /// Log filter, such as `info` or `portcullis_dataplane=debug`. When
    /// unset, RUST_LOG is used, then `info`.
    #[arg(long, env = "PORTCULLIS_LOG_LEVEL", value_name = "FILTER")]
    pub log_level: Option<String>,

    /// Tokio worker threads; defaults to the number of available cores.
    #[arg(long, env = "PORTCULLIS_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<String>,
}

/// Flags of `explain`.
#[derive(Clone, Debug, Args)]
pub struct ExplainArgs {
    /// YAML file or folder of YAML files to compile.
    #[arg(long, env = "PORTCULLIS_CONFIG", value_name = "PATH")]
    pub config: PathBuf,

    /// Request method.
    #[arg(long, default_value = "GET")]
    pub method: String,

    /// Request host, with or without a port.
    #[arg(long)]
    pub host: String,

    /// Request path, already normalized, without the query.
    #[arg(long)]
    pub path: String,

    /// Request header as `name: value`. Repeatable.
    #[arg(long = "header", value_name = "NAME: VALUE")]
    pub headers: Vec<String>,

    /// Raw query string without the `?`, such as `a=1&b=2`.
    #[arg(long)]
    pub query: Option<String>,

    /// Client IP address, after trusted-proxy processing.
    #[arg(long, value_name = "IP")]
    pub client_addr: Option<String>,

    /// Client country, ISO 3166-1 alpha-2.
    #[arg(long, value_name = "CC")]
    pub country: Option<String>,

    /// GraphQL operation name of the body.
    #[arg(long, value_name = "NAME")]
    pub graphql_operation: Option<String>,

    /// GraphQL operation type of the body: query, mutation or subscription.
    #[arg(long, value_name = "TYPE")]
    pub graphql_type: Option<String>,
}

/// Flags of `check`.
#[derive(Clone, Debug, Args)]
pub struct CheckArgs {
    /// YAML file or folder of YAML files to compile.
    #[arg(long, env = "PORTCULLIS_CONFIG", value_name = "PATH")]
    pub config: PathBuf,
}

impl Cli {
    /// Returns the serve flags when the command is `serve`, named or not.
    pub fn serve_args(&self) -> Option<&ServeArgs> {
        match &self.command {
            None => Some(&self.serve),
            Some(Command::Serve(args)) => Some(args),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cli_definition_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_flags_work_without_subcommand() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "--config",
            "a.yaml",
            "--listen",
            "127.0.0.1:0",
        ])
        .expect("flags parse");
        let args = cli.serve_args().expect("serve is the default");
        assert_eq!(args.config, Some(PathBuf::from("a.yaml")));
        assert_eq!(args.listen, "127.0.0.1:0");
    }

    #[test]
    fn serve_subcommand_takes_same_flags() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "serve",
            "--config",
            "b.yaml",
            "--admin",
            "127.0.0.1:0",
        ])
        .expect("flags parse");
        let args = cli.serve_args().expect("serve subcommand");
        assert_eq!(args.config, Some(PathBuf::from("b.yaml")));
        assert_eq!(args.admin, "127.0.0.1:0");
    }

    #[test]
    fn trusted_proxy_is_repeatable() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "--trusted-proxy",
            "10.0.0.0/8",
            "--trusted-proxy",
            "192.168.0.0/16",
        ])
        .expect("flags parse");
        let args = cli.serve_args().expect("serve is the default");
        assert_eq!(args.trusted_proxy, ["10.0.0.0/8", "192.168.0.0/16"]);
    }

    #[test]
    fn explain_collects_headers() {
        let cli = Cli::try_parse_from([
            "portcullis",
            "explain",
            "--config",
            "c.yaml",
            "--host",
            "a.example.com",
            "--path",
            "/x",
            "--header",
            "x-a: 1",
            "--header",
            "x-b: 2",
        ])
        .expect("flags parse");
        let Some(Command::Explain(args)) = cli.command else {
            panic!("expected explain, got {:?}", cli.command);
        };
        assert_eq!(args.method, "GET");
        assert_eq!(args.headers, ["x-a: 1", "x-b: 2"]);
    }

    #[test]
    fn check_requires_config() {
        let result = Cli::try_parse_from(["portcullis", "check"]);
        assert!(result.is_err());
    }
}
