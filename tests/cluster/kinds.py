"""Built-in Kubernetes kinds that the front adds to a CRD-only API server.

apiextensions-apiserver serves only CustomResourceDefinitions. Kinds in a
named group (EndpointSlice, Lease, events.k8s.io Event) are registered as
CRDs in their own group, which a protected *.k8s.io group allows with the
api-approved.kubernetes.io annotation. Core kinds live in the empty group,
which no CRD can use, so they are stored as CRDs in SHADOW_GROUP and the
front maps /api/v1 paths and apiVersion "v1" onto it.

The schemas keep every field (x-kubernetes-preserve-unknown-fields) and
declare only what field selectors need, so none of Kubernetes' validation,
defaulting or controllers (namespace deletion, garbage collection, Service
IP allocation, EndpointSlice upkeep) happens.
"""

import base64
import copy

SHADOW_GROUP = "core.test.portcullis.io"
SHADOW_API_VERSION = SHADOW_GROUP + "/v1"
APPROVAL = "unapproved, test double of a built-in Kubernetes kind"


def _schema(strings=(), objects=None):
    """Return a schema that keeps unknown fields and types STRINGS and OBJECTS.

    OBJECTS maps a field to the string fields inside it, which is as deep as
    the field selectors below need.
    """
    properties = {name: {"type": "string"} for name in strings}
    for name, inner in (objects or {}).items():
        properties[name] = {
            "type": "object",
            "x-kubernetes-preserve-unknown-fields": True,
            "properties": {field: {"type": "string"} for field in inner},
        }
    schema = {"type": "object", "x-kubernetes-preserve-unknown-fields": True}
    if properties:
        schema["properties"] = properties
    return schema


def _crd(group, kind, plural, namespaced=True, short_names=(), status=False,
         schema=None, selectable=()):
    """Return a CustomResourceDefinition for a built-in kind."""
    version = {
        "name": "v1",
        "served": True,
        "storage": True,
        "schema": {"openAPIV3Schema": schema or _schema()},
    }
    if status:
        version["subresources"] = {"status": {}}
    if selectable:
        version["selectableFields"] = [{"jsonPath": path} for path in selectable]
    metadata = {"name": f"{plural}.{group}"}
    if group.endswith(".k8s.io"):
        metadata["annotations"] = {"api-approved.kubernetes.io": APPROVAL}
    names = {"kind": kind, "listKind": kind + "List", "plural": plural,
             "singular": kind.lower()}
    if short_names:
        names["shortNames"] = list(short_names)
    return {
        "apiVersion": "apiextensions.k8s.io/v1",
        "kind": "CustomResourceDefinition",
        "metadata": metadata,
        "spec": {
            "group": group,
            "names": names,
            "scope": "Namespaced" if namespaced else "Cluster",
            "versions": [version],
        },
    }


_EVENT_SCHEMA = _schema(strings=("reason", "type"),
                        objects={"involvedObject": ("kind", "name", "namespace", "uid")})

# Core kinds, served as /api/v1 from SHADOW_GROUP.
CORE_CRDS = [
    _crd(SHADOW_GROUP, "Namespace", "corenamespaces", namespaced=False,
         short_names=("ns",), status=True),
    _crd(SHADOW_GROUP, "Service", "services", short_names=("svc",), status=True),
    _crd(SHADOW_GROUP, "Secret", "secrets", schema=_schema(strings=("type",)),
         selectable=(".type",)),
    _crd(SHADOW_GROUP, "ConfigMap", "configmaps", short_names=("cm",)),
    _crd(SHADOW_GROUP, "Event", "events", short_names=("ev",), schema=_EVENT_SCHEMA,
         selectable=(".involvedObject.kind", ".involvedObject.name",
                     ".involvedObject.namespace", ".involvedObject.uid",
                     ".reason", ".type")),
]

# Kinds of named groups, served in their own group.
GROUP_CRDS = [
    _crd("discovery.k8s.io", "EndpointSlice", "endpointslices"),
    _crd("coordination.k8s.io", "Lease", "leases"),
    _crd("events.k8s.io", "Event", "events", short_names=("ev",)),
]

