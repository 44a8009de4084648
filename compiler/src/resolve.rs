//! Resolves a Route's references: Service backends to ready endpoints,
//! static endpoints to addresses, and certificate Secrets to PEM.
//!
//! An unresolved reference never rejects the Route. It is reported in
//! [`crate::Diagnostic::unresolved_refs`]: a missing Service keeps its
//! backend with no endpoints, and a reference that a ReferenceGrant does
//! not permit is left out.

use std::collections::BTreeMap;
use std::net::{IpAddr, SocketAddr};

use k8s_openapi::api::core::v1::{Secret, Service, ServicePort};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;
use portcullis_crds::Route;
use portcullis_crds::route::{Backend, RouteRule};
use rustc_hash::FxHashMap;

use crate::FieldError;
use crate::grant::Grants;
use crate::ir::{ActionIr, BackendIr, RouteIr, RuleIr, TargetIr};
use crate::validate::{FieldPath, RULES, parse_endpoint};

/// Label that ties an EndpointSlice to its Service.
const SERVICE_NAME_LABEL: &str = "kubernetes.io/service-name";

/// The Services, EndpointSlices, Secrets and grants of one compile.
#[derive(Default)]
pub(crate) struct Inventory<'a> {
    pub(crate) services: FxHashMap<(&'a str, &'a str), &'a Service>,
    /// Slices by namespace and Service name.
    pub(crate) slices: FxHashMap<(&'a str, &'a str), Vec<&'a EndpointSlice>>,
    pub(crate) secrets: FxHashMap<(&'a str, &'a str), &'a Secret>,
    pub(crate) grants: Grants<'a>,
}

/// A Route's IR and the references that did not resolve.
pub(crate) struct Resolved {
    pub(crate) ir: RouteIr,
    pub(crate) unresolved: Vec<FieldError>,
}

/// Resolves one validated Route.
pub(crate) fn resolve_route(route: &Route, inventory: &Inventory<'_>) -> Resolved {
    let namespace = route.metadata.namespace.as_deref().unwrap_or("default");
    let mut unresolved = Vec::new();
    let mut hostnames: Vec<String> = route
        .spec
        .hostnames
        .iter()
        .map(|h| h.to_ascii_lowercase())
        .collect();
    hostnames.sort();
    hostnames.dedup();
    let rules = route
        .spec
        .rules
        .iter()
        .enumerate()
        .map(|(index, rule)| {
            let field = RULES.item(index);
            resolve_rule(rule, &field, namespace, inventory, &mut unresolved)
        })
        .collect();
    let ir = RouteIr {
        namespace: namespace.to_owned(),
        name: route.metadata.name.clone().unwrap_or_default(),
        generation: route.metadata.generation,
        hostnames,
        priority: route.spec.priority,
        rules,
    };
    Resolved { ir, unresolved }
}

fn resolve_rule(
    rule: &RouteRule,
    field: &FieldPath<'_>,
    namespace: &str,
    inventory: &Inventory<'_>,
    unresolved: &mut Vec<FieldError>,
) -> RuleIr {
    let mut action = |backends: Option<&Vec<Backend>>,
                      direct: Option<&portcullis_crds::route::DirectResponse>,
                      field: &FieldPath<'_>| {
        match (backends, direct) {
            (Some(backends), _) => {
                let list = field.child("backends");
                let resolved = backends
                    .iter()
                    .enumerate()
                    .filter_map(|(index, backend)| {
                        let field = list.item(index);
                        resolve_backend(backend, &field, namespace, inventory, unresolved)
                    })
                    .collect();
                ActionIr::Forward(resolved)
            }
            (None, Some(direct)) => ActionIr::Respond(direct.clone()),
            (None, None) => ActionIr::Forward(Vec::new()),
        }
    };
    let main = action(rule.backends.as_ref(), rule.direct_response.as_ref(), field);
    let fallback = rule.fallback.as_ref().map(|fallback| {
        action(
            fallback.backends.as_ref(),
            fallback.direct_response.as_ref(),
            &field.child("fallback"),
        )
    });
    RuleIr {
        name: rule.name.clone(),
        matches: rule.matches.clone(),
        action: main,
        fallback,
        filters: rule.filters.clone(),
    }
}

