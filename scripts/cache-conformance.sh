#!/usr/bin/env bash
# RFC 9111 conformance, side by side: the same scenarios (scripts/cache-
# conformance/driver.py) against Portico's cache and nginx's proxy_cache
# (from Debian, configured as its documentation recommends), in one run,
# over one Node.js origin that reports what reached it. Prints a table of
# which scenario each passes and the totals (the table in CACHE.md).
set -euo pipefail
cd "$(dirname "$0")/.."

command -v nginx > /dev/null || {
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq nginx-light > /dev/null
}
cargo build --locked -p portico
CONSUL=$(scripts/install-consul.sh | tail -n 1)
WORK=$(mktemp -d)
chmod 755 "$WORK" # nginx workers (user nobody) keep their cache in it
ORIGIN=28601 NGINX=28602 PORTICO=28603 ADMIN=28604 CONSUL_PORT=28605
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    [ -s "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2> /dev/null || true
    sleep 0.3
    rm -rf "$WORK"
}
trap cleanup EXIT
wait_for() { for _ in $(seq 300); do "$@" > /dev/null 2>&1 && return 0; sleep 0.1; done; echo "never ready: $*" >&2; exit 1; }

node scripts/cache-conformance/origin.js $ORIGIN > "$WORK/origin.log" 2>&1 &
pids+=($!)
sed -e "s|__DIR__|$WORK|g" -e "s|__ORIGIN__|$ORIGIN|g" -e "s|__PORT__|$NGINX|g" \
    scripts/cache-conformance/nginx.conf > "$WORK/nginx.conf"
nginx -c "$WORK/nginx.conf" -e "$WORK/nginx.error.log"
"$CONSUL" agent -dev -log-level=error -node=conformance -data-dir="$WORK/consul" -http-port=$CONSUL_PORT \
    -dns-port=-1 -grpc-port=-1 -grpc-tls-port=-1 -serf-lan-port=28611 -serf-wan-port=28612 -server-port=28610 \
    > "$WORK/consul.log" 2>&1 &
pids+=($!)
wait_for curl -fsS "http://127.0.0.1:$CONSUL_PORT/v1/status/leader"
curl -fsS -X PUT "http://127.0.0.1:$CONSUL_PORT/v1/agent/service/register" -d "{
  \"ID\": \"origin-1\", \"Name\": \"origin\", \"Address\": \"127.0.0.1\", \"Port\": $ORIGIN,
  \"Tags\": [\"portico.route=/p\", \"portico.cache=true\"], \"Check\": {\"TTL\": \"1h\", \"Status\": \"passing\"}}"
RUST_LOG=warn target/debug/portico --listen "127.0.0.1:$PORTICO" --admin-listen "127.0.0.1:$ADMIN" \
    --consul "http://127.0.0.1:$CONSUL_PORT" --register false > "$WORK/portico.log" 2>&1 &
pids+=($!)
wait_for sh -c "curl -fsS http://127.0.0.1:$ADMIN/admin/routes | grep -q origin-1"
wait_for curl -fsS "http://127.0.0.1:$ORIGIN/__stats/ready"

python3 scripts/cache-conformance/driver.py "http://127.0.0.1:$PORTICO" /p "http://127.0.0.1:$ORIGIN" > "$WORK/portico.json"
python3 scripts/cache-conformance/driver.py "http://127.0.0.1:$NGINX" /n "http://127.0.0.1:$ORIGIN" > "$WORK/nginx.json"
python3 - "$WORK/portico.json" "$WORK/nginx.json" << 'PY'
import json, sys
portico, nginx = (json.load(open(p)) for p in sys.argv[1:3])
mark = lambda ok: "pass" if ok else "fail"
print("| scenario | Portico | nginx proxy_cache |")
print("|---|---|---|")
for name in portico:
    print(f"| {name} | {mark(portico[name])} | {mark(nginx.get(name, False))} |")
print(f"| **total** | **{sum(portico.values())}/{len(portico)}** | **{sum(nginx.values())}/{len(nginx)}** |")
PY
