#!/usr/bin/env bash
# Checks with kubectl that a cluster serves what the operator's tests use:
# discovery, the Route CRD and its CEL validation, status updates, waiting on
# conditions, server-side apply, and the built-in kinds Service, Secret,
# Namespace, EndpointSlice, Lease and Event.
#
# Usage: tests/cluster/smoke.sh KUBECONFIG_PATH
#
# Works against start.sh's cluster in either mode and against a real cluster.
# It creates the Route CRD and objects in a namespace of its own, which it
# deletes at the end. Prints "N passed, N failed" and exits 1 on any failure.
set -uo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
[[ $# == 1 ]] || { echo "usage: $0 KUBECONFIG_PATH" >&2; exit 2; }
cache_dir=$(mktemp -d)
namespace=portcullis-smoke-$$
kube() { kubectl --kubeconfig "$1" --cache-dir "$cache_dir" "${@:2}"; }
k() { kube "$kubeconfig" -n "$namespace" "$@"; }
kubeconfig=$1
[[ -r $kubeconfig ]] || { echo "error: kubeconfig $kubeconfig not found; start a cluster first" >&2; exit 2; }

passed=0
failed=0
# Runs a command and counts it as passed when it exits 0.
check() {
    local name=$1
    shift
    local output
    if output=$("$@" 2>&1); then
        passed=$((passed + 1))
        printf 'ok    %s\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s\n%s\n' "$name" "$(sed 's/^/      /' <<<"$output")"
    fi
}
# Runs a command that must fail with output matching PATTERN.
check_rejected() {
    local name=$1 pattern=$2
    shift 2
    local output
    if output=$("$@" 2>&1); then
        failed=$((failed + 1))
        printf 'FAIL  %s: accepted, expected a rejection matching %s\n' "$name" "$pattern"
    elif grep -qE "$pattern" <<<"$output"; then
        passed=$((passed + 1))
        printf 'ok    %s\n' "$name"
    else
        failed=$((failed + 1))
        printf 'FAIL  %s: rejected with an unexpected message\n%s\n' "$name" "$(sed 's/^/      /' <<<"$output")"
    fi
}
cleanup() {
    k delete namespace "$namespace" --wait=false >/dev/null 2>&1
    rm -rf "$cache_dir"
}
trap cleanup EXIT

route() {
    local name=$1 rule=$2
    printf 'apiVersion: portcullis.io/v1alpha1\nkind: Route\nmetadata: {name: %s}\nspec:\n  rules:\n  - %s\n' "$name" "$rule"
}

# === discovery and the Route CRD ===
check "discovery lists apiextensions" k get --raw /apis/apiextensions.k8s.io/v1
# A manifest, because kubectl's create namespace sends protobuf.
check "namespace apply" k apply -f - <<<"{\"apiVersion\": \"v1\", \"kind\": \"Namespace\", \"metadata\": {\"name\": \"$namespace\"}}"
check "crd apply" k apply -f "$repo/crds/crds.yaml"
check "crd established" k wait --for=condition=Established crd/routes.portcullis.io --timeout=30s
check "route apply" k apply -f - < <(route welcome '{name: home, matches: [{path: {type: Exact, value: /}}], directResponse: {status: 200}}')
check "route get" k get route welcome

# === CEL and schema validation by the server ===
check_rejected "backends with directResponse" "set exactly one of backends and directResponse" \
    k create --validate=false -f - < <(route both '{name: r, backends: [{endpoint: "127.0.0.1:9000"}], directResponse: {status: 200}}')
check_rejected "Present header with value" "not allowed for Present and Absent" \
    k create --validate=false -f - < <(route present '{name: r, matches: [{headers: [{name: x-a, type: Present, value: v}]}], backends: [{endpoint: "127.0.0.1:9000"}]}')
check_rejected "unknown field under strict" 'unknown field "spec.rules\[0\].directResponze"' \
    k apply -f - < <(route unknown '{name: r, directResponze: {status: 200}}')

# === status, conditions and server-side apply ===
status='{"status":{"conditions":[{"type":"Accepted","status":"True","reason":"Compiled","message":"compiled","lastTransitionTime":"2026-01-01T00:00:00Z"}]}}'
check "status patch" k patch route welcome --subresource=status --type=merge -p "$status"
check "wait for condition" k wait --for=condition=Accepted route/welcome --timeout=10s
check "server-side apply" k apply --server-side --force-conflicts --field-manager=smoke -f - < <(route welcome '{name: home, directResponse: {status: 204}}')
check "server-side apply stored" bash -c "[[ \$(kubectl --kubeconfig '$kubeconfig' --cache-dir '$cache_dir' -n '$namespace' get route welcome -o jsonpath='{.spec.rules[0].directResponse.status}') == 204 ]]"

# === built-in kinds ===
check "service apply" k apply -f - <<'EOF'
apiVersion: v1
kind: Service
metadata: {name: web}
spec:
  selector: {app: web}
  ports: [{name: http, port: 80, targetPort: 8080}]
EOF
check "service get" k get service web -o jsonpath='{.spec.ports[0].port}'
check "secret apply with stringData" k apply -f - <<'EOF'
apiVersion: v1
kind: Secret
metadata: {name: tls}
type: kubernetes.io/tls
stringData: {tls.crt: cert, tls.key: key}
EOF
check "secret data base64" bash -c "[[ \$(kubectl --kubeconfig '$kubeconfig' --cache-dir '$cache_dir' -n '$namespace' get secret tls -o jsonpath='{.data.tls\\.crt}' | base64 -d) == cert ]]"
check "endpointslice apply" k apply -f - <<'EOF'
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: web-1
  labels: {kubernetes.io/service-name: web}
addressType: IPv4
ports: [{name: http, port: 8080, protocol: TCP}]
endpoints: [{addresses: [127.0.0.1], conditions: {ready: true}}]
EOF
check "endpointslice by service label" k get endpointslices -l kubernetes.io/service-name=web -o name
check "lease apply" k apply -f - <<'EOF'
apiVersion: coordination.k8s.io/v1
kind: Lease
metadata: {name: portcullis-operator}
spec: {holderIdentity: smoke, leaseDurationSeconds: 15}
EOF
check "events.k8s.io event create" k create -f - <<'EOF'
apiVersion: events.k8s.io/v1
kind: Event
metadata: {generateName: welcome-}
eventTime: "2026-01-01T00:00:00.000000Z"
reportingController: portcullis.io/operator
reportingInstance: smoke
action: Reconcile
reason: Accepted
type: Normal
regarding: {apiVersion: portcullis.io/v1alpha1, kind: Route, name: welcome}
EOF
check "service delete" k delete service web --timeout=10s
check_rejected "deleted service not found" 'services "web" not found' k get service web

printf '%d passed, %d failed\n' "$passed" "$failed"
((failed == 0))
