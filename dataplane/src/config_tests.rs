use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::*;
use crate::cli::Cli;
use crate::control::OperatorSettings;

fn parse(extra: &[&str]) -> Result<ServeConfig, ConfigError> {
    let dir = std::env::temp_dir();
    let dir = dir.to_str().expect("temp dir is UTF-8");
    let mut argv = vec!["portcullis", "--config", dir];
    argv.extend_from_slice(extra);
    let cli = Cli::try_parse_from(argv).expect("flags parse");
    ServeConfig::from_args(cli.serve_args().expect("serve is the default"))
}

#[test]
fn defaults_match_contract() {
    let config = parse(&[]).expect("defaults are valid");
    assert_eq!(config.admin, "127.0.0.1:9901".parse().expect("address"));
    assert_eq!(
        config.proxy.listen,
        "0.0.0.0:8080".parse().expect("address")
    );
    assert_eq!(config.proxy.tls_listen, None);
    assert_eq!(config.proxy.graphql_max_body, 65536);
    assert_eq!(config.proxy.max_header_bytes, 65536);
    assert!(config.proxy.normalization.merge_slashes);
    assert_eq!(
        config.proxy.normalization.encoded_slash,
        EncodedSlash::Reject
    );
    assert_eq!(config.proxy.header_read_timeout, Duration::from_secs(10));
    assert_eq!(config.proxy.connect_timeout, Duration::from_secs(5));
    assert_eq!(config.proxy.response_timeout, Duration::from_secs(30));
    assert_eq!(config.proxy.drain_timeout, Duration::from_secs(30));
    assert_eq!(config.log.format, LogFormat::Text);
    assert_eq!(config.log.filter, None);
    assert_eq!(config.worker_threads, None);
}

#[test]
fn valid_flags_are_applied() {
    let config = parse(&[
        "--listen",
        "127.0.0.1:0",
        "--tls-listen",
        "[::1]:0",
        "--trusted-proxy",
        "10.1.2.3/8",
        "--trusted-proxy",
        "192.0.2.7",
        "--country-header",
        "X-Country",
        "--merge-slashes",
        "false",
        "--encoded-slash",
        "keep",
        "--connect-timeout",
        "0.25",
        "--drain-timeout",
        "0",
        "--log-format",
        "json",
        "--log-level",
        "debug",
        "--worker-threads",
        "1",
    ])
    .expect("flags are valid");
    assert_eq!(
        config.proxy.tls_listen,
        Some("[::1]:0".parse().expect("address"))
    );
    let networks: Vec<String> = config
        .proxy
        .trusted_proxies
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(networks, ["10.0.0.0/8", "192.0.2.7/32"]);
    assert_eq!(
        config
            .proxy
            .country_header
            .as_ref()
            .map(http::HeaderName::as_str),
        Some("x-country")
    );
    assert!(!config.proxy.normalization.merge_slashes);
    assert_eq!(config.proxy.normalization.encoded_slash, EncodedSlash::Keep);
    assert_eq!(config.proxy.connect_timeout, Duration::from_millis(250));
    assert_eq!(config.proxy.drain_timeout, Duration::ZERO);
    assert_eq!(config.log.format, LogFormat::Json);
    assert_eq!(config.log.filter.as_deref(), Some("debug"));
    assert_eq!(config.worker_threads, Some(1));
}

#[test]
fn every_bad_flag_is_reported_at_once() {
    let error = parse(&[
        "--listen",
        "localhost",
        "--admin",
        "1.2.3.4",
        "--trusted-proxy",
        "10.0.0.0/33",
        "--country-header",
        "bad header",
        "--graphql-max-body",
        "lots",
        "--merge-slashes",
        "maybe",
        "--encoded-slash",
        "drop",
        "--max-header-bytes",
        "10",
        "--header-read-timeout",
        "0",
        "--response-timeout",
        "soon",
        "--log-format",
        "xml",
        "--worker-threads",
        "0",
    ])
    .expect_err("flags are invalid");
    assert_eq!(
        error.flags(),
        [
            "--admin",
            "--listen",
            "--trusted-proxy",
            "--country-header",
            "--graphql-max-body",
            "--merge-slashes",
            "--encoded-slash",
            "--max-header-bytes",
            "--header-read-timeout",
            "--response-timeout",
            "--log-format",
            "--worker-threads",
        ]
    );
    let message = error.to_string();
    assert!(
        message.contains("--listen: invalid address \"localhost\""),
        "{message}"
    );
}

#[test]
fn missing_config_is_reported() {
    let cli = Cli::try_parse_from(["portcullis", "--listen", "127.0.0.1:0"]).expect("flags parse");
    let args = cli.serve_args().expect("serve is the default");
    if args.config.is_some() {
        // PORTCULLIS_CONFIG is set in this environment, so the flag is not missing.
        return;
    }
    let error = ServeConfig::from_args(args).expect_err("config is required");
    assert_eq!(error.flags(), ["--config"]);
}

#[test]
fn unreadable_config_and_geoip_are_reported() {
    let cli = Cli::try_parse_from([
        "portcullis",
        "--config",
        "/nonexistent/portcullis/routes.yaml",
        "--geoip-db",
        "/nonexistent/portcullis/country.mmdb",
    ])
    .expect("flags parse");
    let error = ServeConfig::from_args(cli.serve_args().expect("serve is the default"))
        .expect_err("paths do not exist");
    assert_eq!(error.flags(), ["--config", "--geoip-db"]);
}

#[test]
fn invalid_log_filter_is_reported() {
    let error = parse(&["--log-level", "info,[=="]).expect_err("filter is invalid");
    assert_eq!(error.flags(), ["--log-level"]);
}

