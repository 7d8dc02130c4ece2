#!/usr/bin/env bash
# Side-by-side proxy benchmark: Portico (routes from a real Consul agent),
# nginx (upstream keep-alive) and HAProxy (http-reuse), each doing
# round-robin over the same three backends, driven by the same wrk load.
# Runs are interleaved (direct, portico, nginx, haproxy, direct, ...), three
# repetitions at 64 and 256 connections; medians are reported.
#
# The floor is a minimal hyper proxy with none of Portico's logic
# (benches/support/floor.rs): what hyper and tokio cost on their own, measured
# in the same run.
#
# The same Portico process also serves two routes with edge policies, so their
# cost shows in the same run: portico-edge (API key + a rate limit that never
# refuses) and portico-cached (every request a cache hit). With
# BENCH_BASELINE=<git revision>, that revision is built too and measured as
# portico-base on its policy-free route: the cost of the policy code for routes
# that do not use it, measured side by side (and portico-base-edge and
# portico-base-cached, the baseline's policy routes, when BENCH_TARGETS names them).
#
#   scripts/bench.sh                   # BENCH_DURATION=10 BENCH_REPS=3 by default
#   scripts/bench.sh grpc              # the gRPC and HTTP/2-upstream run (scripts/bench-grpc.sh)
#   BENCH_BASELINE=763e953 scripts/bench.sh
#   BENCH_PIN=1 BENCH_TARGETS="portico portico-base" BENCH_BASELINE=763e953 scripts/bench.sh
#
# Writes bench-results/raw.jsonl, bench-results/results.json and prints a
# markdown table (the one in BENCHMARKS.md). By default nothing is pinned:
# wrk, the proxy and the backends share the machine's cores, the same way for
# every proxy. BENCH_PIN=1 puts the proxies on the last core and wrk, the
# backends and Consul on the others: each proxy is then held to one core, so
# its request rate is its CPU cost per request, with less scheduling noise
# (for comparing two Portico builds). BENCH_TARGETS picks and orders targets.
set -euo pipefail
cd "$(dirname "$0")/.."
# `scripts/bench.sh grpc`: gRPC through Portico, nginx and HAProxy, and
# Portico's HTTP/2 upstream against its HTTP/1.1 upstream (see that script).
[ "${1:-}" = grpc ] && exec scripts/bench-grpc.sh

DURATION=${BENCH_DURATION:-10}
REPS=${BENCH_REPS:-3}
CONNECTIONS=${BENCH_CONNECTIONS:-"64 256"}
OUT=bench-results
WORK=$(mktemp -d)
B1=28101 B2=28102 B3=28103
PORTICO=28080 ADMIN=28090 NGINX=28081 HAPROXY=28082 CONSUL_PORT=28500 BASE=28083 BASE_ADMIN=28093 FLOOR=28084
BASELINE=${BENCH_BASELINE:-}
API_KEY=bench-key-0123456789abcdef
TARGETS=${BENCH_TARGETS:-"direct floor portico portico-edge portico-cached nginx haproxy"}
LAST_CPU=$(($(nproc) - 1))
if [ "${BENCH_PIN:-0}" = 1 ]; then
    PROXY_CPUS=(taskset -c "$LAST_CPU") LOAD_CPUS=(taskset -c "0-$((LAST_CPU - 1))")
else
    PROXY_CPUS=() LOAD_CPUS=()
fi

source scripts/lib/bench-env.sh
install_tools bench nginx haproxy wrk
build_proxies bench "$BASELINE"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for f in "$WORK"/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2> /dev/null || true; done
    sleep 0.5
    rm -rf "$WORK"
}
trap cleanup EXIT

render() { # render TEMPLATE PORT > file
    sed -e "s|__DIR__|$WORK|g" -e "s|__B1__|$B1|g" -e "s|__B2__|$B2|g" -e "s|__B3__|$B3|g" -e "s|__PORT__|$2|g" "$1"
}
wait_http() { # wait_http URL TEXT
    for _ in $(seq 300); do
        curl -fsS --max-time 1 "$1" 2> /dev/null | grep -q "$2" && return 0
        sleep 0.1
    done
    echo "bench: $1 never answered" >&2
    exit 1
}

