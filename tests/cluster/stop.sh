#!/usr/bin/env bash
# Stops a cluster started by tests/cluster/start.sh and removes its state folder.
#
# Usage: tests/cluster/stop.sh STATE_DIR [--keep]
#
# Only the processes listed in STATE_DIR/pids are signalled: SIGTERM first,
# then SIGKILL for any still running after 10 seconds. --keep leaves the
# folder (logs, certificates, etcd data) in place.
set -euo pipefail

log() { printf 'stop: %s\n' "$*" >&2; }

[[ $# -ge 1 && $# -le 2 ]] || { log "usage: $0 STATE_DIR [--keep]"; exit 2; }
state=$(cd "$1" && pwd)
keep=${2:-}
[[ -z $keep || $keep == --keep ]] || { log "unknown option '$keep'; the only option is --keep"; exit 2; }

# A failed start leaves its list under the name pids.starting.
pid_files=()
for name in pids pids.starting; do
    [[ -f $state/$name ]] && pid_files+=("$state/$name")
done
if ((${#pid_files[@]} == 0)); then
    log "no pid file in $state; nothing to stop"
    exit 0
fi

# Every process that start.sh runs has a path under STATE_DIR in its command
# line, which distinguishes it from an unrelated process that reused the pid.
started_here() {
    [[ -r /proc/$1/cmdline ]] && tr '\0' ' ' <"/proc/$1/cmdline" | grep -qF "$state/"
}

# The front goes first so that clients see the server vanish before etcd does.
mapfile -t listed < <(cat "${pid_files[@]}" | tac)
entries=()
for entry in "${listed[@]}"; do
    read -r pid name <<<"$entry"
    if started_here "$pid"; then
        entries+=("$entry")
    else
        log "$name ($pid) is not running"
    fi
done
for entry in "${entries[@]}"; do
    read -r pid name <<<"$entry"
    if kill -TERM "$pid" 2>/dev/null; then
        log "sent SIGTERM to $name ($pid)"
    fi
done

deadline=$((SECONDS + 10))
for entry in "${entries[@]}"; do
    read -r pid name <<<"$entry"
    while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
        sleep 0.1
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "$name ($pid) still running after 10 s; sending SIGKILL"
        kill -KILL "$pid" 2>/dev/null || true
    fi
done

rm -f "${pid_files[@]}"
if [[ $keep == --keep ]]; then
    log "stopped; state kept in $state"
else
    rm -rf "$state"
    log "stopped; removed $state"
fi
