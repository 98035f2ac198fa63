#!/usr/bin/env bash
# Installs the system packages pixelrts builds and runs against (Debian/Ubuntu names).
# Only calls apt-get when something is missing, so it is cheap to run before every build.
#   --dev   also the tools the tests, fuzzers and benchmarks use (ffmpeg, clang, cpio, ...)
set -euo pipefail

runtime=(libdeflate-dev libzstd-dev zlib1g-dev libfuse3-dev fuse3 libopenh264-dev qemu-system-x86 qemu-utils ovmf busybox-static socat libcurl4 libcurl4-openssl-dev pkg-config cmake g++ make)
# The prebuilds are built in an mmdebstrap chroot (scripts/prebuild-backend.sh);
# binutils-aarch64-linux-gnu strips the linux-arm64 one, qemu-user runs Debian's arm64 Node.js
# to load it (test/package.test.mjs). chromium is the browser puppeteer-core drives in the view
# tests (test/view/); puppeteer itself downloads none. nginx is the HTTP server the remote
# tests fetch from (test/remote/). nbdkit and its plugin header serve disks over NBD with the
# pixelrts plugin (native/nbd/); libnbd-bin has nbdinfo and nbdcopy, the NBD clients of the tests.
dev=(ffmpeg clang libclang-rt-14-dev cpio zstd python3 git binutils qemu-system-arm mmdebstrap xorriso isolinux syslinux-common systemd-boot-efi dosfstools mtools fdisk
  binutils-aarch64-linux-gnu qemu-user chromium nginx nbdkit nbdkit-plugin-dev libnbd-bin)

want=("${runtime[@]}")
if [[ "${1:-}" == "--dev" ]]; then
  want+=("${dev[@]}")
  # test/package.test.mjs compiles the addon with node-gyp offline, from the running Node's
  # headers: NodeSource's nodejs ships them, Debian's nodejs has them in libnode-dev.
  node_prefix=$(dirname "$(dirname "$(readlink -f "$(command -v node)")")")
  if [[ ! -f "$node_prefix/include/node/common.gypi" ]]; then want+=(libnode-dev); fi
fi

missing=()
for p in "${want[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi

if ! command -v apt-get >/dev/null; then
  echo "pixelrts: missing system packages: ${missing[*]}" >&2
  echo "pixelrts: install them with your package manager (names above are Debian's)." >&2
  exit 1
fi
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "pixelrts: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >&2
