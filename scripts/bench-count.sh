#!/usr/bin/env bash
# Instructions per plain proxied request, counted by valgrind's callgrind:
# repeatable on a noisy machine, where timings are not. Each proxy runs alone
# under callgrind with one thread or worker (Portico --threads 1, the floor
# --threads 1, nginx one worker without a master, HAProxy nbthread 1), in
# front of the same three backends as scripts/bench.sh. h2load sends 2,000
# requests to warm up, callgrind's counters are zeroed, 20,000 requests are
# sent over 8 keep-alive connections, and the instructions counted (all
# threads of the process) are divided by 20,000.
#
#   scripts/bench-count.sh                     # floor portico nginx haproxy
#   COUNT_TARGETS="portico" COUNT_REQUESTS=50000 scripts/bench-count.sh
#   COUNT_KEEP=dir scripts/bench-count.sh      # keeps the callgrind files there (callgrind_annotate)
#   COUNT_BASELINE=<git revision> scripts/bench-count.sh   # adds portico-base, that revision built
#
# Also prints the per-request budget by step for Portico and the floor
# (scripts/bench/budget.py) and the heap allocations per request
# (cargo bench --bench request_cost).
# Prints a markdown table (BENCHMARKS.md, "Per-request budget").
set -euo pipefail
cd "$(dirname "$0")/.."

TARGETS=${COUNT_TARGETS:-"floor portico nginx haproxy"}
REQUESTS=${COUNT_REQUESTS:-20000}
WORK=$(mktemp -d)
B1=28201 B2=28202 B3=28203 PROXY=28280 ADMIN=28290 CONSUL_PORT=28600

source scripts/lib/bench-env.sh
install_tools count nginx haproxy valgrind h2load
build_proxies count "${COUNT_BASELINE:-}"

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    [ -s "$WORK/backends.pid" ] && kill "$(cat "$WORK/backends.pid")" 2> /dev/null || true
    sleep 0.5
    rm -rf "$WORK"
}
trap cleanup EXIT
render() { # render TEMPLATE PORT > file
    sed -e "s|__DIR__|$WORK|g" -e "s|__B1__|$B1|g" -e "s|__B2__|$B2|g" -e "s|__B3__|$B3|g" -e "s|__PORT__|$2|g" "$1"
}
wait_http() { # wait_http URL TEXT: up to 60 s (a program under callgrind starts slowly)
    for _ in $(seq 600); do
        curl -fsS --max-time 2 "$1" 2> /dev/null | grep -q "$2" && return 0
        sleep 0.1
    done
    echo "count: $1 never answered" >&2
    exit 1
}

render scripts/bench/nginx-backends.conf 0 > "$WORK/backends.conf"
nginx -c "$WORK/backends.conf" -e "$WORK/backends.error.log"
"$CONSUL" agent -dev -log-level=error -node=count -data-dir="$WORK/consul" -http-port=$CONSUL_PORT \
    -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -serf-lan-port=28601 -serf-wan-port=28602 -server-port=28603 \
    > "$WORK/consul.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$CONSUL_PORT/v1/status/leader" '"'
for i in 1 2 3; do
    port_var="B$i"
    curl -fsS -X PUT "http://127.0.0.1:$CONSUL_PORT/v1/agent/service/register" -d "{
      \"ID\": \"bench-$i\", \"Name\": \"bench\", \"Tags\": [\"portico.route=/\"], \"Address\": \"127.0.0.1\",
      \"Port\": ${!port_var}, \"Check\": {\"TTL\": \"1h\", \"Status\": \"passing\"}}"
done

start_target() { # start_target NAME: runs it under callgrind in the background
    local out="$WORK/callgrind.$1"
    local grind=(valgrind --tool=callgrind --callgrind-out-file="$out.%p")
    case $1 in
        floor) exec "${grind[@]}" "$FLOOR_BIN" --listen "127.0.0.1:$PROXY" --threads 1 \
            --upstream "127.0.0.1:$B1" --upstream "127.0.0.1:$B2" --upstream "127.0.0.1:$B3" ;;
        portico | portico-base)
            local binary=target/release/portico
            [ "$1" = portico ] || binary=target/bench-baseline/release/portico
            RUST_LOG=warn exec "${grind[@]}" "$binary" --listen "127.0.0.1:$PROXY" \
                --admin-listen "127.0.0.1:$ADMIN" --consul "http://127.0.0.1:$CONSUL_PORT" --threads 1 \
                --access-log false --register false ;;
        nginx)
            render scripts/bench/nginx-proxy.conf $PROXY | sed 's/^worker_processes .*/worker_processes 1;/' > "$WORK/proxy.conf"
            exec "${grind[@]}" nginx -c "$WORK/proxy.conf" -e "$WORK/proxy.error.log" -g "daemon off; master_process off;" ;;
        haproxy)
            render scripts/bench/haproxy.cfg $PROXY | sed 's/^\( *\)nbthread .*/\1nbthread 1/' > "$WORK/haproxy.cfg"
            exec "${grind[@]}" haproxy -db -f "$WORK/haproxy.cfg" ;;
    esac > "$WORK/$1.log" 2>&1 & # each branch execs, so $! is the program under callgrind
    pids+=($!)
    TARGET_PID=$!
}

load() { h2load --h1 -n "$1" -c 8 -m 1 "http://127.0.0.1:$PROXY/" > "$WORK/h2load.log" 2>&1 ||
    { cat "$WORK/h2load.log" >&2; exit 1; }
    grep -q "succeeded, 0 failed, 0 errored" "$WORK/h2load.log" || { cat "$WORK/h2load.log" >&2; exit 1; }
    # Every answer a 200 from a backend, none an error of the proxy's own.
    grep -q "status codes: $1 2xx" "$WORK/h2load.log" || { cat "$WORK/h2load.log" >&2; exit 1; }
}

rows=()
dumps=()
for target in $TARGETS; do
    echo "count: $target under callgrind"
    start_target "$target"
    wait_http "http://127.0.0.1:$PROXY/" ok
    load 2000
    callgrind_control --zero "$TARGET_PID" > /dev/null
    load "$REQUESTS"
    callgrind_control --dump "$TARGET_PID" > /dev/null
    sleep 1
    dump=$(ls -t "$WORK/callgrind.$target."* | head -n 1)
    total=$(awk '/^totals:/ {print $2}' "$dump")
    [ -n "$total" ] || total=$(awk '/^summary:/ {print $2}' "$dump")
    kill "$TARGET_PID"; wait "$TARGET_PID" 2> /dev/null || true
    [ -z "${COUNT_KEEP:-}" ] || { mkdir -p "$COUNT_KEEP"; cp "$dump" "$COUNT_KEEP/callgrind.$target"; }
    per=$(awk -v t="$total" -v n="$REQUESTS" 'BEGIN { printf "%.0f", t / n }')
    rows+=("| $target | $per |")
    [ "$target" = nginx ] || [ "$target" = haproxy ] || dumps+=("$target=$dump")
    echo "count: $target: $per instructions per request"
done
echo
echo "| proxy (one thread or worker) | instructions per request |"
echo "|---|---|"
printf '%s\n' "${rows[@]}"
echo
if [ ${#dumps[@]} -gt 0 ]; then
    echo "Per-request budget (instructions by step):"
    python3 scripts/bench/budget.py "$REQUESTS" "${dumps[@]}"
    echo
fi
CONSUL_BIN=$CONSUL cargo bench --locked --bench request_cost 2> /dev/null | grep '^|'
