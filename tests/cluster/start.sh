#!/usr/bin/env bash
# Starts a throwaway Kubernetes API server on loopback and writes a kubeconfig
# for it. Stop it with tests/cluster/stop.sh STATE_DIR.
#
# Usage: tests/cluster/start.sh KUBECONFIG_PATH [STATE_DIR]
#
# The server is found in this order:
#   1. $KUBEBUILDER_ASSETS with the envtest binaries kube-apiserver and etcd:
#      the full Kubernetes API server (mode "full").
#   2. The apiextensions-apiserver and etcd built by build-apiserver.sh in
#      ${PORTCULLIS_CLUSTER_CACHE:-~/.cache/portcullis-cluster}/bin, behind
#      front.py, which adds what that server lacks (mode "crd-only").
#      PORTCULLIS_CLUSTER_FRONT=0 leaves the front out, so the kubeconfig
#      points at the bare server.
#
# STATE_DIR (default: a new temporary folder) receives the certificates, the
# etcd data, logs, the pid file "pids" and "env", a shell file with
# PORTCULLIS_CLUSTER_MODE, PORTCULLIS_CLUSTER_DIR and KUBECONFIG.
# Every listener binds 127.0.0.1 on a port that was free a moment before.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
cache=${PORTCULLIS_CLUSTER_CACHE:-$HOME/.cache/portcullis-cluster}
ready_timeout=${PORTCULLIS_CLUSTER_READY_TIMEOUT_SECONDS:-90}

