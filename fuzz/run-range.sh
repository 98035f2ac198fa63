#!/usr/bin/env bash
# Builds the libFuzzer target over RangeResponse (what a server answers to a range request when
# a container is read from a URL) and runs it.
#   fuzz/run-range.sh [seconds]   (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Scratch corpus and binary: $FUZZ_OUT (default /tmp/pixelrts-fuzz-range_response_fuzzer).
set -euo pipefail
source "$(dirname "$0")/fuzz-common.sh"
run_fuzzer range_response_fuzzer corpus-range "${1:-600}" 4096 2048 -- native/remote/range_response.cc
