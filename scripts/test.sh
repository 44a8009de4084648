#!/usr/bin/env bash
# Runs every check the repository expects to pass: formatting, clippy with
# warnings denied, and the whole test suite. The end-to-end tests start the
# built binaries, so the script builds them first.
#
# Needs a Rust toolchain with rustfmt and clippy on a Debian machine, run
# as root. The network is used by cargo for the locked dependencies and by
# apt for Debian's packages (the test API server and any missing tool).
# Exits non-zero on the first failing step.
#
# Usage: scripts/test.sh   (from any directory)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

# The operator tests run against a real Kubernetes API server. With
# KUBEBUILDER_ASSETS set they use those envtest binaries. Otherwise the CRD
# API server and etcd are built from Debian's packages once and cached
# outside the repository (see docs/testing.md). The build mostly downloads
# and runs the Go compiler, so it runs beside the Rust build.
# The cluster scripts and tests also call kubectl, openssl, curl and
# python3; install from Debian's packages whatever this machine lacks.
missing=()
for tool in kubectl:kubernetes-client openssl:openssl curl:curl python3:python3; do
    command -v "${tool%%:*}" >/dev/null || missing+=("${tool#*:}")
done
if ((${#missing[@]})); then
    step "install ${missing[*]}"
    apt-get update -qq && apt-get install -y -qq "${missing[@]}"
fi

apiserver_pid=
apiserver_log=$(mktemp)
trap 'rm -f "$apiserver_log"' EXIT
if [[ -z "${KUBEBUILDER_ASSETS:-}" ]]; then
    step "build the test Kubernetes API server in the background (cached)"
    tests/cluster/build-apiserver.sh >"$apiserver_log" 2>&1 &
    apiserver_pid=$!
fi

step "build binaries used by the end-to-end tests"
cargo build --workspace --bins

step "check formatting"
cargo fmt --all --check

step "clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings

if [[ -n $apiserver_pid ]]; then
    step "wait for the test Kubernetes API server build"
    if ! wait "$apiserver_pid"; then
        cat "$apiserver_log" >&2
        echo "building the test Kubernetes API server failed" >&2
        exit 1
    fi
    cat "$apiserver_log"
fi

# --no-fail-fast runs every test binary, so one run reports every failure.
step "run tests"
cargo test --workspace --no-fail-fast

step "all checks passed"
