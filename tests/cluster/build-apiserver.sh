#!/usr/bin/env bash
# Builds the Kubernetes CRD API server (k8s.io/apiextensions-apiserver) and
# copies etcd, both from Debian unstable's packages, into a cache outside the
# repository, so the cluster tests can run without a container runtime.
#
# Usage: tests/cluster/build-apiserver.sh [--force]
#
# The packages are only downloaded and unpacked (dpkg -x) into a private root:
# nothing is installed and the system's apt sources are left alone. A second
# run finds the binaries in the cache and only prints where they are.
#
# Environment:
#   PORTCULLIS_CLUSTER_CACHE  cache folder (default ~/.cache/portcullis-cluster)
#   PORTCULLIS_DEBIAN_MIRROR  Debian archive URL (default: the first Debian
#                             archive in the system's apt sources)
#   PORTCULLIS_DEBIAN_SUITE   suite to take the packages from (default unstable)
set -euo pipefail

cache=${PORTCULLIS_CLUSTER_CACHE:-$HOME/.cache/portcullis-cluster}
# The system's own Debian archive, so the script reaches exactly the mirror
# this machine's apt is set up for.
system_mirror() {
    grep -hoE '(URIs:|^deb)[[:space:]]+[^[:space:]]+/debian/?([[:space:]]|$)' \
        /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
        | awk '{print $2}' | head -n 1 || true
}
mirror=${PORTCULLIS_DEBIAN_MIRROR:-$(system_mirror)}
suite=${PORTCULLIS_DEBIAN_SUITE:-unstable}
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
bin_dir=$cache/bin
root=$cache/root

log() { printf 'build-apiserver: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

[[ -n $mirror ]] || die "no Debian archive found in the apt sources; set PORTCULLIS_DEBIAN_MIRROR"

print_binaries() {
    printf 'apiextensions-apiserver: %s\n' "$bin_dir/apiextensions-apiserver"
    printf 'etcd: %s\n' "$bin_dir/etcd"
    printf 'versions: %s\n' "$bin_dir/VERSIONS"
}

force=0
case "${1:-}" in
    --force) force=1 ;;
    "") ;;
    *) die "unknown argument '$1'; the only option is --force" ;;
esac

if [[ $force == 0 && -x $bin_dir/apiextensions-apiserver && -x $bin_dir/etcd ]]; then
    log "binaries already built; pass --force to rebuild"
    print_binaries
    exit 0
fi

for tool in apt-get apt-cache dpkg; do
    command -v "$tool" >/dev/null || die "'$tool' not found; this script needs a Debian-based system"
done
[[ -r $keyring ]] || die "keyring $keyring missing; install the debian-archive-keyring package"

mkdir -p "$cache/apt/lists/partial" "$cache/apt/cache/archives/partial" "$cache/debs" "$bin_dir"
printf 'deb [signed-by=%s] %s %s main\n' "$keyring" "$mirror" "$suite" >"$cache/apt/sources.list"

# Every apt call reads only the private source list and lists folder. An empty
# dpkg status and preferences make the suite's newest version the candidate,
# whatever the host has installed or pinned.
apt_opts=(
    -o "Dir::State::Lists=$cache/apt/lists"
    -o "Dir::Etc::SourceList=$cache/apt/sources.list"
    -o "Dir::Etc::SourceParts=/dev/null"
    -o "Dir::Cache=$cache/apt/cache"
    -o "Dir::State::status=/dev/null"
    -o "Dir::Etc::Preferences=/dev/null"
    -o "Dir::Etc::PreferencesParts=/dev/null"
    -o "Acquire::IndexTargets::deb::DEP-11::DefaultEnabled=false"
    -o "Acquire::IndexTargets::deb::DEP-11-icons::DefaultEnabled=false"
)
# apt drops to the _apt user for downloads, and that user cannot enter a cache
# under /root, so root downloads as itself. Signatures and hashes are still checked.
if [[ $EUID == 0 ]]; then
    apt_opts+=(-o "APT::Sandbox::User=root")
fi

start=$SECONDS
log "updating the package lists of $suite from $mirror"
apt-get "${apt_opts[@]}" -qq update

