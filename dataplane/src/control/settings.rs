//! Settings of operator mode, parsed from the `--operator*`,
//! `--replica-name`, `--snapshot-cache` and `--reject-snapshots-with-route`
//! flags.

use std::path::{Path, PathBuf};

use portcullis_channel::TlsFiles;
use rustls_pki_types::ServerName;

use crate::cli::ServeArgs;
use crate::config::FlagError;

/// Maximum length of a replica name in bytes, as the operator checks it in
/// `hello`.
const MAX_REPLICA_NAME: usize = 253;

/// File in which Linux exposes the host name. In Kubernetes a pod's host
/// name is the pod name.
const HOSTNAME_FILE: &str = "/proc/sys/kernel/hostname";

/// Connection to the operator's snapshot channel, validated.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct OperatorSettings {
    /// Operator address as `host:port`, resolved on every connect.
    pub address: String,
    /// Name the operator's certificate must carry.
    pub server_name: String,
    /// CA of the operator's certificate, and this replica's certificate
    /// and key.
    pub tls: TlsFiles,
    /// Replica name sent to the operator.
    pub replica: String,
    /// File holding the last applied snapshot; `None` saves nothing.
    pub snapshot_cache: Option<PathBuf>,
    /// Route whose presence makes this replica reject a snapshot (test
    /// hook).
    pub reject_route: Option<RouteName>,
}

/// Namespace and name of a Route.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RouteName {
    /// Namespace.
    pub namespace: String,
    /// Name.
    pub name: String,
}

// === impl OperatorSettings ===

impl OperatorSettings {
    /// Validates the operator flags. Returns `Ok(None)` when `--operator`
    /// is unset, which is an error if any other operator flag is set.
    ///
    /// # Errors
    /// Returns every invalid, missing or misplaced flag.
    pub fn from_args(args: &ServeArgs) -> Result<Option<Self>, Vec<FlagError>> {
        let mut errors = Vec::new();
        let Some(address) = args.operator.as_deref() else {
            reject_without_operator(args, &mut errors);
            return if errors.is_empty() {
                Ok(None)
            } else {
                Err(errors)
            };
        };

        let host = parse_address(address, &mut errors);
        let server_name = server_name(args.operator_server_name.as_deref(), host, &mut errors);
        let ca = required_file("--operator-ca", args.operator_ca.as_ref(), &mut errors);
        let cert = required_file("--operator-cert", args.operator_cert.as_ref(), &mut errors);
        let key = required_file("--operator-key", args.operator_key.as_ref(), &mut errors);
        let replica = replica_name(args.replica_name.clone(), &mut errors);
        let reject_route = args
            .reject_snapshots_with_route
            .as_deref()
            .and_then(|value| parse_route_name(value, &mut errors));

        // A missing file always adds an error, so the first arm takes every
        // run without errors.
        match (ca, cert, key) {
            (Some(ca), Some(cert), Some(key)) if errors.is_empty() => Ok(Some(Self {
                address: address.to_owned(),
                server_name,
                tls: TlsFiles { ca, cert, key },
                replica,
                snapshot_cache: args.snapshot_cache.clone(),
                reject_route,
            })),
            _ => Err(errors),
        }
    }
}

// === impl RouteName ===

impl std::fmt::Display for RouteName {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(formatter, "{}/{}", self.namespace, self.name)
    }
}

/// Records an error for each operator flag set without `--operator`, so a
/// standalone replica never ignores one silently.
fn reject_without_operator(args: &ServeArgs, errors: &mut Vec<FlagError>) {
    let set = [
        (
            "--operator-server-name",
            args.operator_server_name.is_some(),
        ),
        ("--operator-ca", args.operator_ca.is_some()),
        ("--operator-cert", args.operator_cert.is_some()),
        ("--operator-key", args.operator_key.is_some()),
        ("--snapshot-cache", args.snapshot_cache.is_some()),
        (
            "--reject-snapshots-with-route",
            args.reject_snapshots_with_route.is_some(),
        ),
    ];
    for (flag, present) in set {
        if present {
            errors.push(FlagError {
                flag,
                message: "only used with --operator; remove it or set --operator".to_owned(),
            });
        }
    }
}

