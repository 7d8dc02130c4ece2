#!/usr/bin/env bash
# scripts/traffic.sh [PATH] [SECONDS]: sends GET PATH through Portico (default
# /products for 60 s) and prints, every second, how many responses each
# instance (X-Instance-Id) answered and how many failed, so the spread is
# visible while you scale. It sends `Cache-Control: no-cache`, so a cached
# route (the product list is) still reaches an instance on every request and
# the spread shows; the answers still refresh Portico's cache.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-env.sh
if [ -f "$DEMO_DIR/env" ]; then load_env; fi
path=${1:-/products}
duration=${2:-60}
batch=${TRAFFIC_BATCH:-40}
url="${PORTICO_URL}${path}"
urls=()
for _ in $(seq "$batch"); do urls+=("$url"); done

end=$((SECONDS + duration))
while [ "$SECONDS" -lt "$end" ]; do
    tick=$SECONDS
    # A request that got no answer at all (Portico unreachable, a reset)
    # counts as failed too: sent is what was sent, not what came back.
    counts=$({ curl -s -i --max-time 5 -H 'Cache-Control: no-cache' "${urls[@]}" 2>/dev/null || true; } |
        tr -d '\r' | awk -v sent="$batch" '
        tolower($0) ~ /^http\/[0-9.]+ / && $2 !~ /^1/ { if ($2 ~ /^2/) ok++ }
        tolower($0) ~ /^x-instance-id:/ { split($0, kv, ": "); seen[kv[2]]++ }
        END {
            line = ""
            for (id in seen) line = line sprintf("  %s=%d", id, seen[id])
            printf "sent=%d failed=%d%s\n", sent, sent - ok, line
        }')
    echo "$(date +%H:%M:%S) $path $counts"
    while [ "$SECONDS" -eq "$tick" ]; do sleep 0.05; done
done
