#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks drive (real clients and a peer registry)
# when they are missing. Idempotent; needs root (as on the developers' machines and CI).
set -euo pipefail
need=()
command -v skopeo >/dev/null || need+=(skopeo)
command -v umoci >/dev/null || need+=(umoci)
command -v docker-registry >/dev/null || need+=(docker-registry)
command -v wrk >/dev/null || need+=(wrk)
# buildah: the auth e2e suite pulls and pushes with it (vfs storage, chroot isolation, no daemon).
command -v buildah >/dev/null || need+=(buildah)
# htpasswd (bcrypt) for the Distribution upstream with Basic auth in test/e2e/upstream.test.ts
command -v htpasswd >/dev/null || need+=(apache2-utils)
# curl and wget: the generic files e2e suite (test/e2e/generic.test.ts) and its benchmark.
command -v curl >/dev/null || need+=(curl)
command -v wget >/dev/null || need+=(wget)
# chromium: the web UI suite (test/ui/) drives Debian's headless Chromium through playwright-core.
command -v chromium >/dev/null || need+=(chromium)
if [ ${#need[@]} -gt 0 ]; then
  echo "installing ${need[*]}" >&2
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# The Debian docker-registry package starts a system service on port 5000, Pallet's default;
# the tests start their own instances, so keep the system one stopped.
if command -v systemctl >/dev/null && systemctl is-active --quiet docker-registry 2>/dev/null; then
  systemctl stop docker-registry || true
fi
pkill -f '^/usr/bin/docker-registry serve /etc/docker/registry/config.yml' 2>/dev/null || true
# Verdaccio (a real npm registry) plays npmjs for the npm upstream tests and is the peer in
# `npm run bench:npm`. It is installed outside the project's dependencies, into the gitignored
# .test-tools/verdaccio/ (6.8.0 runs on Node 20 once node-fetch is pinned to 2.7.0).
verdaccio_dir="$(cd "$(dirname "$0")/.." && pwd)/.test-tools/verdaccio"
if [ ! -x "$verdaccio_dir/node_modules/.bin/verdaccio" ]; then
  echo "installing verdaccio 6.8.0 into $verdaccio_dir" >&2
  mkdir -p "$verdaccio_dir"
  cat >"$verdaccio_dir/package.json" <<'JSON'
{ "name": "pallet-test-verdaccio", "private": true, "dependencies": { "verdaccio": "6.8.0" }, "overrides": { "node-fetch": "2.7.0" } }
JSON
  npm install --prefix "$verdaccio_dir" --no-audit --no-fund --loglevel=error >/dev/null
fi
