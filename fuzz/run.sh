#!/usr/bin/env bash
# Builds the libFuzzer target over the native PNG decoder and runs it.
#   fuzz/run.sh [seconds]        (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Scratch corpus and binary: $FUZZ_OUT (default /tmp/pixelrts-fuzz-png_decode_fuzzer).
set -euo pipefail
source "$(dirname "$0")/fuzz-common.sh"
run_fuzzer png_decode_fuzzer corpus "${1:-600}" 262144 4096 -- \
  native/codec/png_reader.cc native/codec/png_stream_decoder.cc native/codec/png_unfilter.cc \
  native/codec/hilbert.cc native/codec/band_gather.cc native/codec/band_index.cc native/codec/band_decoder.cc \
  native/codec/inflater.cc native/codec/deflater.cc native/codec/byte_buffer.cc \
  native/codec/stream_decompressor.cc native/codec/png_writer.cc native/codec/band_encoder.cc native/codec/hash_tree.cc native/common/sha256.cc \
  native/codec/deflate_block_walker.cc \
  -ldeflate -lzstd -lpthread -ldl
