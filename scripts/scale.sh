#!/usr/bin/env bash
# scripts/scale.sh SERVICE N: starts or stops (SIGTERM: deregister, drain,
# exit) local instances of a shop service until N run. Needs scripts/demo.sh
# running. The no-Docker `docker compose up --scale SERVICE=N`.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-env.sh
service=${1:-}
want=${2:-}
case "$service" in
    products | cart | checkout | search) ;;
    *) echo "usage: scripts/scale.sh products|cart|checkout|search N" >&2; exit 2 ;;
esac
if ! [[ "$want" =~ ^[0-9]+$ ]]; then
    echo "usage: scripts/scale.sh $service N (N a whole number)" >&2
    exit 2
fi
load_env

running() {
    local file
    for file in "$DEMO_DIR"/pids/"$service"-*.pid; do
        [ -s "$file" ] && kill -0 "$(cat "$file")" 2>/dev/null && echo "$file"
    done
    return 0
}

mapfile -t now < <(running | sort -V)
have=${#now[@]}
if [ "$have" -lt "$want" ]; then
    for _ in $(seq $((want - have))); do
        start_instance "$service" > /dev/null
    done
    echo "scale: started $((want - have)) $service instance(s); logs in $DEMO_DIR/logs/"
elif [ "$have" -gt "$want" ]; then
    stop_pids "${now[@]:$want}"
    echo "scale: stopped $((have - want)) $service instance(s) (deregistered, drained)"
fi
for _ in $(seq 100); do
    count=$(curl -fsS "http://127.0.0.1:$ADMIN_PORT/admin/routes" 2>/dev/null |
        grep -o "\"id\":\"$service-[^\"]*\"" | sort -u | wc -l)
    [ "$count" -eq "$want" ] && break
    sleep 0.1
done
echo "scale: portico routes /$service to $count instance(s)"
