"""Discovery and OpenAPI v3 documents built from CustomResourceDefinitions.

apiextensions-apiserver leaves these to kube-apiserver's aggregator: alone it
serves no /api or /apis, and empty OpenAPI v3 documents for CRD groups.
kubectl needs both, because it maps kinds to resources through discovery and
checks for the fieldValidation parameter in OpenAPI v3 before it lets the
server validate.

The documents carry what those clients read (paths, operations with their
query parameters and group-version-kind, schemas), not the descriptions and
response codes of the full API server.
"""

import hashlib
import json
import re

from kinds import SHADOW_GROUP

META = "io.k8s.apimachinery.pkg.apis.meta.v1."
# Schemas that the synthesized documents refer to. Their definitions, and the
# ones they refer to in turn, are copied from the server's own document for
# apiextensions.k8s.io/v1, so they match the server's version.
META_ROOTS = ("ObjectMeta", "ListMeta", "Status", "DeleteOptions", "Patch", "WatchEvent")

_QUERY_STRING = {"type": "string"}
_QUERY_BOOL = {"type": "boolean"}
_WRITE_PARAMETERS = (("dryRun", _QUERY_STRING), ("fieldManager", _QUERY_STRING),
                     ("fieldValidation", _QUERY_STRING))
_LIST_PARAMETERS = tuple((name, _QUERY_STRING) for name in (
    "continue", "fieldSelector", "labelSelector", "resourceVersion",
    "resourceVersionMatch")) + (
    ("allowWatchBookmarks", _QUERY_BOOL), ("sendInitialEvents", _QUERY_BOOL),
    ("limit", {"type": "integer"}), ("timeoutSeconds", {"type": "integer"}),
    ("watch", _QUERY_BOOL))


def is_established(crd):
    """Return whether the server accepted CRD's names and serves it."""
    conditions = (crd.get("status") or {}).get("conditions") or []
    return any(c.get("type") == "Established" and c.get("status") == "True" for c in conditions)


def version_priority(name):
    """Return a sort key that orders versions as Kubernetes does, best first.

    GA versions (v2, v1) come before beta, beta before alpha, higher numbers
    first within each, and names that are not Kubernetes versions last.
    """
    match = re.fullmatch(r"v(\d+)(?:(alpha|beta)(\d+))?", name)
    if not match:
        return (3, 0, 0, name)
    major, stage, minor = match.groups()
    rank = {None: 0, "beta": 1, "alpha": 2}[stage]
    return (rank, -int(major), -int(minor or 0), name)


def served_versions(crd):
    """Return the names of the versions CRD serves, best first."""
    names = [v["name"] for v in crd["spec"]["versions"] if v.get("served")]
    return sorted(names, key=version_priority)


