//! Gateway API `ReferenceGrant`: permission for cross-namespace references.
//!
//! A grant in namespace T whose `from` lists `{group: portcullis.io, kind:
//! Route, namespace: S}` and whose `to` lists `{group: "", kind: Service}`
//! (optionally with a `name`) lets Routes in S reference those Services in
//! T. The same holds for Secrets. References within one namespace need no
//! grant.

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use serde::{Deserialize, Serialize};

/// A `gateway.networking.k8s.io/v1beta1` ReferenceGrant, reduced to the
/// fields the compiler reads.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceGrant {
    /// Object metadata; the namespace is where the grant applies.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// Referrers and the objects they may reference.
    pub spec: ReferenceGrantSpec,
}

/// The referrers and the referents of a grant.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct ReferenceGrantSpec {
    /// Resources that may reference.
    pub from: Vec<GrantFrom>,
    /// Resources in the grant's namespace that may be referenced.
    pub to: Vec<GrantTo>,
}

/// A referrer: every resource of one group and kind in one namespace.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantFrom {
    /// API group, `portcullis.io` for Routes.
    pub group: String,
    /// Kind, `Route`.
    pub kind: String,
    /// Namespace of the referrers.
    pub namespace: String,
}

/// A referent: resources of one group and kind, optionally one name.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct GrantTo {
    /// API group; empty for the core group.
    #[serde(default)]
    pub group: String,
    /// Kind, `Service` or `Secret`.
    pub kind: String,
    /// Name; every name of the kind when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
}

/// The grants of a compile, queried per reference.
#[derive(Debug, Default)]
pub(crate) struct Grants<'a> {
    grants: Vec<&'a ReferenceGrant>,
}

impl<'a> Grants<'a> {
    pub(crate) fn new(grants: Vec<&'a ReferenceGrant>) -> Self {
        Self { grants }
    }

    /// Returns whether a Route in `from_namespace` may reference the
    /// core-group object `kind`/`name` in `to_namespace`.
    pub(crate) fn permits(
        &self,
        from_namespace: &str,
        to_namespace: &str,
        kind: &str,
        name: &str,
    ) -> bool {
        if from_namespace == to_namespace {
            return true;
        }
        self.grants
            .iter()
            .filter(|grant| {
                grant.metadata.namespace.as_deref().unwrap_or("default") == to_namespace
            })
            .any(|grant| {
                let from_ok = grant.spec.from.iter().any(|from| {
                    from.group == portcullis_crds::GROUP
                        && from.kind == "Route"
                        && from.namespace == from_namespace
                });
                let to_ok = grant.spec.to.iter().any(|to| {
                    to.group.is_empty()
                        && to.kind == kind
                        && to.name.as_deref().is_none_or(|only| only == name)
                });
                from_ok && to_ok
            })
    }
}
