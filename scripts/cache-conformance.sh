#!/usr/bin/env bash
# RFC 9111 conformance, side by side: the same scenarios (scripts/cache-
# conformance/driver.py) against Portico's cache, nginx's proxy_cache
# (configured as its documentation recommends), Varnish (its built-in VCL)
# and Squid (as an accelerator), all from Debian, in one run, over one
# Node.js origin that reports what reached it. Prints a table of which
# scenario each passes and the totals (the table in BENCHMARKS.md).
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v nginx > /dev/null || missing+=(nginx-light)
[ -x /usr/sbin/varnishd ] || missing+=(varnish)
[ -x /usr/sbin/squid ] || missing+=(squid)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""; [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi
cargo build --locked -p portico
CONSUL=$(scripts/install-consul.sh | tail -n 1)
WORK=$(mktemp -d)
chmod 755 "$WORK" # nginx workers (user nobody) keep their cache in it
ORIGIN=28601 NGINX=28602 PORTICO=28603 ADMIN=28604 CONSUL_PORT=28605 VARNISH=28606 SQUID=28607
pids=()
cleanup() {
    for pid in "${pids[@]}"; do kill "$pid" 2> /dev/null || true; done
    for f in nginx varnish squid; do
        [ -s "$WORK/$f.pid" ] && kill "$(cat "$WORK/$f.pid")" 2> /dev/null || true
    done
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
/usr/sbin/varnishd -a "127.0.0.1:$VARNISH" -b "127.0.0.1:$ORIGIN" -n "$WORK/varnish" -s malloc,64m \
    -P "$WORK/varnish.pid" > "$WORK/varnish.log" 2>&1
sed -e "s|__DIR__|$WORK|g" -e "s|__ORIGIN__|$ORIGIN|g" -e "s|__PORT__|$SQUID|g" \
    scripts/cache-conformance/squid.conf > "$WORK/squid.conf"
/usr/sbin/squid -f "$WORK/squid.conf" > "$WORK/squid.log" 2>&1
wait_for curl -sS -o /dev/null "http://127.0.0.1:$VARNISH/v/warm-up"
wait_for curl -sS -o /dev/null "http://127.0.0.1:$SQUID/s/warm-up"
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
python3 scripts/cache-conformance/driver.py "http://127.0.0.1:$VARNISH" /v "http://127.0.0.1:$ORIGIN" > "$WORK/varnish.json"
python3 scripts/cache-conformance/driver.py "http://127.0.0.1:$SQUID" /s "http://127.0.0.1:$ORIGIN" > "$WORK/squid.json"
python3 - "$WORK"/{portico,nginx,varnish,squid}.json << 'PY'
import json, sys
names = ["Portico", "nginx proxy_cache", "Varnish", "Squid"]
runs = [json.load(open(p)) for p in sys.argv[1:]]
mark = lambda ok: "pass" if ok else "fail"
print("| scenario | " + " | ".join(names) + " |")
print("|---" * (len(names) + 1) + "|")
for name in runs[0]:
    print(f"| {name} | " + " | ".join(mark(r.get(name, False)) for r in runs) + " |")
print("| **total** | " + " | ".join(f"**{sum(r.values())}/{len(r)}**" for r in runs) + " |")
PY
