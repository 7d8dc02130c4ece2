#!/usr/bin/env bash
# gRPC and HTTP/2-upstream benchmark, every target measured in the same run:
#   1. gRPC unary calls per second (h2load, HTTP/2 client, 64 connections x
#      10 streams) through Portico (portico.proto=grpc), nginx (grpc_pass) and
#      HAProxy (proto h2), round-robin over the same three tonic instances;
#   2. plain GETs (wrk, HTTP/1.1 client) through Portico to one nginx
#      backend over HTTP/1.1 (portico.proto=http) and over h2c
#      (portico.proto=h2c).
# Runs are interleaved, BENCH_REPS times (default 3) for BENCH_DURATION
# seconds (default 10); medians are reported, as ratios to nginx for gRPC.
# Also reachable as `scripts/bench.sh grpc`.
set -euo pipefail
cd "$(dirname "$0")/.."

DURATION=${BENCH_DURATION:-10}
REPS=${BENCH_REPS:-3}
WORK=$(mktemp -d)
G1=28201 G2=28202 G3=28203 B1=28211 H1=28212
PORTICO=28180 ADMIN=28190 NGINX=28181 HAPROXY=28182 CONSUL_PORT=28510
OUT=bench-results

source scripts/lib/bench-env.sh
install_tools bench-grpc nginx haproxy wrk h2load
echo "bench-grpc: building Portico and the gRPC instance (release)"
# Two builds: built together, shared crates would get the test crate's
# features too, and Portico would not be the binary scripts/bench.sh measures.
cargo build --release --locked -p portico
cargo build --release --locked -p portico-testkit --bin grpc-echo
CONSUL=$(scripts/install-consul.sh | tail -n 1)

pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for f in "$WORK"/*.pid; do [ -s "$f" ] && kill "$(cat "$f")" 2> /dev/null || true; done
    sleep 0.5
    rm -rf "$WORK"
}
trap cleanup EXIT

render() { # render TEMPLATE PORT > file
    sed -e "s|__DIR__|$WORK|g" -e "s|__G1__|$G1|g" -e "s|__G2__|$G2|g" -e "s|__G3__|$G3|g" \
        -e "s|__B1__|$B1|g" -e "s|__H1__|$H1|g" -e "s|__PORT__|$2|g" "$1"
}
wait_for() { # wait_for COMMAND...: retried for 30 s
    for _ in $(seq 300); do "$@" > /dev/null 2>&1 && return 0; sleep 0.1; done
    echo "bench-grpc: never ready: $*" >&2
    exit 1
}

i=0
for port in $G1 $G2 $G3; do
    i=$((i + 1))
    target/release/grpc-echo "g-$i" "127.0.0.1:$port" > "$WORK/grpc-$i.log" 2>&1 &
    pids+=($!)
done
render scripts/bench/nginx-h2-backend.conf 0 > "$WORK/h2-backend.conf"
nginx -c "$WORK/h2-backend.conf" -e "$WORK/h2-backend.error.log"
render scripts/bench/nginx-grpc.conf $NGINX > "$WORK/nginx-grpc.conf"
nginx -c "$WORK/nginx-grpc.conf" -e "$WORK/nginx-grpc.error.log"
render scripts/bench/haproxy-grpc.cfg $HAPROXY > "$WORK/haproxy-grpc.cfg"
haproxy -D -f "$WORK/haproxy-grpc.cfg"

"$CONSUL" agent -dev -log-level=error -node=bench-grpc -data-dir="$WORK/consul" -http-port=$CONSUL_PORT \
    -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -serf-lan-port=28311 -serf-wan-port=28312 -server-port=28310 \
    > "$WORK/consul.log" 2>&1 &
pids+=($!)
wait_for curl -fsS "http://127.0.0.1:$CONSUL_PORT/v1/status/leader"
register() { # register ID SERVICE PORT TAGS_JSON
    curl -fsS -X PUT "http://127.0.0.1:$CONSUL_PORT/v1/agent/service/register" -d "{
      \"ID\": \"$1\", \"Name\": \"$2\", \"Tags\": $4, \"Address\": \"127.0.0.1\",
      \"Port\": $3, \"Check\": {\"TTL\": \"1h\", \"Status\": \"passing\"}}"
}
register g-1 echo $G1 '["portico.route=/portico.test.Echo", "portico.proto=grpc"]'
register g-2 echo $G2 '["portico.route=/portico.test.Echo", "portico.proto=grpc"]'
register g-3 echo $G3 '["portico.route=/portico.test.Echo", "portico.proto=grpc"]'
register plain-1 plain $B1 '["portico.route=/h1", "portico.strip-prefix=true"]'
register h2c-1 h2c $H1 '["portico.route=/h2", "portico.strip-prefix=true", "portico.proto=h2c"]'
RUST_LOG=warn PORTICO_ACCESS_LOG=false target/release/portico --listen "127.0.0.1:$PORTICO" \
    --admin-listen "127.0.0.1:$ADMIN" --consul "http://127.0.0.1:$CONSUL_PORT" > "$WORK/portico.log" 2>&1 &
pids+=($!)
wait_for sh -c "curl -fsS http://127.0.0.1:$ADMIN/admin/routes | grep -q g-3"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORTICO/h2/ | grep -q ok"
wait_for sh -c "curl -fsS http://127.0.0.1:$PORTICO/h1/ | grep -q ok"

# One unary call: EchoRequest { message: "hello" }, gRPC-framed.
printf '\x00\x00\x00\x00\x07\x0a\x05hello' > "$WORK/unary.bin"
grpc_url() { case $1 in portico) echo "http://127.0.0.1:$PORTICO" ;; nginx) echo "http://127.0.0.1:$NGINX" ;; haproxy) echo "http://127.0.0.1:$HAPROXY" ;; esac; }
for target in portico nginx haproxy; do # each answers a real call (grpc-status 0 in trailers) before it is measured
    out=$(curl -sS --http2-prior-knowledge -D - -o "$WORK/reply.bin" --data-binary @"$WORK/unary.bin" \
        -H 'content-type: application/grpc' -H 'te: trailers' "$(grpc_url $target)/portico.test.Echo/Unary")
    echo "$out" | grep -qi '^grpc-status: 0' && grep -q 'g-[123]' "$WORK/reply.bin" ||
        { echo "bench-grpc: $target does not proxy gRPC: $out" >&2; exit 1; }
done

mkdir -p "$OUT"
raw="$OUT/grpc-raw.jsonl"
: > "$raw"
for rep in $(seq "$REPS"); do
    for target in portico nginx haproxy; do
        out=$(h2load -D "$DURATION" -c 64 -m 10 -t 2 -d "$WORK/unary.bin" -H 'content-type: application/grpc' \
            -H 'te: trailers' "$(grpc_url $target)/portico.test.Echo/Unary" 2>&1)
        rps=$(echo "$out" | sed -n 's/^finished in .*, \([0-9.]*\) req\/s.*/\1/p')
        failed=$(echo "$out" | sed -n 's/^requests: .* \([0-9]*\) failed.*/\1/p')
        echo "{\"kind\":\"grpc\",\"target\":\"$target\",\"rep\":$rep,\"rps\":$rps,\"failed\":${failed:-0}}" | tee -a "$raw"
    done
    for target in h1 h2; do
        out=$(wrk -t 2 -c 64 -d "${DURATION}s" "http://127.0.0.1:$PORTICO/$target/")
        rps=$(echo "$out" | sed -n 's/^Requests\/sec: *\([0-9.]*\)/\1/p')
        errors=$(echo "$out" | sed -n 's/.*Non-2xx or 3xx responses: *\([0-9]*\)/\1/p')
        echo "{\"kind\":\"upstream\",\"target\":\"portico-$target\",\"rep\":$rep,\"rps\":$rps,\"failed\":${errors:-0}}" | tee -a "$raw"
    done
