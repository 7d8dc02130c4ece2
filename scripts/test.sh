#!/usr/bin/env bash
# The one test command (README, CI). On a fresh machine it installs what the
# tests need: a real Consul v1.14.11 (built once from the Go module proxy, then
# cached) and the Debian packages curl, openssl (RSA keys for JWT tests, demo
# tokens), docker-compose, chromium and chromium-driver (the dashboard is
# tested in a real headless browser), haproxy (replicas behind a layer-4
# balancer). Then it runs:
#   1. every cargo test of the workspace (unit, real-Consul integration, shop end to end);
#   2. scripts/check-deploy.sh: docker-compose.yml (with and without its
#      replicas profile), the Nomad job and the Kubernetes DaemonSet examples;
#   3. scripts/compose-smoke.sh: the compose walkthrough with Compose v2 and v1,
#      when a Docker engine is running (it says so and skips otherwise);
#   4. scripts/smoke-demo.sh: the no-Docker demo driven like a user would.
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh --test gateway_routing`.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
command -v curl > /dev/null || missing+=(curl)
command -v openssl > /dev/null || missing+=(openssl)
command -v docker-compose > /dev/null || missing+=(docker-compose)
command -v chromium > /dev/null || missing+=(chromium)
command -v chromedriver > /dev/null || missing+=(chromium-driver)
command -v haproxy > /dev/null || missing+=(haproxy)
if [ ${#missing[@]} -gt 0 ]; then
    echo "test: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" > /dev/null
fi

CONSUL_BIN=$(scripts/install-consul.sh | tail -n 1)
export CONSUL_BIN
echo "test: using $("$CONSUL_BIN" version | sed -n 1p) at $CONSUL_BIN"

cargo test --workspace --locked "$@"

if [ $# -eq 0 ]; then
    scripts/check-deploy.sh
    scripts/compose-smoke.sh   # skips itself without a running Docker engine
    scripts/smoke-demo.sh
fi
