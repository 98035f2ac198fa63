#!/usr/bin/env bash
# Builds the libFuzzer target over the RFB client the display reads QEMU's VNC server with and
# runs it.
#   fuzz/run-rfb.sh [seconds]   (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Scratch corpus and binary: $FUZZ_OUT (default /tmp/pixelrts-fuzz-rfb_client_fuzzer).
set -euo pipefail
source "$(dirname "$0")/fuzz-common.sh"
run_fuzzer rfb_client_fuzzer corpus-rfb "${1:-600}" 65536 2560 -- native/screen/rfb_client.cc -lpthread