render scripts/bench/nginx-backends.conf 0 > "$WORK/backends.conf"
"${LOAD_CPUS[@]}" nginx -c "$WORK/backends.conf" -e "$WORK/backends.error.log"
render scripts/bench/nginx-proxy.conf $NGINX > "$WORK/nginx-proxy.conf"
"${PROXY_CPUS[@]}" nginx -c "$WORK/nginx-proxy.conf" -e "$WORK/nginx-proxy.error.log"
render scripts/bench/haproxy.cfg $HAPROXY > "$WORK/haproxy.cfg"
"${PROXY_CPUS[@]}" haproxy -D -f "$WORK/haproxy.cfg"

"${LOAD_CPUS[@]}" "$CONSUL" agent -dev -log-level=error -node=bench -data-dir="$WORK/consul" -http-port=$CONSUL_PORT \
    -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -serf-lan-port=28301 -serf-wan-port=28302 -server-port=28300 \
    > "$WORK/consul.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$CONSUL_PORT/v1/status/leader" '"'
register() { # register SERVICE TAGS_JSON: three instances on the three backends
    local i port_var
    for i in 1 2 3; do
        port_var="B$i"
        curl -fsS -X PUT "http://127.0.0.1:$CONSUL_PORT/v1/agent/service/register" -d "{
          \"ID\": \"$1-$i\", \"Name\": \"$1\", \"Tags\": $2, \"Address\": \"127.0.0.1\",
          \"Port\": ${!port_var}, \"Check\": {\"TTL\": \"1h\", \"Status\": \"passing\"}}"
    done
}
register bench '["portico.route=/"]'
register edge '["portico.route=/edge", "portico.auth=api-key", "portico.rate-limit=100000000/s"]'
register cached '["portico.route=/cached", "portico.cache=60s"]'
start_portico() { # start_portico BINARY PORT ADMIN_PORT
    RUST_LOG=warn PORTICO_ACCESS_LOG=false PORTICO_API_KEYS="bench=$API_KEY" "${PROXY_CPUS[@]}" "$1" --listen "127.0.0.1:$2" \
        --admin-listen "127.0.0.1:$3" --consul "http://127.0.0.1:$CONSUL_PORT" > "$WORK/portico-$2.log" 2>&1 &
    pids+=($!)
    wait_http "http://127.0.0.1:$3/admin/routes" '"cached-3"'
}
start_portico target/release/portico $PORTICO $ADMIN
PORTICO_PID=${pids[-1]}
"${PROXY_CPUS[@]}" "$FLOOR_BIN" --listen "127.0.0.1:$FLOOR" --upstream "127.0.0.1:$B1" --upstream "127.0.0.1:$B2" \
    --upstream "127.0.0.1:$B3" > "$WORK/floor.log" 2>&1 &
pids+=($!)
FLOOR_PID=$!
BASE_PID=""
if [ -n "$BASELINE" ]; then
    start_portico target/bench-baseline/release/portico $BASE $BASE_ADMIN
    BASE_PID=${pids[-1]}
fi
for port in $NGINX $HAPROXY $PORTICO $FLOOR $B1; do wait_http "http://127.0.0.1:$port/" ok; done
wait_http "http://127.0.0.1:$PORTICO/cached" ok
# The cached target must measure hits: a request with credentials would bypass
# the shared cache, so that target gets a same-sized header that is not one.
curl -s -o /dev/null -D - -H "X-Bench-Pad: $API_KEY" "http://127.0.0.1:$PORTICO/cached" | grep -qi '^x-cache: HIT' ||
    { echo "bench: /cached is not answered from the cache" >&2; exit 1; }

