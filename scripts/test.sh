#!/usr/bin/env bash
# The whole test suite: installs what the tests need (Debian packages, when missing), type-checks
# (after checking that the UI's generated API types are current), then runs every *.test.ts
# under src/ and test/ with Node's test runner.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/install-test-deps.sh
npx tsc -p tsconfig.json --noEmit
node --import tsx scripts/gen-api-types.ts --check
npx tsc -p web/tsconfig.json
mapfile -t files < <(find src test -name '*.test.ts' | sort)
exec node --import tsx --test --test-concurrency="${PALLET_TEST_CONCURRENCY:-2}" --test-reporter=spec "${files[@]}"