# golang-go is the suite's default Go. Its dependency names the versioned
# compiler package (golang-1.NN-go) to build with.
go_pkg=$(apt-cache "${apt_opts[@]}" depends golang-go | sed -n 's/^ *Depends: \(golang-1\.[0-9]*-go\)$/\1/p' | head -n1)
[[ -n $go_pkg ]] || die "could not find the Go compiler package that golang-go depends on in $suite"
go_minor=${go_pkg#golang-}
go_minor=${go_minor%-go}

# The Go libraries come as source packages (golang-*-dev) that are unpacked
# into a GOPATH. The closure's other packages (tools, C headers) are not needed.
mapfile -t dev_pkgs < <(
    apt-cache "${apt_opts[@]}" depends --recurse --no-recommends --no-suggests \
        --no-conflicts --no-breaks --no-replaces --no-enhances \
        golang-k8s-apiextensions-apiserver-dev |
        grep -E '^golang-.*-dev$' | sort -u
)
packages=("golang-$go_minor-go" "golang-$go_minor-src" etcd-server "${dev_pkgs[@]}")
log "${#packages[@]} packages needed (Go $go_minor)"

# --print-uris names each .deb without fetching it, so files already in the
# cache are reused. apt-get download verifies every file it fetches.
mapfile -t deb_files < <(
    apt-get "${apt_opts[@]}" download --print-uris "${packages[@]}" | awk '{print $2}' | sort -u
)
missing=()
for deb in "${deb_files[@]}"; do
    [[ -s $cache/debs/$deb ]] || missing+=("${deb%%_*}")
done
if ((${#missing[@]} > 0)); then
    log "downloading ${#missing[@]} packages"
    (cd "$cache/debs" && apt-get "${apt_opts[@]}" -qq download "${missing[@]}")
fi

log "unpacking into $root"
rm -rf "$root"
mkdir -p "$root"
for deb in "${deb_files[@]}"; do
    dpkg -x "$cache/debs/$deb" "$root"
done

# Debian's packages link between each other with absolute paths (the Go source
# tree, libraries shared between GOPATH folders), so point those into the root.
while IFS= read -r -d '' link; do
    target=$(readlink "$link")
    if [[ $target == /* ]]; then
        ln -sfn "$root$target" "$link"
    fi
done < <(find "$root" -type l -print0)

goroot=$root/usr/lib/go-$go_minor
[[ -x $goroot/bin/go ]] || die "$goroot/bin/go missing after unpacking golang-$go_minor-go"

# The library is the staging copy of Kubernetes release 1.N.P, versioned 0.N.P.
# Stamping that version lets /version and kubectl's version skew check see it.
apiext_deb=$(printf '%s\n' "${deb_files[@]}" | grep '^golang-k8s-apiextensions-apiserver-dev_')
apiext_version=${apiext_deb#*_}
apiext_version=${apiext_version%%-*}
kube_minor=$(cut -d. -f2 <<<"$apiext_version")
kube_version=v1.${apiext_version#0.}
version_pkg=k8s.io/component-base/version
ldflags="-X $version_pkg.gitVersion=$kube_version -X $version_pkg.gitMajor=1 -X $version_pkg.gitMinor=$kube_minor"

log "building k8s.io/apiextensions-apiserver $kube_version (several minutes on 2 cores)"
build_start=$SECONDS
env GO111MODULE=off GOTOOLCHAIN=local GOFLAGS= GOPROXY=off CGO_ENABLED=0 \
    GOROOT="$goroot" GOPATH="$root/usr/share/gocode" GOCACHE="$cache/gocache" \
    PATH="$goroot/bin:$PATH" \
    nice -n 10 go build -trimpath -ldflags "$ldflags" \
    -o "$bin_dir/apiextensions-apiserver.new" k8s.io/apiextensions-apiserver
mv "$bin_dir/apiextensions-apiserver.new" "$bin_dir/apiextensions-apiserver"
log "go build took $((SECONDS - build_start)) s"

cp "$root/usr/bin/etcd" "$bin_dir/etcd.new"
mv "$bin_dir/etcd.new" "$bin_dir/etcd"

# The unpacked tree (about 2.3 GB) is rebuilt from the cached .deb files on
# --force, and Go's build cache keeps such a rebuild short.
rm -rf "$root"

{
    printf 'suite: %s\n' "$suite"
    printf 'kubernetes: %s\n' "$kube_version"
    printf 'built: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)"
    for deb in "${deb_files[@]}"; do
        case $deb in
            golang-1.*-go_* | etcd-server_* | golang-k8s-apiextensions-apiserver-dev_* | golang-k8s-apiserver-dev_*)
                printf 'package: %s\n' "$deb" ;;
        esac
    done
} >"$bin_dir/VERSIONS"

log "done in $((SECONDS - start)) s"
print_binaries
