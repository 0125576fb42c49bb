#!/usr/bin/env bash
# Upstream proxy benchmark: cold pull through a Pallet proxy vs straight from the upstream
# (CNCF Distribution), warm pull through the proxy vs a Pallet local registry. Builds Pallet
# (the bench runs dist/main.js), then runs bench/proxy.ts. Sizes: BENCH_PROXY_LAYERS (5),
# BENCH_PROXY_LAYER_MIB (100), BENCH_PROXY_ROUNDS (5), BENCH_PROXY_PARALLEL (1). Quick run:
#   BENCH_PROXY_LAYER_MIB=20 BENCH_PROXY_ROUNDS=1 npm run bench:proxy
set -euo pipefail
cd "$(dirname "$0")/.."
command -v "${BENCH_DISTRIBUTION_BIN:-/usr/bin/docker-registry}" >/dev/null || { echo "bench:proxy: docker-registry is not installed" >&2; exit 1; }
npm run build >&2
exec node --import tsx bench/proxy.ts