done

# h2load counts HTTP 200 as success, and a gRPC error is a 200 too: Portico's
# own count of calls that failed (5xx) must be 0. (Calls h2load abandons when
# a run ends are counted as 499, class 4xx, and are not failures.)
not_ok=$(curl -fsS "http://127.0.0.1:$ADMIN/metrics" |
    awk '/^portico_requests_total\{route="\/portico.test.Echo"/ && /class="5xx"/ {n += $NF} END {print n + 0}')
echo "bench-grpc: gRPC calls Portico failed: $not_ok"
[ "$not_ok" = 0 ] || { echo "bench-grpc: Portico failed calls under load" >&2; exit 1; }

python3 - "$raw" << 'PY'
import json, statistics, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
def median(kind, target):
    return statistics.median(r["rps"] for r in rows if r["kind"] == kind and r["target"] == target)
def failed(target):
    return sum(r["failed"] for r in rows if r["target"] == target)
print("\n| gRPC unary, 64 connections x 10 streams | calls/s (median) | vs nginx | failed |")
print("|---|---|---|---|")
nginx = median("grpc", "nginx")
for t in ["portico", "nginx", "haproxy"]:
    m = median("grpc", t)
    print(f"| {t} | {m:,.0f} | {m / nginx:.2f}x | {failed(t)} |")
print("\n| plain GET through Portico, 64 connections | req/s (median) | vs HTTP/1.1 upstream | failed |")
print("|---|---|---|---|")
h1 = median("upstream", "portico-h1")
for t, name in [("portico-h1", "HTTP/1.1 upstream (http)"), ("portico-h2", "HTTP/2 upstream (h2c)")]:
    m = median("upstream", t)
    print(f"| {name} | {m:,.0f} | {m / h1:.2f}x | {failed(t)} |")
PY
