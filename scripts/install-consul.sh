#!/usr/bin/env bash
# Makes a Consul v1.14.x binary available and prints its absolute path on the last line.
#
# Order of preference:
#   1. $CONSUL_BIN, when it reports v1.14.x;
#   2. a `consul` on PATH, when it reports v1.14.x;
#   3. a binary cached by version under ${XDG_CACHE_HOME:-$HOME/.cache}/portico/;
#   4. otherwise, build v1.14.11 from the Go module proxy into that cache.
#
# Why v1.14.11: it is the newest MPL-2.0 release whose module graph does not
# import github.com/hashicorp/consul/envoyextensions or .../troubleshoot
# (not open source; 1.15+ import both).
#
# Why a wrapper module: `go install pkg@version` refuses a module whose go.mod
# has replace directives, and Consul's has four. As a dependency those replaces
# are ignored, and the tagged api v1.18.1 / sdk v0.13.0 / proto-public v0.2.1
# modules export everything the v1.14.11 tree uses, so nothing needs pinning.
#
# Build notes for a current Go (1.23+ restricts //go:linkname):
#   - GOTOOLCHAIN=local: Consul's go line (1.20) is older than ours, never switch.
#   - the wrapper declares `go 1.20` so GODEBUG defaults keep 1.20 behaviour
#     (old ServeMux patterns, old timer channels) for the code written for it.
#   - x/net v0.17.0 (pinned by 1.14.11) no longer links to syscall.recvmsg, and
#     reflect2 v1.0.2's linknames are on the runtime's allow-list, so no
#     -checklinkname=0 is needed.
#   - CGO_ENABLED=0: static like upstream's release builds; no C toolchain needed.
set -euo pipefail

VERSION=1.14.11
COMMIT=c0c5688c
BUILD_DATE=2023-10-31T13:58:53Z
CACHE_DIR="${XDG_CACHE_HOME:-$HOME/.cache}/portico/consul-v${VERSION}"
CACHED="$CACHE_DIR/consul"

log() { echo "install-consul: $*" >&2; }

# Reads the whole output first: with pipefail, `consul version | head -n1`
# could fail on SIGPIPE and make a good binary look bad.
is_v114() {
    local out
    [ -x "$1" ] && out=$("$1" version 2>/dev/null) && [[ "$out" == "Consul v1.14."* ]]
}

if [ -n "${CONSUL_BIN:-}" ] && is_v114 "$CONSUL_BIN"; then
    log "using \$CONSUL_BIN"
    readlink -f "$CONSUL_BIN"
    exit 0
fi
if on_path=$(command -v consul 2>/dev/null) && is_v114 "$on_path"; then
    log "using consul from PATH"
    readlink -f "$on_path"
    exit 0
fi
if is_v114 "$CACHED"; then
    log "using cached build"
    echo "$CACHED"
    exit 0
fi

command -v go >/dev/null || { log "Go is needed to build Consul and was not found"; exit 1; }
log "building Consul v${VERSION} from the Go module proxy (first run only; several minutes)"
start=$(date +%s)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-buildvcs=false
cd "$work"
go mod init portico.local/consul-build >/dev/null 2>&1
go mod edit -go=1.20
go get "github.com/hashicorp/consul@v${VERSION}" >&2
mkdir -p "$CACHE_DIR"
go build -mod=mod -trimpath -o "$CACHE_DIR/consul.tmp" \
    -ldflags "-s -w -X github.com/hashicorp/consul/version.GitCommit=${COMMIT} -X github.com/hashicorp/consul/version.BuildDate=${BUILD_DATE}" \
    github.com/hashicorp/consul >&2
mv "$CACHE_DIR/consul.tmp" "$CACHED"
is_v114 "$CACHED" || { log "the built binary does not report v1.14.x"; exit 1; }
log "built Consul v${VERSION} in $(( $(date +%s) - start ))s"
echo "$CACHED"
