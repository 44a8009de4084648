//! The compile pass: validate and resolve every Route, collect
//! certificates, and give one diagnostic per resource.

use std::collections::BTreeMap;

use k8s_openapi::Metadata;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use portcullis_crds::Route;
use rustc_hash::FxHashMap;

use crate::grant::Grants;
use crate::ir::{CertificateIr, RouteIr, SnapshotIr};
use crate::pattern::PatternCache;
use crate::resolve::{Inventory, resolve_route, secret_pem, slice_service};
use crate::{Diagnostic, FieldError, ObjectRef, Resource};

/// The IR of every accepted resource and the diagnostics of all of them.
pub(crate) struct Pass {
    pub(crate) ir: SnapshotIr,
    /// Patterns compiled during validation, for the table build.
    pub(crate) patterns: PatternCache,
    pub(crate) diagnostics: Vec<Diagnostic>,
}

/// A Route that passed validation, its IR, and the index of its
/// diagnostic.
type Accepted<'a> = (&'a Route, RouteIr, usize);

/// Validates and resolves `resources` into IR and diagnostics, splitting
/// the Routes across up to `threads` threads.
pub(crate) fn run(resources: &[Resource], threads: usize) -> Pass {
    let mut diagnostics = Vec::new();
    let inventory = build_inventory(resources, &mut diagnostics);
    let routes = unique_routes(resources, threads, &mut diagnostics);
    let chunks =
        crate::parallel::map_chunks(&routes, threads, |_, chunk| check_routes(chunk, &inventory));
    let mut patterns = PatternCache::default();
    let mut accepted: Vec<Accepted<'_>> = Vec::with_capacity(routes.len());
    let mut route_diagnostics: Vec<Diagnostic> = Vec::with_capacity(routes.len());
    for (chunk_accepted, chunk_diagnostics, chunk_patterns) in chunks {
        let offset = route_diagnostics.len();
        accepted.extend(
            chunk_accepted
                .into_iter()
                .map(|(route, ir, index)| (route, ir, index + offset)),
        );
        route_diagnostics.extend(chunk_diagnostics);
        patterns.merge(chunk_patterns);
    }
    let certificates = collect_certificates(&accepted, &inventory, &mut route_diagnostics);
    diagnostics.extend(route_diagnostics);
    let ir = SnapshotIr {
        routes: accepted.into_iter().map(|(_, ir, _)| ir).collect(),
        certificates,
    };
    Pass {
        ir,
        patterns,
        diagnostics,
    }
}

/// Validates and resolves a run of Routes. Returns the accepted ones, one
/// diagnostic per Route, and the patterns compiled on the way.
fn check_routes<'a>(
    routes: &[&'a Route],
    inventory: &Inventory<'_>,
) -> (Vec<Accepted<'a>>, Vec<Diagnostic>, PatternCache) {
    let mut patterns = PatternCache::default();
    let mut accepted = Vec::with_capacity(routes.len());
    let mut diagnostics: Vec<Diagnostic> = Vec::with_capacity(routes.len());
    for &route in routes {
        let object = ObjectRef::new(
            "Route",
            namespace_of(&route.metadata),
            name_of(&route.metadata),
        );
        let generation = route.metadata.generation;
        let errors = crate::validate::check_spec(&route.spec, &mut patterns);
        if !errors.is_empty() {
            tracing::debug!(route = %object, errors = errors.len(), "route rejected");
            diagnostics.push(Diagnostic::rejected(object, generation, errors));
            continue;
        }
        let resolved = resolve_route(route, inventory);
        let mut diagnostic = Diagnostic::accepted(object, generation);
        diagnostic.unresolved_refs = resolved.unresolved;
        accepted.push((route, resolved.ir, diagnostics.len()));
        diagnostics.push(diagnostic);
    }
    (accepted, diagnostics, patterns)
}

fn namespace_of(meta: &ObjectMeta) -> &str {
    meta.namespace.as_deref().unwrap_or("default")
}

fn name_of(meta: &ObjectMeta) -> &str {
    meta.name.as_deref().unwrap_or("")
}

/// Sorts Routes by namespace and name. When two share a name, the one with
/// the higher generation is kept, then the one whose JSON sorts first. So
/// the choice does not depend on input order, and the other is rejected.
fn unique_routes<'a>(
    resources: &'a [Resource],
    threads: usize,
    diagnostics: &mut Vec<Diagnostic>,
) -> Vec<&'a Route> {
    // The keys are gathered first, so that sorting compares them in one
    // array instead of following every Route's pointers.
    let mut keyed: Vec<(RouteKey<'a>, &'a Route)> = resources
        .iter()
        .filter_map(|resource| match resource {
            Resource::Route(route) => Some((RouteKey::of(route), &**route)),
            _ => None,
        })
        .collect();
    // Unstable is enough: Routes that tie here are duplicates, and
    // `pick_duplicate` keeps the same one in any order.
    crate::parallel::sort_unstable_by(&mut keyed, threads, |(a, _), (b, _)| a.cmp(b));
    let mut unique: Vec<&Route> = Vec::with_capacity(keyed.len());
    for (_, route) in keyed {
        let same = unique.last().is_some_and(|last| {
            namespace_of(&last.metadata) == namespace_of(&route.metadata)
                && name_of(&last.metadata) == name_of(&route.metadata)
        });
        if !same {
            unique.push(route);
            continue;
        }
        let previous = unique
            .pop()
            .expect("a previous route exists when names repeat");
        let (keep, drop) = pick_duplicate(previous, route);
        unique.push(keep);
        let object = ObjectRef::new(
            "Route",
            namespace_of(&drop.metadata),
            name_of(&drop.metadata),
        );
        let error = FieldError::new(
            "metadata.name",
            "DuplicateResource",
            "another Route with this namespace and name is in the configuration; remove one of them",
        );
        diagnostics.push(Diagnostic::rejected(
            object,
            drop.metadata.generation,
            vec![error],
        ));
    }
    unique
}

