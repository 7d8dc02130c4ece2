#!/usr/bin/env bash
# Checks the deployment files with the validators that can run here:
#   - docker-compose.yml, with and without the `replicas` profile
#     (`docker-compose config`, which resolves and checks the whole file);
#   - the Nomad system job (scripts/deploy/nomad): `nomad job validate` when
#     Nomad is installed, else HashiCorp's HCL parser (Nomad is not open
#     source from 1.7 on, so it is not installed by this project);
#   - the Kubernetes DaemonSet (scripts/deploy/kubernetes): decoded strictly
#     into the Kubernetes API types (`kubectl --dry-run` needs a cluster);
#   - the Dockerfile's dependency layer: the manifests alone, with the stubs
#     scripts/lib/stub-targets.sh makes, must be a workspace cargo accepts
#     (a bench or binary the stubs miss breaks `docker compose up --build`).
# The parsers are a small Go program (scripts/deploy/deploycheck), built
# from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

stubbed=$(mktemp -d)
trap 'rm -rf "$stubbed"' EXIT
for manifest in Cargo.toml Cargo.lock services/Cargo.toml tests/support/Cargo.toml; do
    mkdir -p "$stubbed/$(dirname "$manifest")" && cp "$manifest" "$stubbed/$manifest"
done
(cd "$stubbed" && sh "$OLDPWD/scripts/lib/stub-targets.sh" \
    && cargo metadata --locked --offline --no-deps --format-version 1 | python3 -c '
import json, os, sys
missing = [t["src_path"] for p in json.load(sys.stdin)["packages"] for t in p["targets"]
           if not os.path.exists(t["src_path"])]
sys.exit("missing stubs: " + ", ".join(missing) if missing else 0)') \
    || { echo "check-deploy: the Dockerfile's stubbed manifests are not a valid workspace" >&2; exit 1; }
echo "check-deploy: the Dockerfile's dependency layer stubs every target the manifests declare"

docker-compose -f docker-compose.yml config -q
docker-compose -f docker-compose.yml --profile replicas config -q
echo "check-deploy: docker-compose.yml is valid, with and without --profile replicas"

job=scripts/deploy/nomad/portico.nomad.hcl
if command -v nomad > /dev/null; then
    nomad job validate "$job"
    files=()
else
    echo "check-deploy: nomad is not installed; checking $job with the HCL parser"
    files=("../nomad/$(basename "$job")")
fi
(cd scripts/deploy/deploycheck && go run . "${files[@]}" ../kubernetes/portico-daemonset.yaml)
