//! Gateway API `ReferenceGrant` (`gateway.networking.k8s.io/v1beta1`) as a
//! watchable kind. The CRD belongs to Gateway API and may be absent, in
//! which case cross-namespace references are never permitted.

use std::borrow::Cow;

use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use portcullis_compiler::grant::{ReferenceGrant, ReferenceGrantSpec};
use serde::{Deserialize, Serialize};

/// A ReferenceGrant as the API server returns it.
#[derive(Clone, Debug, Default, Deserialize, Serialize)]
pub struct ReferenceGrantObject {
    /// Object metadata.
    #[serde(default)]
    pub metadata: ObjectMeta,
    /// The grant; the compiler's type reads the fields it needs.
    #[serde(default)]
    pub spec: ReferenceGrantSpec,
}

impl ReferenceGrantObject {
    /// Converts the grant to the compiler's type.
    pub fn to_compiler(&self) -> ReferenceGrant {
        ReferenceGrant {
            metadata: self.metadata.clone(),
            spec: self.spec.clone(),
        }
    }
}

impl kube::Resource for ReferenceGrantObject {
    type DynamicType = ();
    type Scope = k8s_openapi::NamespaceResourceScope;

    fn kind(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("ReferenceGrant")
    }

    fn group(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("gateway.networking.k8s.io")
    }

    fn version(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("v1beta1")
    }

    fn plural(_: &()) -> Cow<'_, str> {
        Cow::Borrowed("referencegrants")
    }

    fn meta(&self) -> &ObjectMeta {
        &self.metadata
    }

    fn meta_mut(&mut self) -> &mut ObjectMeta {
        &mut self.metadata
    }
}