log() { printf 'start: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ $# -ge 1 && $# -le 2 ]] || die "usage: $0 KUBECONFIG_PATH [STATE_DIR]"
kubeconfig=$1
state=${2:-$(mktemp -d "${TMPDIR:-/tmp}/portcullis-cluster.XXXXXX")}
mkdir -p "$state"
state=$(cd "$state" && pwd)
[[ ! -e $state/pids ]] || die "$state already contains a running cluster; stop it with stop.sh $state"

for tool in openssl curl python3; do
    command -v "$tool" >/dev/null || die "'$tool' not found; install it (apt-get install $tool)"
done

# === choose the server ===

if [[ -n ${KUBEBUILDER_ASSETS:-} ]]; then
    mode=full
    apiserver_bin=$KUBEBUILDER_ASSETS/kube-apiserver
    etcd_bin=$KUBEBUILDER_ASSETS/etcd
else
    mode=crd-only
    apiserver_bin=$cache/bin/apiextensions-apiserver
    etcd_bin=$cache/bin/etcd
fi
for binary in "$apiserver_bin" "$etcd_bin"; do
    if [[ ! -x $binary ]]; then
        if [[ $mode == full ]]; then
            die "$binary missing; KUBEBUILDER_ASSETS must contain kube-apiserver and etcd"
        fi
        die "$binary missing; run tests/cluster/build-apiserver.sh first"
    fi
done
log "mode $mode, state in $state"

# === certificates ===

certs=$state/certs
mkdir -p "$certs"

# Writes NAME.key and NAME.crt signed by the test CA. SUBJECT is an openssl
# subject and EXTENSIONS an x509v3 extension list.
issue_cert() {
    local name=$1 subject=$2 extensions=$3
    openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
        -subj "$subject" -keyout "$certs/$name.key" -out "$certs/$name.csr" 2>/dev/null
    printf '%s\n' "$extensions" >"$certs/$name.ext"
    openssl x509 -req -in "$certs/$name.csr" -CA "$certs/ca.crt" -CAkey "$certs/ca.key" \
        -CAcreateserial -days 2 -sha256 -extfile "$certs/$name.ext" -out "$certs/$name.crt" 2>/dev/null
}

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 2 \
    -subj "/CN=portcullis-test-ca" -keyout "$certs/ca.key" -out "$certs/ca.crt" 2>/dev/null
issue_cert server "/CN=127.0.0.1" \
    "subjectAltName=IP:127.0.0.1,DNS:localhost
extendedKeyUsage=serverAuth"
# The system:masters group passes every authorization check, so the crd-only
# server never sends a request to the SubjectAccessReview API it lacks.
issue_cert admin "/O=system:masters/CN=portcullis-test-admin" "extendedKeyUsage=clientAuth"
# Service account tokens are signed with this key when the full server runs.
openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$certs/sa.key" 2>/dev/null
openssl pkey -in "$certs/sa.key" -pubout -out "$certs/sa.pub" 2>/dev/null
chmod 600 "$certs"/*.key

# === ports and processes ===

# Prints COUNT distinct ports that were free on 127.0.0.1. They are held open
# together so they differ, then released for the servers to bind.
free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
sockets = [socket.socket() for _ in range(int(sys.argv[1]))]
for s in sockets:
    s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in sockets))
EOF
}

read -r etcd_port peer_port apiserver_port front_port <<<"$(free_ports 4)"

pids=()
# Stops what this script started unless startup reached the end.
cleanup_on_failure() {
    local status=$?
    if [[ $status != 0 ]]; then
        for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
        log "startup failed; logs are in $state"
    fi
}
trap cleanup_on_failure EXIT

# Starts a program in the background with its output in STATE/NAME.log.
spawn() {
    local name=$1
    shift
    nohup "$@" >"$state/$name.log" 2>&1 </dev/null &
    pids+=("$!")
    printf '%s %s\n' "$!" "$name" >>"$state/pids.starting"
}

# Polls URL (extra curl arguments after it) until it returns 2xx, or fails
# after the ready timeout or when the process with PID exits.
wait_ready() {
    local name=$1 pid=$2 url=$3
    shift 3
    local deadline=$((SECONDS + ready_timeout))
    until curl -fsS -o /dev/null --max-time 2 "$@" "$url" 2>/dev/null; do
        if ! kill -0 "$pid" 2>/dev/null; then
            tail -n 20 "$state/$name.log" >&2 || true
            die "$name exited before it was ready; see $state/$name.log"
        fi
        if ((SECONDS >= deadline)); then
            # The verbose form of /readyz lists each check, so the failing one shows.
            curl -sS --max-time 2 "$@" "$url?verbose" 2>&1 | grep -v '^\[+\]' >&2 || true
            die "$name not ready at $url after ${ready_timeout}s; see $state/$name.log"
        fi
        sleep 0.2
    done
}

etcd_url=http://127.0.0.1:$etcd_port
spawn etcd "$etcd_bin" --name portcullis-test --data-dir "$state/etcd" \
    --listen-client-urls "$etcd_url" --advertise-client-urls "$etcd_url" \
    --listen-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-advertise-peer-urls "http://127.0.0.1:$peer_port" \
    --initial-cluster "portcullis-test=http://127.0.0.1:$peer_port" \
    --unsafe-no-fsync --log-level warn
wait_ready etcd "${pids[-1]}" "$etcd_url/health"

apiserver_url=https://127.0.0.1:$apiserver_port
tls_client=(--cacert "$certs/ca.crt" --cert "$certs/admin.crt" --key "$certs/admin.key")

# Writes a kubeconfig for SERVER_URL that authenticates with the admin certificate.
write_kubeconfig() {
    local path=$1 server=$2
    mkdir -p "$(dirname "$path")"
    cat >"$path" <<EOF
apiVersion: v1
kind: Config
clusters:
- name: portcullis-test
  cluster:
    server: $server
    certificate-authority: $certs/ca.crt
users:
- name: portcullis-test-admin
  user:
    client-certificate: $certs/admin.crt
    client-key: $certs/admin.key
contexts:
- name: portcullis-test
  context:
    cluster: portcullis-test
    user: portcullis-test-admin
    namespace: default
current-context: portcullis-test
EOF
    chmod 600 "$path"
}

# The API server's own kubeconfig points at itself, directly.
write_kubeconfig "$state/apiserver.kubeconfig" "$apiserver_url"
# Its client for core kinds goes through the front, where its informer for
# Services finds them, so /readyz can pass once the front is up.
write_kubeconfig "$state/core.kubeconfig" "https://127.0.0.1:$front_port"

common_flags=(
    --etcd-servers "$etcd_url"
    --bind-address 127.0.0.1
    --secure-port "$apiserver_port"
    --tls-cert-file "$certs/server.crt"
    --tls-private-key-file "$certs/server.key"
    --client-ca-file "$certs/ca.crt"
)
if [[ $mode == full ]]; then
    # NOTE: this branch follows the flags envtest passes to kube-apiserver and
    # has not been run yet.
    spawn apiserver "$apiserver_bin" "${common_flags[@]}" \
        --service-account-issuer https://kubernetes.default.svc \
        --service-account-key-file "$certs/sa.pub" \
        --service-account-signing-key-file "$certs/sa.key" \
        --service-cluster-ip-range 10.0.0.0/24 \
        --authorization-mode RBAC \
        --allow-privileged=true
else
    # Delegated authentication and authorization would look up configuration
    # in kube-system, which this server does not serve. The admission plugins
    # disabled here either need namespaces or watch APIs it lacks.
    spawn apiserver "$apiserver_bin" "${common_flags[@]}" \
        --authentication-skip-lookup \
        --authentication-kubeconfig "$state/apiserver.kubeconfig" \
        --authorization-kubeconfig "$state/apiserver.kubeconfig" \
        --kubeconfig "$state/core.kubeconfig" \
        --enable-priority-and-fairness=false \
        --disable-admission-plugins NamespaceLifecycle,MutatingAdmissionPolicy,MutatingAdmissionWebhook,ValidatingAdmissionPolicy,ValidatingAdmissionWebhook
fi
# The crd-only server reports /readyz as ready only after its informer for
# core Services has listed them through the front, which starts later.
ready_path=/readyz
[[ $mode == full ]] || ready_path=/healthz
wait_ready apiserver "${pids[-1]}" "$apiserver_url$ready_path" "${tls_client[@]}"

server_url=$apiserver_url
if [[ $mode == crd-only && ${PORTCULLIS_CLUSTER_FRONT:-1} == 1 ]]; then
    server_url=https://127.0.0.1:$front_port
    spawn front python3 -B "$here/front.py" \
        --listen "127.0.0.1:$front_port" --upstream "$apiserver_url" \
        --ca "$certs/ca.crt" --cert "$certs/server.crt" --key "$certs/server.key" \
        --client-cert "$certs/admin.crt" --client-key "$certs/admin.key"
    wait_ready front "${pids[-1]}" "$server_url/readyz" "${tls_client[@]}"
fi

write_kubeconfig "$kubeconfig" "$server_url"
mv "$state/pids.starting" "$state/pids"
cat >"$state/env" <<EOF
PORTCULLIS_CLUSTER_MODE=$mode
PORTCULLIS_CLUSTER_DIR=$state
PORTCULLIS_CLUSTER_APISERVER=$apiserver_url
KUBECONFIG=$(cd "$(dirname "$kubeconfig")" && pwd)/$(basename "$kubeconfig")
EOF
trap - EXIT
log "ready at $server_url"
cat "$state/env"
