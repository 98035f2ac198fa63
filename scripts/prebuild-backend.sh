#!/usr/bin/env bash
# `npm run build:prebuild:x64` / `build:prebuild:arm64` (prebuildify --tag-libc writes
# prebuilds/linux-<arch>/pixelrts.glibc.node, the name node-gyp-build picks on glibc systems and
# skips on musl ones). prebuildify runs this in its --cwd, build-prebuild/, in place of its
# "node-gyp rebuild", and takes the addon from build-prebuild/build/Release: the checkout's own
# build/ (`npm run build`) is left alone. Node-API builds need no per-target headers, so
# prebuildify's arguments are not needed here; the target CPU comes in PREBUILD_ARCH.
#
# Both prebuilds are built on an x64 Debian/Ubuntu machine, as root, in a Debian 11 chroot made
# by mmdebstrap (cached under node_modules/.cache): its glibc 2.31 is what the prebuilds then
# need at most, where a build on Debian 12 needs 2.34 (docs/packaging.md has the figures). The
# compiler is Debian 11's g++ for x64 and its aarch64-linux-gnu-g++ cross compiler for arm64.
# The libraries linked statically (libdeflate, zstd, zlib, openh264) and libfuse3's header are
# Debian 12's, for the target CPU, unpacked into a sysroot by scripts/debian-root.sh: the same
# versions as the development build, so both prebuilds write the same bytes as it does.
set -euo pipefail
out=$PWD/build
cd "$(dirname "$0")/.."

fail() { echo "pixelrts: $*" >&2; exit 1; }
case "${PREBUILD_ARCH:-}" in
  x64) deb_arch=amd64 triplet=x86_64-linux-gnu ;;
  arm64) deb_arch=arm64 triplet=aarch64-linux-gnu ;;
  *) fail "no prebuild for linux-${PREBUILD_ARCH:-?}; npm run build:prebuild builds linux-x64 and linux-arm64" ;;
esac
[[ $(node -p process.arch) == x64 ]] || fail "the prebuilds are built on linux-x64 (docs/packaging.md)"
[[ $(id -u) -eq 0 ]] || fail "building the prebuilds needs root: they are built in a Debian 11 chroot (docs/packaging.md)"
command -v mmdebstrap >/dev/null || fail "building the prebuilds needs mmdebstrap (scripts/install-deps.sh --dev)"

cache=$PWD/node_modules/.cache
sysroot=$cache/pixelrts-$deb_arch-sysroot
bash scripts/debian-root.sh "$deb_arch" "$sysroot" libdeflate-dev libzstd-dev zlib1g-dev libopenh264-dev libfuse3-dev libcurl4-openssl-dev

root=$cache/pixelrts-prebuild-bullseye
tools="g++,g++-aarch64-linux-gnu,cmake,ninja-build,pkg-config"
if [[ ! -f $root/.pixelrts-tools || $(<"$root/.pixelrts-tools") != "$tools" ]]; then
  echo "pixelrts: making the Debian 11 build chroot $root" >&2
  rm -rf "$root" "$root.new"
  mmdebstrap --mode=root --variant=minbase --include="$tools" \
    --dpkgopt='path-exclude=/usr/share/doc/*' --dpkgopt='path-exclude=/usr/share/man/*' \
    --dpkgopt='path-exclude=/usr/share/locale/*' bullseye "$root.new" >&2
  echo "$tools" >"$root.new/.pixelrts-tools"
  mv "$root.new" "$root"
fi

# The sources and the sysroot are copied in rather than bind-mounted: a chroot left behind
# by a killed build then holds no way into the checkout.
src=$root/src
rm -rf "$src"
mkdir -p "$src"
cp -r CMakeLists.txt native cmake "$src/"
cp -rL node_modules/node-addon-api node_modules/node-api-headers "$src/"
cp -a "$sysroot" "$src/sysroot"
chroot "$root" env PIXELRTS_TRIPLET="$triplet" PIXELRTS_SYSROOT=/src/sysroot \
  cmake -S /src -B /src/build -G Ninja -DCMAKE_BUILD_TYPE=Release -DPIXELRTS_STATIC_DEPS=ON \
  -DCMAKE_TOOLCHAIN_FILE=/src/cmake/debian-sysroot.cmake \
  -DCMAKE_JS_INC=/src/node-api-headers/include -DNODE_ADDON_API_DIR=/src/node-addon-api
chroot "$root" ninja -C /src/build
rm -rf "$out"
mkdir -p "$out/Release"
cp "$src/build/pixelrts.node" "$out/Release/"
