#!/usr/bin/env bash
# Pallet vs CNCF Distribution, side by side: builds Pallet (the bench runs dist/main.js), then
# runs bench/bench.ts. Sizes: BENCH_BLOB_MIB (1024), BENCH_CHUNK_MIB (64), BENCH_SMALL_COUNT (1000),
# BENCH_WRK_SECONDS (10). Quick smoke run:
#   BENCH_BLOB_MIB=64 BENCH_SMALL_COUNT=100 BENCH_WRK_SECONDS=2 npm run bench
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in wrk "${BENCH_DISTRIBUTION_BIN:-/usr/bin/docker-registry}"; do
  command -v "$tool" >/dev/null || { echo "bench: $tool is not installed" >&2; exit 1; }
done
npm run build >&2
exec node --import tsx bench/bench.ts