/// Checks `HOST:PORT` and returns the host, without IPv6 brackets.
fn parse_address<'a>(value: &'a str, errors: &mut Vec<FlagError>) -> Option<&'a str> {
    let parsed = value
        .rsplit_once(':')
        .filter(|(host, port)| !host.is_empty() && port.parse::<u16>().is_ok());
    let Some((host, _)) = parsed else {
        errors.push(FlagError {
            flag: "--operator",
            message: format!(
                "invalid address {value:?}: expected HOST:PORT such as portcullis-operator.portcullis-system.svc:9443"
            ),
        });
        return None;
    };
    Some(
        host.strip_prefix('[')
            .and_then(|inner| inner.strip_suffix(']'))
            .unwrap_or(host),
    )
}

fn server_name(flag: Option<&str>, host: Option<&str>, errors: &mut Vec<FlagError>) -> String {
    let Some(name) = flag.or(host) else {
        // The address error already explains the problem.
        return String::new();
    };
    if ServerName::try_from(name).is_err() {
        errors.push(FlagError {
            flag: "--operator-server-name",
            message: format!(
                "invalid server name {name:?}: expected the DNS name or IP address in the operator's certificate"
            ),
        });
    }
    name.to_owned()
}

fn required_file(
    flag: &'static str,
    path: Option<&PathBuf>,
    errors: &mut Vec<FlagError>,
) -> Option<PathBuf> {
    let Some(path) = path else {
        errors.push(FlagError {
            flag,
            message: "missing: required with --operator; pass a PEM file".to_owned(),
        });
        return None;
    };
    if let Err(error) = std::fs::metadata(path) {
        errors.push(FlagError {
            flag,
            message: format!("cannot read {}: {error}", path.display()),
        });
    }
    Some(path.clone())
}

fn replica_name(flag: Option<String>, errors: &mut Vec<FlagError>) -> String {
    let pod_name = std::env::var("POD_NAME").ok();
    let hostname = read_hostname(Path::new(HOSTNAME_FILE));
    let Some(name) = choose_replica_name(flag, pod_name, hostname) else {
        errors.push(FlagError {
            flag: "--replica-name",
            message:
                "missing: POD_NAME is unset and the host name cannot be read; pass --replica-name"
                    .to_owned(),
        });
        return String::new();
    };
    if name.len() > MAX_REPLICA_NAME {
        errors.push(FlagError {
            flag: "--replica-name",
            message: format!(
                "name of {} bytes is too long: at most {MAX_REPLICA_NAME}",
                name.len()
            ),
        });
    }
    name
}

/// Picks the first non-blank of the flag, `POD_NAME` and the host name.
pub(crate) fn choose_replica_name(
    flag: Option<String>,
    pod_name: Option<String>,
    hostname: Option<String>,
) -> Option<String> {
    [flag, pod_name, hostname]
        .into_iter()
        .flatten()
        .map(|name| name.trim().to_owned())
        .find(|name| !name.is_empty())
}

fn read_hostname(path: &Path) -> Option<String> {
    std::fs::read_to_string(path).ok()
}

/// Parses `NAMESPACE/NAME`.
pub(crate) fn parse_route_name(value: &str, errors: &mut Vec<FlagError>) -> Option<RouteName> {
    let parsed = value.split_once('/').filter(|(namespace, name)| {
        !namespace.is_empty() && !name.is_empty() && !name.contains('/')
    });
    let Some((namespace, name)) = parsed else {
        errors.push(FlagError {
            flag: "--reject-snapshots-with-route",
            message: format!(
                "invalid route {value:?}: expected NAMESPACE/NAME such as default/web"
            ),
        });
        return None;
    };
    Some(RouteName {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
    })
}
