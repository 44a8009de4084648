#!/usr/bin/env bash
# Compares Portcullis with nginx as reverse proxies in front of the same
# backend, then measures Portcullis while its configuration is swapped under
# load.
#
# Phase 1 runs wrk against each proxy in turn, RUNS pairs in alternating
# order, with identical settings (HTTP/1.1 keep-alive) and prints requests/s,
# p50 and p99 for every run, the medians and the ratio Portcullis/nginx.
# Phase 2 keeps wrk running against Portcullis while the route file in its
# configuration folder is rewritten SWAPS times. After each write it waits
# until the gateway logs the new snapshot as applied. It prints the failed
# requests and the p99 during the swaps next to the steady p99 of phase 1.
#
# Placement on a 2-core machine: the proxy under test runs on PROXY_CPU, and
# the backend and wrk share LOAD_CPU. Both proxies get one worker (nginx
# `worker_processes 1`, Portcullis `--worker-threads 1`).
#
# Everything listens on 127.0.0.1 and every run is bounded in time. Missing
# tools come from Debian packages (nginx-light, wrk, curl). The system nginx
# service is not used, because both nginx instances run from a temporary
# prefix.
#
# Settings (environment): RUNS (5), DURATION (10s), CONNECTIONS (64),
# SWAPS (100), PROXY_CPU (1), LOAD_CPU (0), SWAP_TIMEOUT seconds per swap (10),
# PORTCULLIS_BIN (a prebuilt binary to measure, which skips the build).
set -euo pipefail

RUNS=${RUNS:-5}
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-64}
SWAPS=${SWAPS:-100}
PROXY_CPU=${PROXY_CPU:-1}
LOAD_CPU=${LOAD_CPU:-0}
SWAP_TIMEOUT=${SWAP_TIMEOUT:-10}
PORTCULLIS_BIN=${PORTCULLIS_BIN:-}

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d -t portcullis-bench.XXXXXX)
PIDS=()