/// The order of Routes: namespace, name, then the highest generation
/// first. The first eight bytes of namespace and name are kept as integers,
/// so most comparisons read no string.
#[derive(PartialEq, Eq, PartialOrd, Ord)]
struct RouteKey<'a> {
    namespace_head: u64,
    namespace: &'a str,
    name_head: u64,
    name: &'a str,
    generation: std::cmp::Reverse<Option<i64>>,
}

impl<'a> RouteKey<'a> {
    fn of(route: &'a Route) -> Self {
        let namespace = namespace_of(&route.metadata);
        let name = name_of(&route.metadata);
        Self {
            namespace_head: head(namespace),
            namespace,
            name_head: head(name),
            name,
            generation: std::cmp::Reverse(route.metadata.generation),
        }
    }
}

/// Returns the first eight bytes of `text` as a big-endian integer,
/// zero-padded, so integers compare like the texts they start.
fn head(text: &str) -> u64 {
    let mut bytes = [0u8; 8];
    let len = text.len().min(8);
    bytes[..len].copy_from_slice(&text.as_bytes()[..len]);
    u64::from_be_bytes(bytes)
}

/// Returns the copy a compile keeps of resources that share kind,
/// namespace and name: the Route with the highest generation, then the
/// resource whose JSON sorts first. Returns `None` when `copies` is empty.
pub fn kept_copy<'a>(copies: &[&'a Resource]) -> Option<&'a Resource> {
    copies.iter().copied().reduce(|kept, other| {
        let first = match (kept, other) {
            (Resource::Route(a), Resource::Route(b)) => keeps_first(a, b, generations(a, b)),
            (Resource::Secret(a), Resource::Secret(b)) => keeps_first(a, b, (None, None)),
            (Resource::Service(a), Resource::Service(b)) => keeps_first(a, b, (None, None)),
            (Resource::EndpointSlice(a), Resource::EndpointSlice(b)) => {
                keeps_first(a, b, (None, None))
            }
            (Resource::ReferenceGrant(a), Resource::ReferenceGrant(b)) => {
                keeps_first(a, b, (None, None))
            }
            // Different kinds never share a key.
            _ => true,
        };
        if first { kept } else { other }
    })
}

/// Returns true when a compile keeps `first` over `second`, a copy with the
/// same kind, namespace and name: the one with the higher generation (only
/// Routes are compared by generation), then the one whose JSON sorts first,
/// then `first`.
fn keeps_first<T: serde::Serialize>(
    first: &T,
    second: &T,
    (first_generation, second_generation): (Option<i64>, Option<i64>),
) -> bool {
    if first_generation != second_generation {
        return first_generation > second_generation;
    }
    let text = |item: &T| serde_json::to_string(item).unwrap_or_default();
    text(first) <= text(second)
}

fn generations(first: &Route, second: &Route) -> (Option<i64>, Option<i64>) {
    (first.metadata.generation, second.metadata.generation)
}

fn pick_duplicate<'a>(first: &'a Route, second: &'a Route) -> (&'a Route, &'a Route) {
    if keeps_first(first, second, generations(first, second)) {
        (first, second)
    } else {
        (second, first)
    }
}

fn build_inventory<'a>(
    resources: &'a [Resource],
    diagnostics: &mut Vec<Diagnostic>,
) -> Inventory<'a> {
    let mut inventory = Inventory::default();
    let mut grants = Vec::new();
    for resource in resources {
        match resource {
            Resource::Route(_) => {}
            Resource::Service(service) => {
                let meta = service.metadata();
                insert_unique(
                    &mut inventory.services,
                    (namespace_of(meta), name_of(meta)),
                    &**service,
                );
                diagnostics.push(Diagnostic::accepted(
                    object_of("Service", meta),
                    meta.generation,
                ));
            }
            Resource::EndpointSlice(slice) => {
                let meta = slice.metadata();
                if let Some(service) = slice_service(slice) {
                    inventory
                        .slices
                        .entry((namespace_of(meta), service))
                        .or_default()
                        .push(&**slice);
                }
                diagnostics.push(Diagnostic::accepted(
                    object_of("EndpointSlice", meta),
                    meta.generation,
                ));
            }
            Resource::Secret(secret) => {
                let meta = secret.metadata();
                insert_unique(
                    &mut inventory.secrets,
                    (namespace_of(meta), name_of(meta)),
                    &**secret,
                );
            }
            Resource::ReferenceGrant(grant) => {
                grants.push(&**grant);
                diagnostics.push(Diagnostic::accepted(
                    object_of("ReferenceGrant", &grant.metadata),
                    grant.metadata.generation,
                ));
            }
        }
    }
    inventory.grants = Grants::new(grants);
    add_secret_diagnostics(&inventory, diagnostics);
    inventory
}