fn resolve_backend(
    backend: &Backend,
    field: &FieldPath<'_>,
    route_namespace: &str,
    inventory: &Inventory<'_>,
    unresolved: &mut Vec<FieldError>,
) -> Option<BackendIr> {
    let weight = backend.weight.unwrap_or(1);
    if let Some(endpoint) = &backend.endpoint {
        let (tls, authority) = parse_endpoint(endpoint).ok()?;
        return Some(BackendIr {
            weight,
            target: TargetIr::Static {
                tls,
                authority: authority.into_owned(),
            },
        });
    }
    let name = backend.name.as_deref()?;
    let port = backend.port?;
    let namespace = backend.namespace.as_deref().unwrap_or(route_namespace);
    if !inventory
        .grants
        .permits(route_namespace, namespace, "Service", name)
    {
        unresolved.push(FieldError::new(
            field.to_string(),
            "RefNotPermitted",
            format!(
                "Service {namespace}/{name} is in another namespace and no ReferenceGrant in {namespace} \
                 permits Routes from {route_namespace}; add one or move the Route"
            ),
        ));
        return None;
    }
    let mut skipped = Vec::new();
    let endpoints = service_endpoints(namespace, name, port, inventory, &mut skipped);
    for message in skipped {
        unresolved.push(FieldError::new(
            field.to_string(),
            "InvalidEndpoint",
            message,
        ));
    }
    let endpoints = match endpoints {
        Ok(endpoints) => endpoints,
        Err(message) => {
            unresolved.push(FieldError::new(
                field.to_string(),
                "BackendNotFound",
                message,
            ));
            Vec::new()
        }
    };
    let target = TargetIr::Service {
        namespace: namespace.to_owned(),
        name: name.to_owned(),
        port,
        endpoints,
    };
    Some(BackendIr { weight, target })
}

/// Lists the ready endpoints of a Service port, as sorted `ip:port`.
/// Addresses that are not IP addresses are left out with a message in
/// `skipped`.
fn service_endpoints(
    namespace: &str,
    name: &str,
    port: u16,
    inventory: &Inventory<'_>,
    skipped: &mut Vec<String>,
) -> Result<Vec<String>, String> {
    let service = inventory.services.get(&(namespace, name)).ok_or_else(|| {
        format!("Service {namespace}/{name} not found; create it or fix the backend name")
    })?;
    let ports = service
        .spec
        .as_ref()
        .and_then(|spec| spec.ports.as_deref())
        .unwrap_or_default();
    let service_port = ports
        .iter()
        .find(|p| p.port == i32::from(port))
        .ok_or_else(|| {
            format!("Service {namespace}/{name} has no port {port}; use one of its ports")
        })?;
    let mut endpoints = Vec::new();
    let slices = inventory
        .slices
        .get(&(namespace, name))
        .map(Vec::as_slice)
        .unwrap_or_default();
    for slice in slices {
        collect_slice_endpoints(slice, service_port, &mut endpoints, skipped);
    }
    endpoints.sort();
    endpoints.dedup();
    Ok(endpoints)
}

/// Adds the ready addresses of one slice, on the slice port named like the
/// Service port; a numeric target port is the fallback when the slice
/// lists no matching port name.
fn collect_slice_endpoints(
    slice: &EndpointSlice,
    service_port: &ServicePort,
    out: &mut Vec<String>,
    skipped: &mut Vec<String>,
) {
    let wanted = service_port.name.as_deref().unwrap_or("");
    let slice_port = slice
        .ports
        .as_deref()
        .unwrap_or_default()
        .iter()
        .find(|p| p.name.as_deref().unwrap_or("") == wanted)
        .and_then(|p| p.port);
    let target = match &service_port.target_port {
        Some(IntOrString::Int(number)) => Some(*number),
        Some(IntOrString::String(_)) => None,
        None => Some(service_port.port),
    };
    let Some(port) = slice_port.or(target).and_then(|p| u16::try_from(p).ok()) else {
        return;
    };
    for endpoint in slice.endpoints.iter().flatten() {
        let ready = endpoint.conditions.as_ref().and_then(|c| c.ready) != Some(false);
        if !ready {
            continue;
        }
        for address in &endpoint.addresses {
            // The data plane would resolve a name through DNS on every
            // request, and the API server accepts only IP addresses here.
            match address.parse::<IpAddr>() {
                Ok(ip) => out.push(SocketAddr::new(ip, port).to_string()),
                Err(_) => skipped.push(format!(
                    "EndpointSlice {} lists address {address:?}, which is not an IP address; \
                     the endpoint is skipped, so list IPv4 or IPv6 addresses only",
                    slice_name(slice)
                )),
            }
        }
    }
}

