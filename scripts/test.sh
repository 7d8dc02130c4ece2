#!/usr/bin/env bash
# The one test command (README, CI): makes a real Consul v1.14.11 available
# (built once from the Go module proxy, then cached), then runs every test of
# the workspace. Extra arguments go to `cargo test`, e.g. `scripts/test.sh --test gateway_routing`.
set -euo pipefail
cd "$(dirname "$0")/.."
CONSUL_BIN=$(scripts/install-consul.sh | tail -n 1)
export CONSUL_BIN
echo "test: using $("$CONSUL_BIN" version | head -n 1) at $CONSUL_BIN"
cargo test --workspace --locked "$@"
