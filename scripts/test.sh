#!/usr/bin/env bash
# Runs every check the repository expects to pass: formatting, clippy with
# warnings denied, and the whole test suite. The end-to-end tests start the
# built binaries, so the script builds them first.
#
# Needs only a Rust toolchain with rustfmt and clippy. The network is used
# only by cargo, to fetch the locked dependencies. Exits non-zero on the
# first failing step.
#
# Usage: scripts/test.sh   (from any directory)
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() {
    printf '\n==> %s\n' "$*"
}

step "build binaries used by the end-to-end tests"
cargo build --workspace --bins

# The operator tests run against a real Kubernetes API server. With
# KUBEBUILDER_ASSETS set they use those envtest binaries; otherwise this
# builds the CRD API server and etcd from Debian's packages once and caches
# them outside the repository (see docs/testing.md).
if [[ -z "${KUBEBUILDER_ASSETS:-}" ]]; then
    step "build the test Kubernetes API server (cached)"
    tests/cluster/build-apiserver.sh
fi

step "check formatting"
cargo fmt --all --check

step "clippy (all targets, warnings denied)"
cargo clippy --workspace --all-targets -- -D warnings

# --no-fail-fast runs every test binary, so one run reports every failure.
step "run tests"
cargo test --workspace --no-fail-fast

step "all checks passed"
