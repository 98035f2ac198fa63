#!/usr/bin/env bash
# Makes a checkout ready to run: system packages, npm packages, native addon, TypeScript.
# Idempotent and quick when nothing changed; the README's two commands call it.
#   --dev  also the packages the tests and benchmarks need (see install-deps.sh)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh "$@"

# The hostile-local-user tests (#16) act as a second, unprivileged user; it can only be made,
# and switched to, by root. Without root those tests say so and skip (fail under CI=true).
if [[ "${1:-}" == "--dev" && $(id -u) -eq 0 ]] && ! id -u pixelrts-other >/dev/null 2>&1; then
  useradd --system --no-create-home --home-dir /nonexistent --shell /usr/sbin/nologin pixelrts-other
fi

if [[ ! -d node_modules || package.json -nt node_modules || package-lock.json -nt node_modules ]]; then
  echo "pixelrts: installing npm packages" >&2
  # --ignore-scripts: the install hook would compile with node-gyp; we compile with cmake-js below.
  npm install --ignore-scripts --no-audit --no-fund --loglevel=error >&2
  touch node_modules
fi

npm run --silent build >&2
