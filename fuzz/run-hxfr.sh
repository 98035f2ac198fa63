#!/usr/bin/env bash
# Builds the libFuzzer target over the HXFR message parser (and the pixel layout rules and
# colour conversion behind it) and runs it.
#   fuzz/run-hxfr.sh [seconds]   (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Scratch corpus and binary: $FUZZ_OUT (default /tmp/pixelrts-fuzz-hxfr_parser_fuzzer).
set -euo pipefail
source "$(dirname "$0")/fuzz-common.sh"
run_fuzzer hxfr_parser_fuzzer corpus-hxfr "${1:-600}" 8192 1536 -- \
  native/frames/hxfr_parser.cc native/frames/pixel_layout.cc native/frames/colour_convert.cc
