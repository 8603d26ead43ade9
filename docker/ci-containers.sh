#!/usr/bin/env bash
# CI's container step (README "Containers"): when a Docker engine answers, builds the base
# images by the offline path (only those missing), the image under a tag of its own, and runs a
# short `pygmy chaos --compose` with kills, pauses and network partitions against it. Removes
# what it made (the image, the project and its volumes, base images it built) on every exit.
# Without an engine it says so in one line and does nothing.
#   docker/ci-containers.sh [SECONDS] [SEED]
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
seed=${2:-20261203}

if ! docker info >/dev/null 2>&1; then
    echo "containers: skipped, no Docker engine answers (docker info)"
    exit 0
fi
say() { printf '[ci-containers] %s\n' "$*" >&2; }
if docker compose version >/dev/null 2>&1; then compose=(docker compose); else compose=(docker-compose); fi

made_base=()
for base in debian:bookworm-slim rust:1.95-bookworm; do
    docker image inspect "$base" >/dev/null 2>&1 || made_base+=("$base")
done
tag=pygmy-ci:$$
project=pygmyci$$
created_secrets=0
[[ -e docker/compose/secrets.env ]] || created_secrets=1
cleanup() {
    PYGMY_IMAGE=$tag "${compose[@]}" -f docker-compose.yml -p "$project" down -v --remove-orphans \
        >/dev/null 2>&1 || true
    docker image rm -f "$tag" >/dev/null 2>&1 || true
    # The builder stage's image and its layers (labelled with this build's tag).
    docker image prune -f --filter "label=pygmy.build=$tag" >/dev/null 2>&1 || true
    if ((${#made_base[@]})); then docker image rm -f "${made_base[@]}" >/dev/null 2>&1 || true; fi
    if ((created_secrets)); then rm -f docker/compose/secrets.env; fi
}
trap cleanup EXIT

start=$SECONDS
bash docker/local-base-images.sh
say "base images: $((SECONDS - start)) s"
start=$SECONDS
docker build -q --build-arg "PYGMY_BUILD=$tag" -t "$tag" . >/dev/null
say "image $tag: $((SECONDS - start)) s"
bash docker/compose-secrets.sh
PYGMY_IMAGE=$tag cargo run --locked --quiet --bin pygmy -- chaos --compose docker-compose.yml \
    --project "$project" --duration "${seconds}s" --seed "$seed"
