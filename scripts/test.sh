#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages, when missing), type-checks,
# then runs every *.test.ts under src/ and test/ with Node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npx tsc -p tsconfig.json --noEmit
npx tsc -p web/tsconfig.json
mapfile -t files < <(find src test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency="${PALLET_TEST_CONCURRENCY:-2}" --test-reporter=spec "${files[@]}"
