#!/usr/bin/env bash
# End-to-end check of the no-Docker demo, as a user would drive it: start
# scripts/demo.sh, buy something, scale products to 3 and watch the spread
# with scripts/traffic.sh, scale back to 1, then Ctrl-C and check that nothing
# is left running. Uses its own ports and state directory.
set -euo pipefail
cd "$(dirname "$0")/.."
export PORTICO_PROFILE=${PORTICO_PROFILE:-dev}
export CONSUL_PORT=${SMOKE_CONSUL_PORT:-18500} PORTICO_PORT=${SMOKE_PORTICO_PORT:-18080} ADMIN_PORT=${SMOKE_ADMIN_PORT:-19090}
export PORTICO_DEMO_DIR
PORTICO_DEMO_DIR=$(mktemp -d)
url=http://127.0.0.1:$PORTICO_PORT
out=$PORTICO_DEMO_DIR.out

fail() {
    echo "smoke: FAILED: $*" >&2
    tail -n 40 "$out" >&2 || true
    exit 1
}

scripts/demo.sh > "$out" 2>&1 &
demo=$!
cleanup() { kill -TERM "$demo" 2>/dev/null || true; wait "$demo" 2>/dev/null || true; }
trap cleanup EXIT

for _ in $(seq 1800); do
    grep -q "demo: ready" "$out" && break
    kill -0 "$demo" 2>/dev/null || fail "demo.sh exited early"
    sleep 0.2
done
grep -q "demo: ready" "$out" || fail "demo not ready in 6 minutes"
echo "smoke: demo is up"

curl -fsS -X POST "$url/cart/smoke/items" -H 'content-type: application/json' \
    -d '{"product_id": "kettle", "quantity": 1}' > /dev/null || fail "add to cart"
checkout() { curl -s -o /dev/null -w '%{http_code}' -X POST "$url/checkout" -H 'content-type: application/json' -d '{"cart_id": "smoke"}' "$@"; }
status=$(checkout)
[ "$status" = 401 ] || fail "checkout without credentials answered $status, not 401"
status=$(checkout -H "Authorization: Bearer $(scripts/token.sh smoke@example.com 60)")
[ "$status" = 201 ] || fail "checkout with a token from scripts/token.sh answered $status"
echo "smoke: bought a kettle with a token"
x_cache() { curl -s -o /dev/null -D - "$@" "$url/products" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-cache" { print $2 }'; }
cache="$(x_cache -H 'Cache-Control: no-cache'),$(x_cache)"
[ "$cache" = "MISS,HIT" ] || fail "product list cache (refresh, then read): $cache"
echo "smoke: product list served from the cache on the second request"

# The README's rate-limit example: one curl, 300 requests on one connection,
# fast enough on any machine to go past the burst.
codes=$(curl -s -w '%{http_code}\n' $(for _ in $(seq 300); do echo "-o /dev/null $url/search?q=mug"; done) | sort | uniq -c)
grep -q ' 429$' <<< "$codes" || fail "no 429 from 300 quick searches: $codes"
echo "smoke: search is rate limited: $(tr -s ' \n' ' ' <<< "$codes")"

scripts/scale.sh products 3 | tee -a "$out" | grep -q "routes /products to 3" || fail "scale up to 3"
spread=$(scripts/traffic.sh /products 2 | tail -n 1)
echo "smoke: $spread"
[ "$(grep -o 'products-[^=]*=' <<< "$spread" | sort -u | wc -l)" -eq 3 ] || fail "traffic not spread over 3 instances: $spread"
grep -q "failed=0" <<< "$spread" || fail "requests failed: $spread"

scripts/scale.sh products 1 | tee -a "$out" | grep -q "routes /products to 1" || fail "scale down to 1"
echo "smoke: scaled 3 -> 1"

instance() { curl -s -o /dev/null -D - "$@" | tr -d '\r' | awk -F': ' 'tolower($1) == "x-instance-id" { print $2 }'; }
on_catalog=$(instance -H 'Host: catalog.localhost' "$url/cart/smoke")
[[ "$on_catalog" == products-* ]] || fail "Host catalog.localhost should route everything to products, got '$on_catalog'"
echo "smoke: host routing: catalog.localhost/cart/smoke answered by $on_catalog"

replicas=$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/admin/replicas")
python3 -c 'import json, sys; r = json.load(sys.stdin); sys.exit(0 if r["count"] == 1 and r["replicas"][0]["self"] else 1)' \
    <<< "$replicas" || fail "the gateway should list itself as the one live replica, got $replicas"
echo "smoke: the gateway registered itself in Consul as the one live replica"

scripts/canary.sh products 50% --failing | tee -a "$out" | grep -q "takes 50%" || fail "start a canary"
for i in $(seq 0 99); do curl -s -o /dev/null -b "portico_canary=$((i * 100))" "$url/products"; done
routes=$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/admin/routes")
grep -q '"effective_share":"0%"' <<< "$routes" || fail "the failing canary was not aborted"
status=$(curl -s -o /dev/null -w '%{http_code}' -b portico_canary=0 "$url/products")
[ "$status" = 200 ] || fail "a canary-side client got $status after the abort, not 200 from a stable instance"
echo "smoke: a failing canary at 50% was aborted; its clients are back on the stable side"
scripts/canary.sh products off | tee -a "$out" | grep -q "stopped" || fail "stop the canary"

kill -TERM "$demo" # what Ctrl-C does; a background job ignores SIGINT
wait "$demo" || true
trap - EXIT
grep -q "demo: stopped" "$out" || fail "demo did not stop cleanly"
if pgrep -f "$PORTICO_DEMO_DIR" > /dev/null || curl -s --max-time 1 "$url" > /dev/null; then
    fail "processes left behind"
fi
grep -q "deregistering first" "$out" || fail "services did not deregister on stop"
rm -rf "$PORTICO_DEMO_DIR" "$out"
echo "smoke: passed"