# The API server reads /apis/G/V/namespaces/NAME as a request inside
# namespace NAME, so a cluster-scoped CRD with the plural "namespaces" cannot
# be read by name. Namespaces are stored under STORED_PLURALS["namespaces"].
STORED_PLURALS = {"namespaces": "corenamespaces"}
SERVED_PLURALS = {stored: served for served, stored in STORED_PLURALS.items()}
CORE_RESOURCES = {SERVED_PLURALS.get(crd["spec"]["names"]["plural"], crd["spec"]["names"]["plural"])
                  for crd in CORE_CRDS}
CORE_KINDS = {crd["spec"]["names"]["kind"] for crd in CORE_CRDS}

# Namespaces that every cluster has; the front creates them at startup.
INITIAL_NAMESPACES = ("default", "kube-system", "kube-public")


def map_core_path(path):
    """Return the SHADOW_GROUP path for an /api/v1 PATH, or None if not mapped.

    Handles /api/v1/RESOURCE, /api/v1/namespaces/NS/RESOURCE[/NAME[/SUB]] and
    /api/v1/namespaces[/NAME[/SUB]]. The word after namespaces/NAME/ is a
    resource when it names a mapped one, otherwise a Namespace subresource.
    """
    if not path.startswith("/api/v1/"):
        return None
    parts = path[len("/api/v1/"):].split("/")
    base = f"/apis/{SHADOW_GROUP}/v1/"
    if parts[0] == "namespaces" and len(parts) >= 3 and parts[2] not in ("status", "finalize"):
        if parts[2] not in CORE_RESOURCES or parts[2] == "namespaces":
            return None
        return base + "/".join(parts)
    if parts[0] in CORE_RESOURCES and (len(parts) == 1 or parts[0] == "namespaces"):
        parts[0] = STORED_PLURALS.get(parts[0], parts[0])
        return base + "/".join(parts)
    return None


def to_shadow(document):
    """Rewrite a request body for a core kind so SHADOW_GROUP accepts it.

    Sets apiVersion and, for a Secret, moves stringData into base64 data as
    the real API server does. Other bodies (DeleteOptions, patches without
    apiVersion) pass unchanged.
    """
    if not isinstance(document, dict) or document.get("apiVersion") != "v1":
        return document
    if document.get("kind") not in CORE_KINDS:
        return document
    document = dict(document, apiVersion=SHADOW_API_VERSION)
    if document.get("kind") == "Secret" and isinstance(document.get("stringData"), dict):
        data = dict(document.get("data") or {})
        for key, value in document.pop("stringData").items():
            data[key] = base64.b64encode(str(value).encode()).decode()
        document["data"] = data
    return document


def from_shadow(value):
    """Rewrite a response from SHADOW_GROUP so it reads as core v1, recursively.

    Changes every apiVersion equal to SHADOW_API_VERSION (objects, lists,
    watch events, managedFields) and drops the group from Status errors.
    """
    if isinstance(value, list):
        return [from_shadow(item) for item in value]
    if not isinstance(value, dict):
        return value
    result = {key: from_shadow(item) for key, item in value.items()}
    if result.get("apiVersion") == SHADOW_API_VERSION:
        result["apiVersion"] = "v1"
    if result.get("kind") == "Status":
        if isinstance(result.get("message"), str):
            result["message"] = _served_names(result["message"])
        details = result.get("details")
        if isinstance(details, dict) and details.get("group") == SHADOW_GROUP:
            kind = details.get("kind")
            result["details"] = dict(details, group="", kind=SERVED_PLURALS.get(kind, kind))
    return result


def _served_names(message):
    """Replace stored resource names (corenamespaces.GROUP, services.GROUP) in MESSAGE."""
    for stored, served in SERVED_PLURALS.items():
        message = message.replace(f"{stored}.{SHADOW_GROUP}", served)
    return message.replace("." + SHADOW_GROUP, "")


def namespace_object(name):
    """Return a Namespace body in SHADOW_GROUP form."""
    return {"apiVersion": SHADOW_API_VERSION, "kind": "Namespace",
            "metadata": {"name": name}}


def all_crds():
    """Return deep copies of every CRD the front registers."""
    return copy.deepcopy(CORE_CRDS + GROUP_CRDS)
