#!/usr/bin/env bash
# The README's compose walkthrough, driven for real against a running Docker
# engine, with Compose v2 (`docker compose`) and Compose v1
# (`docker-compose`) where each is installed: build and start, wait until
# all six containers are healthy, buy with a token, see a cache HIT, scale
# products 1 -> 3 -> 1 under a request loop (0 failures, and Portico is not
# recreated), then `down` within the grace periods.
# Without a Docker engine it says so and exits 0.
set -euo pipefail
cd "$(dirname "$0")/.."
if ! docker info > /dev/null 2>&1; then
    echo "compose-smoke: skipped: no Docker engine is running"
    exit 0
fi
composes=()
docker compose version > /dev/null 2>&1 && composes+=("docker compose")
command -v docker-compose > /dev/null && composes+=("docker-compose")
url=http://127.0.0.1:8080
fail() { echo "compose-smoke: FAILED ($compose): $*" >&2; $compose -p portico-smoke logs --tail 30 >&2 || true; exit 1; }

wait_healthy() {
    for _ in $(seq 240); do
        local ids healthy=0 total=0
        ids=$($compose -p portico-smoke ps -q)
        for id in $ids; do
            total=$((total + 1))
            [ "$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")" = healthy ] && healthy=$((healthy + 1))
        done
        [ "$total" -ge "$1" ] && [ "$healthy" -eq "$total" ] && return 0
        sleep 1
    done
    fail "not every container became healthy"
}

instances() { curl -fsS "http://127.0.0.1:9090/admin/routes" | python3 -c \
    'import json,sys; r=json.load(sys.stdin)["routes"]; print(next(len(x["instances"]) for x in r if x["prefix"]=="/products"))'; }

walkthrough() {
    $compose -p portico-smoke up -d --build > /dev/null 2>&1 || fail "up --build"
    wait_healthy 6
    echo "compose-smoke ($compose): six containers healthy"
    curl -fsS -X POST "$url/cart/alice/items" -H 'content-type: application/json' \
        -d '{"product_id": "kettle", "quantity": 1}' > /dev/null || fail "add to cart"
    status=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$url/checkout" -H 'content-type: application/json' \
        -H "Authorization: Bearer $(scripts/token.sh alice)" -d '{"cart_id": "alice"}')
    [ "$status" = 201 ] || fail "checkout with a token answered $status"
    verdicts=$(for _ in 1 2; do curl -s -o /dev/null -D - "$url/products" | tr -d '\r' | awk -F': ' 'tolower($1)=="x-cache"{print $2}'; done | tr '\n' ' ')
    [[ "$verdicts" == *HIT* ]] || fail "no cache HIT on the product list: $verdicts"
    echo "compose-smoke ($compose): bought with a token; product list: $verdicts"

    portico_before=$($compose -p portico-smoke ps -q portico)
    rm -f /tmp/compose-smoke.codes
    ( i=0; while [ ! -e /tmp/compose-smoke.stop ]; do
          i=$((i + 1)); curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "$url/products/kettle?n=$i" >> /tmp/compose-smoke.codes || echo 000 >> /tmp/compose-smoke.codes
      done ) &
    loop=$!
    $compose -p portico-smoke up -d --scale products=3 > /dev/null 2>&1 || fail "scale to 3"
    for _ in $(seq 60); do [ "$(instances)" = 3 ] && break; sleep 1; done
    [ "$(instances)" = 3 ] || fail "Portico never routed to 3 products instances"
    $compose -p portico-smoke up -d --scale products=1 > /dev/null 2>&1 || fail "scale to 1"
    for _ in $(seq 60); do [ "$(instances)" = 1 ] && break; sleep 1; done
    touch /tmp/compose-smoke.stop; wait "$loop"; rm -f /tmp/compose-smoke.stop
    sent=$(wc -l < /tmp/compose-smoke.codes); failed=$(grep -vc '^200$' /tmp/compose-smoke.codes || true)
    [ "$($compose -p portico-smoke ps -q portico)" = "$portico_before" ] || fail "scaling products recreated Portico"
    [ "$failed" = 0 ] || fail "$failed of $sent requests failed while scaling 1 -> 3 -> 1"
    echo "compose-smoke ($compose): scaled products 1 -> 3 -> 1: $sent requests, 0 failed, Portico untouched"

    started=$SECONDS
    $compose -p portico-smoke down > /dev/null 2>&1 || fail "down"
    echo "compose-smoke ($compose): down in $((SECONDS - started)) s"
}

for compose in "${composes[@]}"; do walkthrough; done
[ ${#composes[@]} -gt 0 ] || echo "compose-smoke: skipped: neither docker compose nor docker-compose is installed"
