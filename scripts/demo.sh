#!/usr/bin/env bash
# The no-Docker `docker compose up`: a real Consul dev agent, Portico and one
# instance of each shop service as local processes, with the same environment
# variables as docker-compose.yml. Logs are prefixed by process. Ctrl-C stops
# everything cleanly: the services deregister first, then Portico drains, then
# Consul stops.
#
#   scripts/demo.sh                  # then, in another terminal:
#   scripts/scale.sh products 3      # start or stop instances
#   scripts/traffic.sh /products     # watch the spread
#
# Ports (override with env): CONSUL_PORT=8500 PORTICO_PORT=8080 ADMIN_PORT=9090.
# PORTICO_PROFILE=dev uses a debug build (faster to build, slower to run).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/lib/demo-env.sh

if [ -s "$DEMO_DIR/pids/portico.pid" ] && kill -0 "$(cat "$DEMO_DIR/pids/portico.pid")" 2>/dev/null; then
    echo "demo: already running (pid $(cat "$DEMO_DIR/pids/portico.pid")); stop it first" >&2
    exit 1
fi
rm -rf "$DEMO_DIR" && mkdir -p "$DEMO_DIR/pids" "$DEMO_DIR/logs"
CONSUL=$(scripts/install-consul.sh | tail -n 1)
echo "demo: building ($PORTICO_PROFILE)"
cargo build --locked --profile "$PORTICO_PROFILE" -p portico -p portico-shop --bins
save_env

stop_all() {
    trap - INT TERM EXIT
    echo "demo: stopping the shop (each instance deregisters, then drains)"
    stop_pids "$DEMO_DIR"/pids/{products,cart,checkout,search}-*.pid
    echo "demo: stopping portico"
    stop_pids "$DEMO_DIR/pids/portico.pid"
    echo "demo: stopping consul"
    stop_pids "$DEMO_DIR/pids/consul.pid"
    echo "demo: stopped"
    # shellcheck disable=SC2046
    kill $(jobs -p) 2> /dev/null || true
}
trap stop_all INT TERM EXIT

launch consul "$CONSUL" agent -dev -log-level=warn -node=portico-demo -data-dir="$DEMO_DIR/consul" \
    -http-port="$CONSUL_PORT" -client=127.0.0.1 -bind=127.0.0.1
follow consul
wait_for "consul" "$CONSUL_HTTP_ADDR/v1/status/leader" '"'
launch portico "$BIN_DIR/portico"
follow portico
wait_for "portico" "http://127.0.0.1:$ADMIN_PORT/healthz" ok
for service in products cart checkout search; do
    follow "$(start_instance "$service")"
done
wait_for "the shop" "$PORTICO_URL/products" espresso

cat <<MSG
demo: ready.
  shop          $PORTICO_URL/products  /cart/<id>  /checkout  /search?q=...
  routes        http://127.0.0.1:$ADMIN_PORT/admin/routes
  consul UI     $CONSUL_HTTP_ADDR/ui
  scale         scripts/scale.sh products 3
  watch         scripts/traffic.sh /products
  stop          Ctrl-C
  logs          $DEMO_DIR/logs/ (instances started by scale.sh log only there)
MSG
wait