def group_list(crds):
    """Return the APIGroupList for /apis: apiextensions.k8s.io and every CRD group.

    SHADOW_GROUP is left out because its kinds appear as core /api/v1.
    """
    versions_by_group = {"apiextensions.k8s.io": {"v1"}}
    for crd in crds:
        group = crd["spec"]["group"]
        if group == SHADOW_GROUP or not is_established(crd):
            continue
        versions_by_group.setdefault(group, set()).update(served_versions(crd))

    groups = []
    for name in sorted(versions_by_group):
        versions = [{"groupVersion": f"{name}/{v}", "version": v}
                    for v in sorted(versions_by_group[name], key=version_priority)]
        groups.append({"name": name, "versions": versions, "preferredVersion": versions[0]})
    return {"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}


def api_versions(host):
    """Return the APIVersions document for /api."""
    return {"kind": "APIVersions", "versions": ["v1"],
            "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}]}


def meta_schemas(apiextensions_document):
    """Return the meta/v1 schemas META_ROOTS need, from the server's own document."""
    available = apiextensions_document.get("components", {}).get("schemas", {})
    found = {}
    pending = [META + name for name in META_ROOTS]
    while pending:
        name = pending.pop()
        if name in found or name not in available:
            continue
        found[name] = available[name]
        text = json.dumps(available[name])
        pending.extend(re.findall(r'"#/components/schemas/([^"]+)"', text))
    return found


def _reverse_group(group):
    """Return GROUP with its labels reversed, as schema names spell it."""
    return ".".join(reversed(group.split("."))) if group else "io.k8s.api.core"


def _ref(name):
    return {"$ref": "#/components/schemas/" + name}


def _parameters(pairs):
    return [{"name": name, "in": "query", "schema": schema} for name, schema in pairs]


def _operation(action, gvk, schema_name, parameters=()):
    """Return one operation object with the extensions kubectl reads."""
    content = {"application/json": {"schema": _ref(schema_name)}}
    return {
        "operationId": f"{action}{gvk['kind']}",
        "parameters": _parameters(parameters),
        "responses": {"200": {"description": "OK", "content": content}},
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
    }


def _kind_schemas(crd, version, schema_name, gvk):
    """Return the object and list schemas of one CRD version."""
    names = crd["spec"]["names"]
    source = version.get("schema", {}).get("openAPIV3Schema") or {"type": "object"}
    schema = json.loads(json.dumps(source))
    properties = schema.setdefault("properties", {})
    properties["apiVersion"] = {"type": "string"}
    properties["kind"] = {"type": "string"}
    properties["metadata"] = {"allOf": [_ref(META + "ObjectMeta")], "default": {}}
    schema["x-kubernetes-group-version-kind"] = [gvk]

    list_gvk = dict(gvk, kind=names.get("listKind") or names["kind"] + "List")
    list_schema = {
        "type": "object",
        "required": ["items"],
        "properties": {
            "apiVersion": {"type": "string"},
            "kind": {"type": "string"},
            "items": {"type": "array", "items": _ref(schema_name)},
            "metadata": {"allOf": [_ref(META + "ListMeta")], "default": {}},
        },
        "x-kubernetes-group-version-kind": [list_gvk],
    }
    return schema, list_schema


def _kind_paths(crd, prefix, gvk, schema_name, has_status):
    """Return the path items of one kind under PREFIX (/apis/G/V or /api/v1)."""
    plural = crd["spec"]["names"]["plural"]
    namespaced = crd["spec"]["scope"] == "Namespaced"
    collection = f"{prefix}/namespaces/{{namespace}}/{plural}" if namespaced else f"{prefix}/{plural}"
    list_name = schema_name + "List"
    writes = _WRITE_PARAMETERS
    patch = writes + (("force", _QUERY_BOOL),)

    paths = {
        collection: {
            "get": _operation("list", gvk, list_name, _LIST_PARAMETERS),
            "post": _operation("post", gvk, schema_name, writes),
            "delete": _operation("deletecollection", gvk, META + "Status", _LIST_PARAMETERS),
        },
        collection + "/{name}": {
            "get": _operation("get", gvk, schema_name),
            "put": _operation("put", gvk, schema_name, writes),
            "patch": _operation("patch", gvk, schema_name, patch),
            "delete": _operation("delete", gvk, META + "Status", (("dryRun", _QUERY_STRING),)),
        },
    }
    if namespaced:
        paths[f"{prefix}/{plural}"] = {"get": _operation("list", gvk, list_name, _LIST_PARAMETERS)}
    if has_status:
        paths[collection + "/{name}/status"] = {
            "get": _operation("get", gvk, schema_name),
            "put": _operation("put", gvk, schema_name, writes),
            "patch": _operation("patch", gvk, schema_name, patch),
        }
    return paths


def group_version_document(crds, group, version_name, meta):
    """Return the OpenAPI v3 document of one group-version served by CRDS.

    GROUP is the served group: "" for core kinds stored in SHADOW_GROUP.
    """
    prefix = f"/apis/{group}/{version_name}" if group else "/api/v1"
    schemas = dict(meta)
    paths = {}
    for crd in crds:
        for version in crd["spec"]["versions"]:
            if version["name"] != version_name or not version.get("served"):
                continue
            kind = crd["spec"]["names"]["kind"]
            gvk = {"group": group, "version": version_name, "kind": kind}
            schema_name = f"{_reverse_group(group)}.{version_name}.{kind}"
            schema, list_schema = _kind_schemas(crd, version, schema_name, gvk)
            schemas[schema_name] = schema
            schemas[schema_name + "List"] = list_schema
            has_status = "status" in (version.get("subresources") or {})
            paths.update(_kind_paths(crd, prefix, gvk, schema_name, has_status))
    return {
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes CRD", "version": "unversioned"},
        "paths": paths,
        "components": {"schemas": schemas},
    }


def document_hash(document):
    """Return the content hash that clients use to cache a document."""
    return hashlib.sha512(json.dumps(document, sort_keys=True).encode()).hexdigest().upper()
