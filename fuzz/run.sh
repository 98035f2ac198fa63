#!/usr/bin/env bash
# Builds the libFuzzer target over the native PNG decoder and runs it.
#   fuzz/run.sh [seconds]        (default 600; extra libFuzzer flags via FUZZ_FLAGS)
# Needs clang and libclang-rt-14-dev (scripts/install-deps.sh --dev). New inputs that reach new
# code are added to a scratch copy of fuzz/corpus; crashes land in fuzz/artifacts/.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
root="$(dirname "$here")"
seconds="${1:-600}"
out="${FUZZ_OUT:-/tmp/pixelrts-fuzz}"
mkdir -p "$out/corpus" "$here/artifacts"
cp -n "$here"/corpus/* "$out/corpus/" 2>/dev/null || true
src=(native/codec/png_reader.cc native/codec/png_stream_decoder.cc native/codec/png_unfilter.cc
     native/codec/hilbert.cc native/codec/band_gather.cc native/codec/band_index.cc
     native/codec/inflater.cc native/codec/deflater.cc native/codec/byte_buffer.cc
     native/codec/stream_decompressor.cc native/codec/png_writer.cc native/codec/deflate_block_walker.cc)
cd "$root"
clang++ -std=c++17 -O1 -g -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
  -Inative fuzz/png_decode_fuzzer.cc "${src[@]}" -ldeflate -lzstd -lpthread -o "$out/png_decode_fuzzer"
exec "$out/png_decode_fuzzer" -max_total_time="$seconds" -max_len=262144 -rss_limit_mb=4096 -timeout=10 \
  -artifact_prefix="$here/artifacts/" ${FUZZ_FLAGS:-} "$out/corpus"
