#!/usr/bin/env bash
# `npm run build:prebuild` (prebuildify --tag-libc writes prebuilds/linux-x64/pixelrts.glibc.node,
# the name node-gyp-build picks on glibc systems and skips on musl ones).
# prebuildify's build step ("node-gyp rebuild --target=... --release"), done with the primary
# cmake-js build instead, with system libraries linked statically so the prebuilt binary needs
# no compiler and no -dev packages on the user's machine. Node-API builds need no per-target
# headers, so prebuildify's arguments are not needed here.
set -euo pipefail
cd "$(dirname "$0")/.."
exec npx cmake-js rebuild --CDPIXELRTS_STATIC_DEPS=ON
