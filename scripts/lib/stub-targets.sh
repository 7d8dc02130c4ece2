#!/bin/sh
# Stub sources for every target the workspace's manifests declare, so that
# the Dockerfile can build the dependencies from the manifests alone, in a
# layer of their own. The targets are read from the manifests, not listed
# here: a bench or binary added later needs no edit of this file
# (scripts/check-deploy.sh checks that nothing is missed).
# Usage, in a directory holding only the manifests: sh stub-targets.sh
set -eu
stub() {
    mkdir -p "$(dirname "$1")"
    case "$1" in
        */lib.rs) touch "$1" ;;
        *) echo 'fn main() {}' > "$1" ;;
    esac
}
for manifest in Cargo.toml services/Cargo.toml tests/support/Cargo.toml; do
    dir=$(dirname "$manifest")
    stub "$dir/src/lib.rs"
    for path in $(sed -n 's/^path *= *"\(.*\.rs\)"/\1/p' "$manifest"); do
        stub "$dir/$path"
    done
    for bench in $(sed -n '/^\[\[bench\]\]/,/^$/s/^name *= *"\(.*\)"/\1/p' "$manifest"); do
        [ -e "$dir/benches/$bench.rs" ] || stub "$dir/benches/$bench.rs"
    done
done
