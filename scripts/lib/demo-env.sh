# Shared by demo.sh, scale.sh and traffic.sh: where the demo keeps its state,
# the environment every process gets (the same names docker-compose.yml uses),
# and how processes are started and stopped.

DEMO_DIR=${PORTICO_DEMO_DIR:-.demo}
CONSUL_PORT=${CONSUL_PORT:-8500}
PORTICO_PORT=${PORTICO_PORT:-8080}
ADMIN_PORT=${ADMIN_PORT:-9090}
PORTICO_PROFILE=${PORTICO_PROFILE:-release}
case "$PORTICO_PROFILE" in
    dev) BIN_DIR=target/debug ;;
    *) BIN_DIR=target/$PORTICO_PROFILE ;;
esac

export CONSUL_HTTP_ADDR=http://127.0.0.1:$CONSUL_PORT
export PORTICO_URL=http://127.0.0.1:$PORTICO_PORT
export PORTICO_LISTEN=127.0.0.1:$PORTICO_PORT
export PORTICO_ADMIN_LISTEN=127.0.0.1:$ADMIN_PORT
export SHOP_LISTEN=127.0.0.1:0
export SHOP_DRAIN=${SHOP_DRAIN:-2s}
# Demo credentials for the checkout route (docker-compose.yml uses the same).
# Anything real sets its own: PORTICO_API_KEYS is identity=key pairs, the JWT
# secret is at least 32 bytes. scripts/token.sh signs tokens with this secret.
export DEMO_API_KEY=${DEMO_API_KEY:-demo-key-0123456789abcdef}
export PORTICO_API_KEYS=${PORTICO_API_KEYS:-demo=$DEMO_API_KEY}
export PORTICO_JWT_SECRET=${PORTICO_JWT_SECRET:-demo-jwt-secret-change-me-0123456789}

# Records the settings so scale.sh and traffic.sh find the running demo.
save_env() {
    {
        echo "CONSUL_PORT=$CONSUL_PORT"
        echo "PORTICO_PORT=$PORTICO_PORT"
        echo "ADMIN_PORT=$ADMIN_PORT"
        echo "PORTICO_PROFILE=$PORTICO_PROFILE"
    } > "$DEMO_DIR/env"
}

# Reloads what save_env recorded; fails when no demo is running.
load_env() {
    if [ ! -f "$DEMO_DIR/env" ]; then
        echo "no demo is running here: start scripts/demo.sh first" >&2
        exit 1
    fi
    # shellcheck disable=SC1091
    source "$DEMO_DIR/env"
    export CONSUL_HTTP_ADDR=http://127.0.0.1:$CONSUL_PORT
    export PORTICO_URL=http://127.0.0.1:$PORTICO_PORT
    case "$PORTICO_PROFILE" in
        dev) BIN_DIR=target/debug ;;
        *) BIN_DIR=target/$PORTICO_PROFILE ;;
    esac
}

# launch NAME CMD...: runs CMD in the background in a session of its own (so
# Ctrl-C reaches only the script, which then stops everything in order),
# output in $DEMO_DIR/logs/NAME.log, pid in $DEMO_DIR/pids/NAME.pid.
launch() {
    local name=$1
    shift
    setsid "$@" >> "$DEMO_DIR/logs/$name.log" 2>&1 < /dev/null &
    echo $! > "$DEMO_DIR/pids/$name.pid"
}

# follow NAME: shows NAME's log on this terminal, each line prefixed [NAME].
follow() {
    tail -n +1 -F "$DEMO_DIR/logs/$1.log" 2> /dev/null | sed -u "s/^/[$1] /" &
}

# start_instance SERVICE: one more instance, named SERVICE-N; prints the name.
start_instance() {
    local service=$1 n=1
    while [ -e "$DEMO_DIR/pids/$service-$n.pid" ]; do n=$((n + 1)); done
    launch "$service-$n" "$BIN_DIR/$service"
    echo "$service-$n"
}

# stop_pids FILE...: SIGTERM each process, wait for all, remove the files.
stop_pids() {
    local file pids=()
    for file in "$@"; do
        [ -s "$file" ] || continue
        pids+=("$(cat "$file")")
        kill -TERM "$(cat "$file")" 2>/dev/null || true
    done
    for pid in "${pids[@]}"; do
        while kill -0 "$pid" 2>/dev/null; do sleep 0.1; done
    done
    for file in "$@"; do rm -f "$file"; done
}

# wait_for WHAT URL TEXT: until GET URL returns a body containing TEXT (60 s).
wait_for() {
    local what=$1 url=$2 text=$3 i
    for i in $(seq 600); do
        if curl -fsS --max-time 2 "$url" 2>/dev/null | grep -q "$text"; then
            return 0
        fi
        sleep 0.1
    done
    echo "demo: $what did not come up ($url)" >&2
    return 1
}