/// Reads `tls.crt` and `tls.key` of a `kubernetes.io/tls` Secret and checks
/// that they hold a PEM certificate chain and a PEM private key.
///
/// # Errors
/// Returns the field and a message naming the problem.
pub(crate) fn secret_pem(secret: &Secret) -> Result<(String, String), FieldError> {
    if secret.type_.as_deref() != Some("kubernetes.io/tls") {
        return Err(FieldError::new(
            "type",
            "InvalidSecret",
            "Secret type must be kubernetes.io/tls to serve as a certificate",
        ));
    }
    let cert = secret_value(secret, "tls.crt")?;
    let key = secret_value(secret, "tls.key")?;
    use rustls_pki_types::pem::PemObject;
    let certs: Result<Vec<_>, _> =
        rustls_pki_types::CertificateDer::pem_slice_iter(cert.as_bytes()).collect();
    if !certs.as_ref().is_ok_and(|certs| !certs.is_empty()) {
        return Err(FieldError::new(
            "data[tls.crt]",
            "InvalidCertificate",
            "tls.crt holds no PEM certificate; store the certificate chain in PEM",
        ));
    }
    let Ok(private_key) = rustls_pki_types::PrivateKeyDer::from_pem_slice(key.as_bytes()) else {
        return Err(FieldError::new(
            "data[tls.key]",
            "InvalidKey",
            "tls.key holds no PEM private key; store a PKCS#8, PKCS#1 or SEC1 key in PEM",
        ));
    };
    check_key_matches(certs.unwrap_or_default(), &private_key)?;
    Ok((cert, key))
}

/// Checks that the private key signs for the first certificate of the
/// chain. Without this check every TLS handshake for the Secret's hosts
/// fails with a bad signature and nothing names the Secret.
fn check_key_matches(
    chain: Vec<rustls_pki_types::CertificateDer<'static>>,
    key: &rustls_pki_types::PrivateKeyDer<'_>,
) -> Result<(), FieldError> {
    let signing_key = rustls::crypto::ring::sign::any_supported_type(key).map_err(|error| {
        FieldError::new(
            "data[tls.key]",
            "InvalidKey",
            format!("tls.key cannot be used for TLS: {error}; store an RSA, ECDSA or Ed25519 key"),
        )
    })?;
    let certified = rustls::sign::CertifiedKey::new(chain, signing_key);
    certified.keys_match().map_err(|error| {
        FieldError::new(
            "data[tls.key]",
            "InvalidSecret",
            format!(
                "tls.key does not match the certificate in tls.crt ({error}); store the key \
                 that belongs to the first certificate of the chain"
            ),
        )
    })
}

fn secret_value(secret: &Secret, key: &str) -> Result<String, FieldError> {
    let from_data = secret
        .data
        .as_ref()
        .and_then(|data| data.get(key))
        .map(|bytes| bytes.0.clone());
    let from_string = || {
        secret
            .string_data
            .as_ref()
            .and_then(|data: &BTreeMap<String, String>| data.get(key))
            .map(|s| s.clone().into_bytes())
    };
    let bytes = from_data.or_else(from_string).ok_or_else(|| {
        FieldError::new(
            format!("data[{key}]"),
            "FieldRequired",
            format!("Secret has no {key}; add it to data or stringData"),
        )
    })?;
    String::from_utf8(bytes).map_err(|_| {
        FieldError::new(
            format!("data[{key}]"),
            "InvalidSecret",
            format!("{key} is not UTF-8 text; store it in PEM"),
        )
    })
}

/// Returns `namespace/name` of a slice, for messages.
fn slice_name(slice: &EndpointSlice) -> String {
    let namespace = slice.metadata.namespace.as_deref().unwrap_or("default");
    let name = slice.metadata.name.as_deref().unwrap_or_default();
    format!("{namespace}/{name}")
}

/// Returns the name of the Service a slice belongs to, from its label.
pub(crate) fn slice_service(slice: &EndpointSlice) -> Option<&str> {
    slice
        .metadata
        .labels
        .as_ref()?
        .get(SERVICE_NAME_LABEL)
        .map(String::as_str)
}