cleanup() {
    local pid
    for pid in "${PIDS[@]}"; do
        kill "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        wait "$pid" 2>/dev/null || true
    done
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

log() {
    printf '%s\n' "$*" >&2
}

die() {
    log "error: $*"
    exit 1
}

# --- setup ------------------------------------------------------------------

install_tools() {
    local missing=()
    command -v nginx >/dev/null || [[ -x /usr/sbin/nginx ]] || missing+=(nginx-light)
    command -v wrk >/dev/null || missing+=(wrk)
    command -v curl >/dev/null || missing+=(curl)
    command -v taskset >/dev/null || missing+=(util-linux)
    if ((${#missing[@]} > 0)); then
        log "installing ${missing[*]} from Debian packages"
        apt-get update -q
        # The package's postinst may start the system service. The benchmark
        # never uses it and runs its own instances below.
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
    fi
}

nginx_bin() {
    command -v nginx || echo /usr/sbin/nginx
}

# Prints a TCP port on 127.0.0.1 that nothing accepts connections on.
free_port() {
    local port
    for _ in $(seq 1 200); do
        port=$((20000 + RANDOM % 30000))
        if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
            echo "$port"
            return 0
        fi
    done
    die "no free port found on 127.0.0.1"
}

# Waits until URL $1 returns status 200, at most $2 seconds.
wait_http_ok() {
    local url=$1 deadline=$((SECONDS + $2))
    until [[ $(curl -s -o /dev/null -w '%{http_code}' "$url") == 200 ]]; do
        ((SECONDS < deadline)) || die "$url did not return status 200 within $2 s"
        sleep 0.1
    done
}

# --- nginx ------------------------------------------------------------------

write_nginx_conf() {
    local prefix=$1 body=$2
    mkdir -p "$prefix/logs" "$prefix/tmp"
    cat >"$prefix/nginx.conf" <<EOF
worker_processes 1;
daemon off;
pid $prefix/nginx.pid;
error_log $prefix/logs/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $prefix/tmp/body;
    proxy_temp_path $prefix/tmp/proxy;
    fastcgi_temp_path $prefix/tmp/fastcgi;
    uwsgi_temp_path $prefix/tmp/uwsgi;
    scgi_temp_path $prefix/tmp/scgi;
    keepalive_requests 1000000;
$body
}
EOF
}

start_backend() {
    local port=$1 prefix=$WORK/backend
    write_nginx_conf "$prefix" "    server {
        listen 127.0.0.1:$port;
        location / { return 200 \"ok\"; }
    }"
    taskset -c "$LOAD_CPU" "$(nginx_bin)" -p "$prefix" -c "$prefix/nginx.conf" &
    PIDS+=($!)
    wait_http_ok "http://127.0.0.1:$port/" 10
}

# The proxy sets the same forwarding and request-id headers Portcullis sets,
# so both do comparable work per request.
start_nginx_proxy() {
    local port=$1 backend=$2 prefix=$WORK/nginx-proxy
    write_nginx_conf "$prefix" "    upstream backend {
        server 127.0.0.1:$backend;
        keepalive 128;
    }
    server {
        listen 127.0.0.1:$port;
        location / {
            proxy_pass http://backend;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_set_header Host \$host;
            proxy_set_header X-Forwarded-For \$proxy_add_x_forwarded_for;
            proxy_set_header X-Forwarded-Proto \$scheme;
            proxy_set_header X-Forwarded-Host \$host;
            proxy_set_header X-Request-Id \$request_id;
            add_header X-Request-Id \$request_id;
        }
    }"
    taskset -c "$PROXY_CPU" "$(nginx_bin)" -p "$prefix" -c "$prefix/nginx.conf" &
    PIDS+=($!)
    wait_http_ok "http://127.0.0.1:$port/" 10
}

# --- portcullis -------------------------------------------------------------

# Writes the Route that sends every request to the backend. The response
# header carries the revision so each swap changes the compiled snapshot.
write_route() {
    local revision=$1 backend=$2 staged=$WORK/staged-route.yaml
    cat >"$staged" <<EOF
apiVersion: portcullis.io/v1alpha1
kind: Route
metadata:
  name: bench
  namespace: default
spec:
  rules:
    - name: all
      backends:
        - endpoint: 127.0.0.1:$backend
      filters:
        - type: ResponseHeaderModifier
          responseHeaderModifier:
            set:
              - name: x-config-revision
                value: "$revision"
EOF
    # Rename is atomic, so the watcher never reads a half-written file.
    mv "$staged" "$WORK/config/route.yaml"
}

# Prints the address of listener $1 from the JSON log, waiting at most 30 s.
listener_address() {
    local kind=$1 deadline=$((SECONDS + 30)) line
    while ((SECONDS < deadline)); do
        line=$(grep '"listener started"' "$WORK/portcullis.log" |
            grep "\"listener\":\"$kind\"" | head -n 1 || true)
        if [[ -n $line ]]; then
            sed -E 's/.*"address":"([^"]+)".*/\1/' <<<"$line"
            return 0
        fi
        kill -0 "${PIDS[-1]}" 2>/dev/null || die "portcullis exited: $(tail -n 5 "$WORK/portcullis.log")"
        sleep 0.1
    done
    die "portcullis logged no $kind listener within 30 s"
}

start_portcullis() {
    local backend=$1
    mkdir -p "$WORK/config"
    write_route 0 "$backend"
    taskset -c "$PROXY_CPU" "$PORTCULLIS_BIN" \
        --config "$WORK/config" --listen 127.0.0.1:0 --admin 127.0.0.1:0 \
        --worker-threads 1 --log-format json --log-level info \
        >"$WORK/portcullis.log" 2>&1 &
    PIDS+=($!)
    PORTCULLIS_HTTP=$(listener_address http)
    PORTCULLIS_ADMIN=$(listener_address admin)
    wait_http_ok "http://$PORTCULLIS_ADMIN/readyz" 30
    wait_http_ok "http://$PORTCULLIS_HTTP/" 10
}

# Counts applied snapshots from the gateway's log. Polling the admin
# endpoint instead would make the proxy under test serialize its whole
# configuration every few milliseconds on the CPU it serves from, which
# inflates the latency measured during swaps.
current_generation() {
    grep -c '"snapshot applied"' "$WORK/portcullis.log" || true
}

# --- wrk --------------------------------------------------------------------

run_wrk() {
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" "$@" --latency
}

# Converts a wrk latency such as 812.00us, 1.25ms or 1.02s to milliseconds.
to_ms() {
    awk -v v="$1" 'BEGIN {
        n = v + 0
        if (v ~ /us$/) n /= 1000
        else if (v ~ /ms$/) n = n
        else if (v ~ /[0-9]s$/) n *= 1000
        printf "%.3f", n
    }'
}

# Prints "rps p50_ms p99_ms errors requests" from one wrk output file.
parse_wrk() {
    local file=$1 rps p50 p99 non2xx socket requests
    rps=$(awk '/^Requests\/sec:/ {print $2}' "$file")
    p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$file")")
    p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$file")")
    non2xx=$(awk '/Non-2xx or 3xx responses:/ {print $NF}' "$file")
    socket=$(awk -F'[ ,]+' '/Socket errors:/ {print $4 + $6 + $8 + $10}' "$file")
    requests=$(awk '/requests in/ {print $1}' "$file")
    [[ -n $rps && -n $requests ]] || die "failed to parse wrk output in $file (check that file for a wrk error)"
    echo "$rps $p50 $p99 $((${non2xx:-0} + ${socket:-0})) $requests"
}

