#!/usr/bin/env bash
# Unpacks Debian packages of a CPU architecture (amd64, arm64) into a directory, without
# touching the system's dpkg: the prebuilds' sysroots of static libraries
# (scripts/prebuild-backend.sh) and the arm64 Node.js that test/package.test.mjs runs under
# qemu-aarch64.
#   scripts/debian-root.sh ARCH DIR [--depends] PACKAGE...
# The packages come from this machine's own apt sources (the host's Debian release, so the same
# library versions as the development build) through a private apt state beside DIR (DIR.apt):
# `dpkg --add-architecture` would instead change what every later `apt-get update` and upgrade
# of the machine does. --depends also unpacks the packages' dependency closure (a runnable
# program); without it only the named packages (headers and static archives for a build).
# Does nothing when DIR already holds the same package list. Needs apt-get and dpkg-deb.
set -euo pipefail

if (($# < 3)); then
  echo "usage: $0 ARCH DIR [--depends] PACKAGE..." >&2
  exit 2
fi
arch=$1 dir=$2
shift 2
depends=0
if [[ $1 == --depends ]]; then depends=1; shift; fi
want="$arch $* depends=$depends"
if [[ -f $dir/.pixelrts-packages && $(<"$dir/.pixelrts-packages") == "$want" ]]; then exit 0; fi

for cmd in apt-get dpkg-deb; do
  if ! command -v "$cmd" >/dev/null; then
    echo "pixelrts: $0 needs $cmd (Debian/Ubuntu); it unpacks Debian's $arch packages: $*" >&2
    exit 1
  fi
done

state="$dir.apt"
mkdir -p "$state/lists/partial" "$state/archives/partial"
: >"$state/status"  # no package counts as installed: --depends downloads the whole closure
apt=(apt-get -q -o "APT::Architecture=$arch" -o "APT::Architectures::=$arch"
  -o "Dir::State::Lists=$state/lists" -o "Dir::State::status=$state/status"
  -o "Dir::Cache::archives=$state/archives" -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache=
  # As root apt downloads as the _apt user, who may not be allowed into a checkout's node_modules.
  -o APT::Sandbox::User=root)
echo "pixelrts: fetching Debian's $arch packages into $dir: $*" >&2
"${apt[@]}" update >&2
rm -f "$state/archives/"*.deb
if ((depends)); then
  "${apt[@]}" install --download-only --no-install-recommends -y "$@" >&2
else
  (cd "$state/archives" && "${apt[@]}" download "$@" >&2)
fi

# Unpacked beside DIR and renamed into place: a build or test running at the same time either
# sees the whole directory or none.
tmp=$(mktemp -d "$dir.XXXXXX")
chmod 755 "$tmp"
for deb in "$state/archives/"*.deb; do dpkg-deb -x "$deb" "$tmp"; done
echo "$want" >"$tmp/.pixelrts-packages"
rm -rf "$dir"
mv "$tmp" "$dir"
