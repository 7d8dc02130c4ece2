#!/usr/bin/env bash
# Checks the deployment files with the validators that can run here:
#   - docker-compose.yml, with and without the `replicas` profile
#     (`docker-compose config`, which resolves and checks the whole file);
#   - the Nomad system job (scripts/deploy/nomad): `nomad job validate` when
#     Nomad is installed, else HashiCorp's HCL parser (Nomad is not open
#     source from 1.7 on, so it is not installed by this project);
#   - the Kubernetes DaemonSet (scripts/deploy/kubernetes): decoded strictly
#     into the Kubernetes API types (`kubectl --dry-run` needs a cluster).
# The parsers are a small Go program (scripts/deploy/deploycheck), built
# from the Go module proxy.
set -euo pipefail
cd "$(dirname "$0")/.."

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