median() {
    sort -g | awk '{ v[NR] = $1 } END {
        if (NR == 0) { print "nan"; exit }
        if (NR % 2) print v[(NR + 1) / 2]
        else printf "%.3f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2
    }'
}

# --- phases -----------------------------------------------------------------

# Runs one measured wrk run against proxy $1 (nginx|portcullis), run $2.
measure() {
    local name=$1 run=$2 url out result
    if [[ $name == nginx ]]; then url="http://127.0.0.1:$NGINX_PORT/"; else url="http://$PORTCULLIS_HTTP/"; fi
    out="$WORK/wrk-$name-$run.txt"
    run_wrk -d"$DURATION" "$url" >"$out"
    result=$(parse_wrk "$out")
    read -r rps p50 p99 errors requests <<<"$result"
    printf '| %d | %-10s | %10s | %8s | %8s | %6s |\n' "$run" "$name" "$rps" "$p50" "$p99" "$errors"
    echo "$name $run $rps $p50 $p99 $errors" >>"$WORK/results.txt"
}

phase_compare() {
    local url
    for url in "http://127.0.0.1:$NGINX_PORT/" "http://$PORTCULLIS_HTTP/"; do
        run_wrk -d3s "$url" >/dev/null # warm-up, not counted
    done

    echo "| run | proxy      | requests/s | p50 (ms) | p99 (ms) | errors |"
    echo "|-----|------------|------------|----------|----------|--------|"
    for run in $(seq 1 "$RUNS"); do
        # Alternate which proxy goes first so drift affects both alike.
        if ((run % 2)); then
            measure nginx "$run"
            measure portcullis "$run"
        else
            measure portcullis "$run"
            measure nginx "$run"
        fi
    done

    local column name
    echo
    for name in nginx portcullis; do
        for column in 3 4 5; do
            awk -v n="$name" -v c="$column" '$1 == n {print $c}' "$WORK/results.txt" |
                median >"$WORK/median-$name-$column"
        done
        printf 'median %-10s: %s requests/s, p50 %s ms, p99 %s ms\n' "$name" \
            "$(cat "$WORK/median-$name-3")" "$(cat "$WORK/median-$name-4")" "$(cat "$WORK/median-$name-5")"
    done
    awk -v p="$(cat "$WORK/median-portcullis-3")" -v n="$(cat "$WORK/median-nginx-3")" \
        'BEGIN { printf "ratio portcullis/nginx (median requests/s): %.3f\n", p / n }'
    awk -v p="$(cat "$WORK/median-portcullis-5")" -v n="$(cat "$WORK/median-nginx-5")" \
        'BEGIN { printf "ratio portcullis/nginx (median p99): %.3f\n", p / n }'
    # The ratio within each pair cancels drift that lasts longer than a pair.
    awk '{ rps[$1 " " $2] = $3 } END {
        for (key in rps) if (key ~ /^nginx /) {
            run = substr(key, 7)
            printf "%.3f\n", rps["portcullis " run] / rps[key]
        }
    }' "$WORK/results.txt" | median | xargs printf 'median of per-pair ratios (requests/s): %s\n'
}

