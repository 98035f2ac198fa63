#!/usr/bin/env bash
# Makes a checkout ready to run: system packages, npm packages, native addon, TypeScript.
# Idempotent and quick when nothing changed; the README's two commands call it.
#   --dev  also the packages the tests and benchmarks need (see install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh "$@"

if [[ ! -d node_modules || package.json -nt node_modules || package-lock.json -nt node_modules ]]; then
  echo "pixelrts: installing npm packages" >&2
  # --ignore-scripts: the install hook would compile with node-gyp; we compile with cmake-js below.
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  touch node_modules
fi

npm run --silent build >&2