# Process IDs of each target, for CPU and memory.
target_pids() {
    case $1 in
        portico | portico-edge | portico-cached) echo "$PORTICO_PID" ;;
        portico-base | portico-base-edge | portico-base-cached) echo "$BASE_PID" ;;
        floor) echo "$FLOOR_PID" ;;
        nginx) local m; m=$(cat "$WORK/nginx-proxy.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')" ;;
        haproxy) cat "$WORK/haproxy.pid" ;;
        direct) local m; m=$(cat "$WORK/backends.pid"); echo "$m $(pgrep -P "$m" | tr '\n' ' ')" ;;
    esac
}
sum_proc() { # sum_proc FILE AWK_PROGRAM PID...: AWK_PROGRAM's number summed over /proc/PID/FILE
    local file=$1 program=$2 total=0 pid
    shift 2
    for pid in "$@"; do
        total=$((total + $(awk "$program" "/proc/$pid/$file" 2> /dev/null || echo 0)))
    done
    echo "$total"
}
cpu_ticks() { sum_proc stat '{print $14 + $15}' "$@"; }      # utime + stime
peak_rss_kb() { sum_proc status '/VmHWM/ {print $2}' "$@"; } # high-water RSS
url_of() {
    case $1 in
        portico) echo "http://127.0.0.1:$PORTICO/" ;;
        portico-edge) echo "http://127.0.0.1:$PORTICO/edge" ;;
        portico-cached) echo "http://127.0.0.1:$PORTICO/cached" ;;
        portico-base) echo "http://127.0.0.1:$BASE/" ;;
        portico-base-edge) echo "http://127.0.0.1:$BASE/edge" ;;
        portico-base-cached) echo "http://127.0.0.1:$BASE/cached" ;;
        floor) echo "http://127.0.0.1:$FLOOR/" ;;
        nginx) echo "http://127.0.0.1:$NGINX/" ;;
        haproxy) echo "http://127.0.0.1:$HAPROXY/" ;;
        direct) echo "http://127.0.0.1:$B1/" ;;
    esac
}
to_ms() { # wrk latency (e.g. 812.00us, 1.20ms, 2.01s) in ms
    awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n *= 1; else if (v ~ /s$/) n *= 1000; print n }'
}

mkdir -p "$OUT"
: > "$OUT/raw.jsonl"
ticks_per_s=$(getconf CLK_TCK)
for rep in $(seq "$REPS"); do
    for conns in $CONNECTIONS; do
        for target in $TARGETS; do
            read -r -a tp <<< "$(target_pids $target)"
            before=$(cpu_ticks "${tp[@]}")
            header="X-Api-Key: $API_KEY"
            [[ "$target" == *-cached ]] && header="X-Bench-Pad: $API_KEY"
            result=$("${LOAD_CPUS[@]}" wrk -t2 -c"$conns" -d"${DURATION}s" --latency -H "$header" "$(url_of $target)")
            after=$(cpu_ticks "${tp[@]}")
            rps=$(awk '/^Requests\/sec/ {print $2}' <<< "$result")
            total=$(awk '/requests in/ {print $1}' <<< "$result")
            errors=$(awk '/Non-2xx|Socket errors/ {print}' <<< "$result" | tr '\n' ' ')
            p() { to_ms "$(awk -v q="$1" '$1 == q {print $2}' <<< "$result")"; }
            cpu_us=$(awk -v d=$((after - before)) -v t="$ticks_per_s" -v n="$total" 'BEGIN { printf "%.2f", d / t * 1e6 / n }')
            rss_mb=$(awk -v k="$(peak_rss_kb "${tp[@]}")" 'BEGIN { printf "%.1f", k / 1024 }')
            line="{\"rep\": $rep, \"target\": \"$target\", \"connections\": $conns, \"rps\": $rps, \"requests\": $total,"
            line+=" \"p50_ms\": $(p 50%), \"p75_ms\": $(p 75%), \"p90_ms\": $(p 90%), \"p99_ms\": $(p 99%),"
            line+=" \"cpu_us_per_request\": $cpu_us, \"peak_rss_mb\": $rss_mb, \"errors\": \"${errors}\"}"
            echo "$line" >> "$OUT/raw.jsonl"
            echo "bench: rep $rep, $conns connections, $target: $rps req/s ${errors}"
        done
    done
done
echo
if [ "${BENCH_PIN:-0}" = 1 ]; then pinning="proxies pinned to CPU $LAST_CPU, load and backends to the rest"; else pinning="not pinned"; fi
echo "Portico idle RSS before the runs is not shown here; see BENCHMARKS.md. Cores: $(nproc), $pinning."
python3 scripts/bench/summarize.py "$OUT/raw.jsonl" "$OUT/results.json" | tee "$OUT/table.md"