/// Inserts, keeping the value whose JSON sorts first when a key repeats,
/// so duplicates resolve the same way in any input order.
fn insert_unique<'a, T: serde::Serialize>(
    map: &mut FxHashMap<(&'a str, &'a str), &'a T>,
    key: (&'a str, &'a str),
    value: &'a T,
) {
    match map.get(&key) {
        Some(existing) if keeps_first(*existing, value, (None, None)) => {}
        _ => {
            map.insert(key, value);
        }
    }
}

fn object_of(kind: &str, meta: &ObjectMeta) -> ObjectRef {
    ObjectRef::new(kind, namespace_of(meta), name_of(meta))
}

/// Adds one diagnostic per Secret. A TLS Secret is rejected when its PEM
/// does not parse, and other Secrets are accepted as they are.
fn add_secret_diagnostics(inventory: &Inventory<'_>, diagnostics: &mut Vec<Diagnostic>) {
    for secret in inventory.secrets.values() {
        let object = object_of("Secret", &secret.metadata);
        let generation = secret.metadata.generation;
        let is_tls = secret.type_.as_deref() == Some("kubernetes.io/tls");
        match secret_pem(secret) {
            Err(error) if is_tls => {
                diagnostics.push(Diagnostic::rejected(object, generation, vec![error]))
            }
            _ => diagnostics.push(Diagnostic::accepted(object, generation)),
        }
    }
}

/// Collects the certificates referenced by accepted Routes, each with the hostnames of
/// the Routes that reference it. A missing, invalid or unpermitted Secret
/// is reported on the Route and left out.
fn collect_certificates(
    accepted: &[Accepted<'_>],
    inventory: &Inventory<'_>,
    route_diagnostics: &mut [Diagnostic],
) -> Vec<CertificateIr> {
    let mut certificates: BTreeMap<(String, String), CertificateIr> = BTreeMap::new();
    for (route, ir, diagnostic) in accepted {
        let Some(tls) = &route.spec.tls else {
            continue;
        };
        for (index, reference) in tls.certificate_refs.iter().enumerate() {
            let namespace = reference.namespace.as_deref().unwrap_or(&ir.namespace);
            let key = (namespace.to_owned(), reference.name.clone());
            let found = match certificates.get_mut(&key) {
                Some(known) if permitted(ir, namespace, &reference.name, inventory) => Ok(known),
                _ => certificate(ir, &reference.name, namespace, inventory)
                    .map(|found| certificates.entry(key).or_insert(found)),
            };
            match found {
                Ok(entry) => entry.hostnames.extend(ir.hostnames.iter().cloned()),
                Err((reason, message)) => {
                    let field = format!("spec.tls.certificateRefs[{index}]");
                    route_diagnostics[*diagnostic]
                        .unresolved_refs
                        .push(FieldError::new(&field, reason, message));
                }
            }
        }
    }
    certificates
        .into_values()
        .map(|mut certificate| {
            certificate.hostnames.sort();
            certificate.hostnames.dedup();
            certificate
        })
        .collect()
}

fn permitted(route: &RouteIr, namespace: &str, name: &str, inventory: &Inventory<'_>) -> bool {
    inventory
        .grants
        .permits(&route.namespace, namespace, "Secret", name)
}

fn certificate(
    route: &RouteIr,
    name: &str,
    namespace: &str,
    inventory: &Inventory<'_>,
) -> Result<CertificateIr, (&'static str, String)> {
    if !permitted(route, namespace, name, inventory) {
        return Err((
            "RefNotPermitted",
            format!(
                "Secret {namespace}/{name} is in another namespace and no ReferenceGrant in {namespace} \
                 permits Routes from {}; add one or copy the Secret",
                route.namespace
            ),
        ));
    }
    let secret = inventory.secrets.get(&(namespace, name)).ok_or_else(|| {
        (
            "SecretNotFound",
            format!("Secret {namespace}/{name} not found; create it or fix the reference"),
        )
    })?;
    let (cert_pem, key_pem) = secret_pem(secret).map_err(|error| {
        (
            "InvalidSecret",
            format!("Secret {namespace}/{name}: {}", error.message),
        )
    })?;
    Ok(CertificateIr {
        secret: ObjectRef::new("Secret", namespace, name),
        hostnames: Vec::new(),
        cert_pem,
        key_pem,
    })
}
