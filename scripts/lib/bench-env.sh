# What the benchmark scripts share (bench.sh, bench-count.sh, bench-grpc.sh):
# installing their tools from Debian, finding the floor's binary, and
# building an older Portico for an A/B run. Sourced, from the repository root.

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
