#!/usr/bin/env bash
# Builds the libFuzzer target over the HXFR message parser (and the pixel layout rules and
# colour conversion behind it) and runs it.
#   fuzz/run-hxfr.sh [seconds]        (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh --dev). New inputs that reach new
# code go to a scratch copy of fuzz/corpus-hxfr; crashes land in fuzz/artifacts/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
seconds="${1:-600}"
out="${FUZZ_OUT:-/tmp/pixelrts-fuzz-hxfr}"
mkdir -p "$out/corpus" "$here/artifacts"
cp -n "$here"/corpus-hxfr/* "$out/corpus/" 2>/dev/null || true
cd "$root"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative fuzz/hxfr_parser_fuzzer.cc native/frames/hxfr_parser.cc native/frames/pixel_layout.cc \
  native/frames/colour_convert.cc -o "$out/hxfr_parser_fuzzer"
exec "$out/hxfr_parser_fuzzer" -max_total_time="$seconds" -max_len=8192 -rss_limit_mb=1536 \
  -print_final_stats=1 -artifact_prefix="$here/artifacts/" ${FUZZ_FLAGS:-} "$out/corpus"
