# What the benchmark scripts share (bench.sh, bench-count.sh, bench-grpc.sh):
# installing their tools from Debian, building what they measure (Portico,
# the floor, Consul) and an older Portico for an A/B run. Sourced, from the
# repository root.

# install_tools LABEL TOOL...: installs, from Debian, the tools not found.
install_tools() {
    local label=$1 tool packages=()
    shift
    for tool in "$@"; do
        command -v "$tool" > /dev/null && continue
        case "$tool" in
            nginx) packages+=(nginx-light) ;;
            h2load) packages+=(nghttp2-client) ;;
            *) packages+=("$tool") ;;
        esac
    done
    install_missing "$label" "${packages[@]}"
}

# build_proxies LABEL [BASELINE]: builds Portico, the floor (FLOOR_BIN) and
# Consul (CONSUL); with BASELINE, that revision's Portico too, and adds the
# target portico-base to TARGETS.
build_proxies() {
    echo "$1: building Portico and the floor (release)"
    cargo build --release --locked -p portico
    FLOOR_BIN=$(floor_binary)
    CONSUL=$(scripts/install-consul.sh | tail -n 1)
    if [ -n "${2:-}" ]; then
        build_baseline "$1" "$2"
        case " $TARGETS " in *" portico-base "*) ;; *) TARGETS="$TARGETS portico-base" ;; esac
    fi
}

# install_missing LABEL PACKAGE...: installs the Debian packages given (none: nothing to do).
install_missing() {
    local label=$1 sudo=""
    shift
    [ $# -gt 0 ] || return 0
    echo "$label: installing $*"
    [ "$(id -u)" -eq 0 ] || sudo=sudo
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$@" > /dev/null
}

# floor_binary: builds the floor (benches/support/floor.rs) and prints its path.
floor_binary() {
    cargo bench --locked --bench floor --no-run --message-format=json 2> /dev/null |
        python3 -c 'import json,sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m["target"]["name"] == "floor" and m.get("executable"):
        print(m["executable"])'
}

# build_baseline LABEL REVISION: builds that revision's portico into
# target/bench-baseline/release/portico.
build_baseline() {
    echo "$1: building the baseline $2 (release)"
    rm -rf target/bench-baseline-src
    git worktree add -f --detach target/bench-baseline-src "$2" > /dev/null
    (cd target/bench-baseline-src && CARGO_TARGET_DIR=../bench-baseline cargo build --release --locked -p portico)
    git worktree remove --force target/bench-baseline-src
}
