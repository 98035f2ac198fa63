#!/usr/bin/env bash
# `npm run build:prebuild:x64` / `build:prebuild:arm64` (prebuildify --tag-libc writes
# prebuilds/linux-<arch>/pixelrts.glibc.node, the name node-gyp-build picks on glibc systems and
# skips on musl ones). prebuildify runs this in its --cwd, build-prebuild/, and takes the addon
# from build-prebuild/build/Release: the checkout's own build/ (`npm run build`) is left as it
# was, rather than reconfigured for static libraries or for another CPU.
# prebuildify's build step ("node-gyp rebuild --target=... --release"), done with the primary
# cmake-js build instead, with system libraries linked statically so the prebuilt binary needs
# no compiler and no -dev packages on the user's machine. Node-API builds need no per-target
# headers, so prebuildify's arguments are not needed here; the target CPU comes in PREBUILD_ARCH.
# linux-arm64 is cross compiled on x64 (cmake/aarch64-linux-gnu.cmake), against Debian's arm64
# packages of the libraries unpacked into a sysroot under node_modules/.cache.
set -euo pipefail
out=$PWD/build
cd "$(dirname "$0")/.."

host=$(node -p process.arch)
arch=${PREBUILD_ARCH:-$host}
args=(rebuild --out "$out" --CDPIXELRTS_STATIC_DEPS=ON)
if [[ $arch != "$host" ]]; then
  if [[ $host-$arch != x64-arm64 ]]; then
    echo "pixelrts: no cross build from linux-$host to linux-$arch; build that prebuild on a linux-$arch machine" >&2
    exit 1
  fi
  if ! command -v aarch64-linux-gnu-g++ >/dev/null; then
    echo "pixelrts: the linux-arm64 prebuild needs Debian's cross compiler: apt-get install g++-aarch64-linux-gnu (scripts/install-deps.sh --dev)" >&2
    exit 1
  fi
  export PIXELRTS_ARM64_SYSROOT=$PWD/node_modules/.cache/pixelrts-arm64-sysroot
  bash scripts/debian-root.sh arm64 "$PIXELRTS_ARM64_SYSROOT" \
    libdeflate-dev libzstd-dev zlib1g-dev libopenh264-dev libfuse3-dev
  args+=("--CDCMAKE_TOOLCHAIN_FILE=$PWD/cmake/aarch64-linux-gnu.cmake")
fi
exec npx cmake-js "${args[@]}"
