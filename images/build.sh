#!/usr/bin/env bash
# Build every K8sClaw image for one version: the two runtime images (one per distribution,
# from images/runtime/Dockerfile — the single build recipe), then each component on top.
#   images/build.sh VERSION [REGISTRY]      (default registry ghcr.io/k8sclaw)
set -euo pipefail
version=${1:?usage: images/build.sh VERSION [REGISTRY]}
registry=${2:-ghcr.io/k8sclaw}
cd "$(dirname "$0")/.."
for dist in sidecar controllers; do
  docker build -f images/runtime/Dockerfile --build-arg "PACKAGE=k8sclaw-$dist" \
    -t "$registry/runtime-$dist:$version" .
done
for dir in images/*/; do
  name=$(basename "$dir")
  [ "$name" = runtime ] && continue
  docker build --build-arg "VERSION=$version" --build-arg "REGISTRY=$registry" \
    -t "$registry/$name:$version" "$dir"
done
