#!/usr/bin/env bash
# scripts/token.sh SUBJECT [TTL_SECONDS]: prints an HS256 JWT for SUBJECT,
# valid for TTL_SECONDS (default 3600), signed with $PORTICO_JWT_SECRET (the
# demo's secret unless you set your own). Use it as
#   curl -H "Authorization: Bearer $(scripts/token.sh alice)" ...
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-env.sh
subject=${1:?usage: scripts/token.sh SUBJECT [TTL_SECONDS]}
ttl=${2:-3600}
[[ "$subject" =~ ^[A-Za-z0-9@._+-]+$ ]] || { echo "token: SUBJECT may use letters, digits and @._+- only" >&2; exit 2; }
[[ "$ttl" =~ ^[0-9]+$ ]] || { echo "token: TTL_SECONDS must be a number" >&2; exit 2; }
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
header=$(printf '{"alg":"HS256","typ":"JWT"}' | b64url)
payload=$(printf '{"sub":"%s","iat":%d,"exp":%d}' "$subject" "$(date +%s)" "$(( $(date +%s) + ttl ))" | b64url)
signature=$(printf '%s.%s' "$header" "$payload" | openssl dgst -sha256 -hmac "$PORTICO_JWT_SECRET" -binary | b64url)
echo "$header.$payload.$signature"