/// Parses serve flags without `--config`.
fn parse_operator(extra: &[&str]) -> Result<ServeConfig, ConfigError> {
    let mut argv = vec!["portcullis"];
    argv.extend_from_slice(extra);
    let cli = Cli::try_parse_from(argv).expect("flags parse");
    ServeConfig::from_args(cli.serve_args().expect("serve is the default"))
}

fn operator_settings(config: ServeConfig) -> OperatorSettings {
    match config.source {
        ConfigSource::Operator(settings) => settings,
        ConfigSource::Files(path) => panic!("expected operator mode, got files {path:?}"),
    }
}

#[test]
fn config_flag_selects_files() {
    let config = parse(&[]).expect("defaults are valid");
    assert_eq!(config.source, ConfigSource::Files(std::env::temp_dir()));
}

#[test]
fn operator_flags_select_operator() {
    let dir = std::env::temp_dir();
    let file = dir.to_str().expect("temp dir is UTF-8");
    let config = parse_operator(&[
        "--operator",
        "127.0.0.1:9443",
        "--operator-ca",
        file,
        "--operator-cert",
        file,
        "--operator-key",
        file,
        "--replica-name",
        "replica-0",
        "--snapshot-cache",
        "/var/cache/portcullis/snapshot.json",
        "--reject-snapshots-with-route",
        "default/web",
    ])
    .expect("flags are valid");
    let settings = operator_settings(config);
    assert_eq!(settings.address, "127.0.0.1:9443");
    assert_eq!(settings.server_name, "127.0.0.1");
    assert_eq!(settings.tls.ca, dir);
    assert_eq!(settings.replica, "replica-0");
    assert_eq!(
        settings.snapshot_cache,
        Some(PathBuf::from("/var/cache/portcullis/snapshot.json"))
    );
    let route = settings.reject_route.expect("hook set");
    assert_eq!(route.namespace, "default");
    assert_eq!(route.name, "web");
}

#[test]
fn operator_server_name_defaults_to_host() {
    let dir = std::env::temp_dir();
    let file = dir.to_str().expect("temp dir is UTF-8");
    let cases = [
        (
            "operator.portcullis-system.svc:9443",
            "operator.portcullis-system.svc",
        ),
        ("[::1]:9443", "::1"),
    ];
    for (address, expected) in cases {
        let config = parse_operator(&[
            "--operator",
            address,
            "--operator-ca",
            file,
            "--operator-cert",
            file,
            "--operator-key",
            file,
            "--replica-name",
            "replica-0",
        ])
        .expect("flags are valid");
        assert_eq!(operator_settings(config).server_name, expected, "{address}");
    }
}

#[test]
fn operator_server_name_flag_wins() {
    let dir = std::env::temp_dir();
    let file = dir.to_str().expect("temp dir is UTF-8");
    let config = parse_operator(&[
        "--operator",
        "10.0.0.1:9443",
        "--operator-server-name",
        "operator.portcullis.test",
        "--operator-ca",
        file,
        "--operator-cert",
        file,
        "--operator-key",
        file,
        "--replica-name",
        "replica-0",
    ])
    .expect("flags are valid");
    assert_eq!(
        operator_settings(config).server_name,
        "operator.portcullis.test"
    );
}

#[test]
fn operator_requires_tls_files() {
    let error = parse_operator(&["--operator", "127.0.0.1:9443", "--replica-name", "r"])
        .expect_err("TLS files are required");
    assert_eq!(
        error.flags(),
        ["--operator-ca", "--operator-cert", "--operator-key"]
    );
}

#[test]
fn invalid_operator_values_are_reported() {
    let error = parse_operator(&[
        "--operator",
        "operator-without-port",
        "--operator-ca",
        "/nonexistent/portcullis/ca.pem",
        "--operator-cert",
        "/nonexistent/portcullis/cert.pem",
        "--operator-key",
        "/nonexistent/portcullis/key.pem",
        "--replica-name",
        "r",
        "--reject-snapshots-with-route",
        "web",
    ])
    .expect_err("values are invalid");
    assert_eq!(
        error.flags(),
        [
            "--operator",
            "--operator-ca",
            "--operator-cert",
            "--operator-key",
            "--reject-snapshots-with-route",
        ]
    );
    let message = error.to_string();
    assert!(message.contains("expected HOST:PORT"), "{message}");
    assert!(message.contains("expected NAMESPACE/NAME"), "{message}");
}

#[test]
fn operator_flags_without_operator_are_reported() {
    let error = parse(&[
        "--snapshot-cache",
        "/tmp/snapshot.json",
        "--operator-ca",
        "ca.pem",
    ])
    .expect_err("operator flags need --operator");
    assert_eq!(error.flags(), ["--operator-ca", "--snapshot-cache"]);
    assert!(error.to_string().contains("only used with --operator"));
}

#[test]
fn operator_conflicts_with_config() {
    let result = Cli::try_parse_from([
        "portcullis",
        "--config",
        "a.yaml",
        "--operator",
        "127.0.0.1:9443",
    ]);
    assert!(result.is_err());
}

#[test]
fn long_replica_name_is_reported() {
    let dir = std::env::temp_dir();
    let file = dir.to_str().expect("temp dir is UTF-8");
    let name = "r".repeat(254);
    let error = parse_operator(&[
        "--operator",
        "127.0.0.1:9443",
        "--operator-ca",
        file,
        "--operator-cert",
        file,
        "--operator-key",
        file,
        "--replica-name",
        &name,
    ])
    .expect_err("name is too long");
    assert_eq!(error.flags(), ["--replica-name"]);
}
