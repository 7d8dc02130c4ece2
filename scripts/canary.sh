#!/usr/bin/env bash
# scripts/canary.sh SERVICE SHARE [--failing]: starts one canary instance of a
# shop service (Consul tags `portico.canary=SHARE`, meta version `canary`)
# next to the running ones; Portico sends it SHARE of the route's requests,
# however many stable instances there are. With --failing it answers every
# request with a 500: Portico aborts it (share 0) within the canary window,
# and the dashboard shows why. `scripts/canary.sh SERVICE off` stops it.
# Needs scripts/demo.sh running.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-env.sh
service=${1:-}
share=${2:-}
usage() {
    echo "usage: scripts/canary.sh products|cart|checkout|search SHARE% [--failing] | off" >&2
    exit 2
}
case "$service" in
    products | cart | checkout | search) ;;
    *) usage ;;
esac
load_env
pid_file="$DEMO_DIR/pids/$service-canary.pid"
if [ -s "$pid_file" ]; then
    stop_pids "$pid_file"
    echo "canary: stopped the $service canary (deregistered, drained)"
fi
[ "$share" = off ] && exit 0
[[ "$share" =~ ^[0-9]+(\.[0-9]{1,2})?%$ ]] || usage
fail_rate=0
[ "${3:-}" = --failing ] && fail_rate=1
SHOP_TAGS="portico.canary=$share" SHOP_VERSION=canary SHOP_FAIL_RATE=$fail_rate \
    launch "$service-canary" "$BIN_DIR/$service"
for _ in $(seq 100); do
    if curl -fsS "http://127.0.0.1:$ADMIN_PORT/admin/routes" 2>/dev/null | grep -q '"canary":{'; then
        echo "canary: $service canary takes $share of /$service (fail rate $fail_rate); logs in $DEMO_DIR/logs/$service-canary.log"
        echo "canary: watch it on http://127.0.0.1:$ADMIN_PORT/admin/dashboard"
        exit 0
    fi
    sleep 0.1
done
echo "canary: Portico does not show the canary after 10 s; see $DEMO_DIR/logs/$service-canary.log" >&2
exit 1
