#!/usr/bin/env bash
# The README's compose walkthrough, driven for real against a running Docker
# engine, with Compose v2 (`docker compose`) and Compose v1
# (`docker-compose`) where each is installed: build and start, wait until
# all six containers are healthy, buy with a token, see a cache HIT, scale
# products 1 -> 3 -> 1 under a request loop (0 failures, and Portico is not
# recreated), then `down` within the grace periods. With the first Compose
# found it also runs the `replicas` profile: two Portico replicas behind
# HAProxy in TCP mode, each listed by the other, restarted one after the
# other under a request loop with 0 failures.
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
built=""
fail() {
    echo "compose-smoke: FAILED ($compose): $*" >&2
    $compose -p portico-smoke --profile replicas logs --tail 30 >&2 || true
    $compose -p portico-smoke --profile replicas down > /dev/null 2>&1 || true
    exit 1
}

wait_healthy() {
    for _ in $(seq 240); do
        local ids healthy=0 total=0
        ids=$($compose -p portico-smoke ps -q)
        for id in $ids; do
            health=$(docker inspect -f '{{if .State.Health}}{{.State.Health.Status}}{{end}}' "$id")
            [ -n "$health" ] || continue   # no health check (HAProxy)
            total=$((total + 1))
            [ "$health" = healthy ] && healthy=$((healthy + 1))
        done
        [ "$total" -ge "$1" ] && [ "$healthy" -eq "$total" ] && return 0
        sleep 1
    done
    fail "not every container became healthy"
}

# A request loop against $1 in the background; stop_loop sets $sent and $failed.
codes=$(mktemp) stop_file=$(mktemp -u)
trap 'rm -f "$codes" "$stop_file"' EXIT
start_loop() {
    : > "$codes"
    ( i=0; while [ ! -e "$stop_file" ]; do
          i=$((i + 1)); curl -s -o /dev/null -w '%{http_code}\n' --max-time 5 "$1/products/kettle?n=$i" >> "$codes" || echo 000 >> "$codes"
      done ) &
    loop=$!
}
stop_loop() {
    touch "$stop_file"; wait "$loop"; rm -f "$stop_file"
    sent=$(wc -l < "$codes"); failed=$(grep -vc '^200$' "$codes" || true)
}

instances() { curl -fsS "http://127.0.0.1:9090/admin/routes" | python3 -c \
    'import json,sys; r=json.load(sys.stdin)["routes"]; print(next(len(x["instances"]) for x in r if x["prefix"]=="/products"))'; }

walkthrough() {
    # The image is built once per run: a second Compose reuses it (Compose v1's
    # classic builder does not share BuildKit's cache and would rebuild it all).
    local build=${built:+--no-build}
    $compose -p portico-smoke up -d "${build:---build}" > /dev/null 2>&1 || fail "up ${build:---build}"
    built=yes
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
    start_loop "$url"
    $compose -p portico-smoke up -d --scale products=3 > /dev/null 2>&1 || fail "scale to 3"
    for _ in $(seq 60); do [ "$(instances)" = 3 ] && break; sleep 1; done
    [ "$(instances)" = 3 ] || fail "Portico never routed to 3 products instances"
    $compose -p portico-smoke up -d --scale products=1 > /dev/null 2>&1 || fail "scale to 1"
    for _ in $(seq 60); do [ "$(instances)" = 1 ] && break; sleep 1; done
    stop_loop
    [ "$($compose -p portico-smoke ps -q portico)" = "$portico_before" ] || fail "scaling products recreated Portico"
    [ "$failed" = 0 ] || fail "$failed of $sent requests failed while scaling 1 -> 3 -> 1"
    echo "compose-smoke ($compose): scaled products 1 -> 3 -> 1: $sent requests, 0 failed, Portico untouched"

    started=$SECONDS
    $compose -p portico-smoke down > /dev/null 2>&1 || fail "down"
    echo "compose-smoke ($compose): down in $((SECONDS - started)) s"
}

# HAProxy's official image, or where Docker Hub cannot be reached, a stand-in
# with the same layout built from Debian's haproxy 2.6 package.
haproxy_image() {
    docker image inspect haproxy:2.6 > /dev/null 2>&1 && return 0
    docker pull -q haproxy:2.6 > /dev/null 2>&1 && return 0
    echo "compose-smoke: haproxy:2.6 cannot be pulled; building a stand-in from Debian's haproxy package"
    printf '%s\n' 'FROM debian:bookworm-slim' \
        'RUN apt-get update -q && apt-get install -y -q --no-install-recommends haproxy && rm -rf /var/lib/apt/lists/* && mkdir -p /usr/local/etc/haproxy' \
        'CMD ["haproxy", "-W", "-db", "-f", "/usr/local/etc/haproxy/haproxy.cfg"]' \
        | docker build -q -t haproxy:2.6 - > /dev/null
}

replicas() { curl -fsS "http://127.0.0.1:9090/admin/replicas" | python3 -c \
    'import json,sys; print(json.load(sys.stdin)["count"])'; }

replicas_walkthrough() {
    local profile="$compose -p portico-smoke --profile replicas"
    haproxy_image || fail "no haproxy:2.6 image"
    $profile up -d > /dev/null 2>&1 || fail "up with --profile replicas"
    wait_healthy 7
    for _ in $(seq 60); do [ "$(replicas)" = 2 ] && break; sleep 1; done
    [ "$(replicas)" = 2 ] || fail "the replicas do not list each other"
    curl -fsS -o /dev/null http://127.0.0.1:8088/products || fail "nothing answers through HAProxy on :8088"
    echo "compose-smoke ($compose): two replicas list each other; HAProxy on :8088 answers"
    start_loop http://127.0.0.1:8088
    for replica in portico-2 portico; do
        $profile restart "$replica" > /dev/null 2>&1 || fail "restart $replica"
        wait_healthy 7
        for _ in $(seq 60); do [ "$(replicas 2> /dev/null)" = 2 ] && break; sleep 1; done
    done
    sleep 2   # HAProxy takes a replica back after two passing checks
    stop_loop
    [ "$failed" = 0 ] || fail "$failed of $sent requests through HAProxy failed during the rolling restart"
    echo "compose-smoke ($compose): rolling restart of both replicas behind HAProxy: $sent requests, 0 failed"
    $profile down > /dev/null 2>&1 || fail "down with --profile replicas"
}

for compose in "${composes[@]}"; do walkthrough; done
if [ ${#composes[@]} -gt 0 ]; then
    compose=${composes[0]}
    replicas_walkthrough
    echo "compose-smoke: done in $SECONDS s"
fi
[ ${#composes[@]} -gt 0 ] || echo "compose-smoke: skipped: neither docker compose nor docker-compose is installed"