# Rewrites the route and waits until the log shows more applied snapshots
# than $2, then appends the time from write to new generation, in ms, to
# the swap-times file.
swap_once() {
    local revision=$1 before=$2 deadline=$((SECONDS + SWAP_TIMEOUT)) start=$EPOCHREALTIME
    write_route "$revision" "$BACKEND_PORT"
    while (($(current_generation) <= before)); do
        ((SECONDS < deadline)) || die "swap $revision not applied within $SWAP_TIMEOUT s"
        sleep 0.01
    done
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }' \
        >>"$WORK/swap-times.txt"
}

phase_swaps() {
    local out=$WORK/wrk-swaps.txt wrk_pid generation start elapsed result
    # wrk stops and prints its report on SIGINT, and the long duration only
    # bounds the run if the swaps stall. It is started without a function
    # wrapper so that $! is the pid of wrk itself (taskset execs it).
    taskset -c "$LOAD_CPU" wrk -t1 -c"$CONNECTIONS" -d300s --latency \
        "http://$PORTCULLIS_HTTP/" >"$out" &
    wrk_pid=$!
    PIDS+=("$wrk_pid")
    wait_http_ok "http://$PORTCULLIS_HTTP/" 5
    sleep 1 # let wrk open its connections before the first swap

    start=$EPOCHREALTIME
    for revision in $(seq 1 "$SWAPS"); do
        generation=$(current_generation)
        swap_once "$revision" "$generation"
    done
    elapsed=$(awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

    kill -INT "$wrk_pid"
    wait "$wrk_pid" || true
    result=$(parse_wrk "$out")
    read -r rps p50 p99 errors requests <<<"$result"
    echo
    echo "swaps: $SWAPS applied in ${elapsed} s under load"
    echo "time from file write to new generation (log polled every 10 ms): median" \
        "$(median <"$WORK/swap-times.txt") ms, max $(sort -g "$WORK/swap-times.txt" | tail -n 1) ms"
    echo "requests during swaps: $requests, failed (non-2xx + socket errors): $errors"
    echo "during swaps: $rps requests/s, p50 $p50 ms, p99 $p99 ms"
    echo "steady (phase 1 median): p99 $(cat "$WORK/median-portcullis-5") ms"
    echo "resource rejected log lines: $(grep -c '"resource rejected"' "$WORK/portcullis.log" || true)"
}

print_machine() {
    echo "machine: $(nproc) CPUs, $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')"
    echo "memory: $(awk '/MemTotal/ {printf "%.1f GiB", $2 / 1048576}' /proc/meminfo), kernel $(uname -r)"
    # Other work on the machine skews every number, and the load average shows how much.
    echo "load average before the runs: $(cut -d' ' -f1-3 /proc/loadavg)"
    echo "nginx: $("$(nginx_bin)" -v 2>&1 | cut -d/ -f2), wrk: $(wrk -v 2>&1 | head -n 1 | awk '{print $2}')"
    echo "settings: RUNS=$RUNS DURATION=$DURATION CONNECTIONS=$CONNECTIONS SWAPS=$SWAPS" \
        "PROXY_CPU=$PROXY_CPU LOAD_CPU=$LOAD_CPU"
}

main() {
    (($(nproc) >= 2)) || log "warning: fewer than 2 CPUs; proxy and load share a core"
    install_tools
    if [[ -z $PORTCULLIS_BIN ]]; then
        (cd "$REPO" && cargo build --release -p portcullis-dataplane)
        PORTCULLIS_BIN=$REPO/target/release/portcullis
    fi
    [[ -x $PORTCULLIS_BIN ]] || die "$PORTCULLIS_BIN is not an executable file"

    BACKEND_PORT=$(free_port)
    start_backend "$BACKEND_PORT"
    NGINX_PORT=$(free_port)
    start_nginx_proxy "$NGINX_PORT" "$BACKEND_PORT"
    start_portcullis "$BACKEND_PORT"

    print_machine
    echo
    phase_compare
    phase_swaps
}

main "$@"
