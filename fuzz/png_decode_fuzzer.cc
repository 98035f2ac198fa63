// libFuzzer target over the native decoder: PNG chunk parsing (with text chunks), the
// one-call and banded decode paths with the Hilbert gather, random-access windows, the
// stored-stream decompressor, the SSE2 unfilter checked against the scalar definition, and an
// encode → decode round trip through the band index (the deflate block walker).
// Build and run: fuzz/run.sh (see fuzz/README.md). Not an addon source.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <vector>

#include <libdeflate.h>

#include "codec/byte_buffer.h"
#include "codec/inflater.h"
#include "codec/png_reader.h"
#include "codec/png_stream_decoder.h"
#include "codec/png_unfilter.h"
#include "codec/png_writer.h"
#include "codec/stream_decompressor.h"

using namespace pixelrts::codec;

namespace {

// Keeps each run fast: images up to 512×512 are decoded; larger ones only parsed.
constexpr uint32_t kMaxFuzzGrid = 512;

void FuzzUnfilter(const uint8_t* data, size_t size) {
  if (size < 2) return;
  const uint8_t filter = data[0] % 5;
  const size_t length = ((size - 1) / 2) & ~size_t{3};
  if (length == 0) return;
  std::vector<uint8_t> prev(data + 1, data + 1 + length);
  std::vector<uint8_t> fast(data + 1 + length, data + 1 + 2 * length);
  std::vector<uint8_t> slow = fast;
  RowUnfilter::Apply(filter, fast.data(), prev.data(), length);
  RowUnfilter::ApplyScalar(filter, slow.data(), prev.data(), length);
  if (fast != slow) std::abort();
}

// Rewrites every chunk's CRC so that mutations reach the code behind the CRC check (the reader
// still sees the original bytes on alternate inputs, so the CRC check itself is fuzzed too).
std::vector<uint8_t> WithFixedCrcs(const uint8_t* data, size_t size) {
  std::vector<uint8_t> v(data, data + size);
  size_t pos = 8;
  while (pos + 12 <= v.size()) {
    const uint32_t length = (uint32_t{v[pos]} << 24) | (uint32_t{v[pos + 1]} << 16) | (uint32_t{v[pos + 2]} << 8) | v[pos + 3];
    if (length > v.size() - pos - 12) break;
    const uint32_t crc = libdeflate_crc32(0, v.data() + pos + 4, size_t{length} + 4);
    uint8_t* p = v.data() + pos + 8 + length;
    p[0] = static_cast<uint8_t>(crc >> 24);
    p[1] = static_cast<uint8_t>(crc >> 16);
    p[2] = static_cast<uint8_t>(crc >> 8);
    p[3] = static_cast<uint8_t>(crc);
    pos += size_t{length} + 12;
  }
  return v;
}

void FuzzPng(const uint8_t* data, size_t size) {
  PngReader reader;
  if (!reader.parse(data, size, true).ok()) return;
  if (reader.grid() > kMaxFuzzGrid) return;
  PngStreamDecoder decoder(reader, (size & 1) != 0);
  const uint64_t total = decoder.stream_size();
  std::vector<uint8_t> out(total);
  decoder.decode(0, total, out.data(), 1, nullptr);
  // A window derived from the input, decoded on two threads when the band index allows.
  const uint64_t offset = total == 0 ? 0 : (size * 7919) % total;
  const uint64_t remaining = total - offset;
  const uint64_t length = remaining == 0 ? 0 : remaining / 2 + 1;
  std::vector<uint8_t> window(length);
  decoder.decode(offset, length, window.data(), 2, nullptr);
}

// Round trip through the encoder with the band index (a 64×64 grid is two bands, so the
// walker that clears the first band's BFINAL bit runs on libdeflate's output for this input).
void FuzzRoundTrip(const uint8_t* data, size_t size) {
  if (size == 0 || size > 64 * 64 * 4) return;
  EncodeParams params;
  params.grid = 64;
  params.level = data[0] % 13;
  params.threads = 1;
  ByteBuffer png;
  size_t png_size = 0;
  if (!PngWriter::Encode(data, size, params, &png, &png_size).ok()) std::abort();
  PngReader reader;
  if (!reader.parse(png.data(), png_size, false).ok() || reader.band_index() == nullptr) std::abort();
  PngStreamDecoder decoder(reader, false);
  std::vector<uint8_t> out(size);
  if (!decoder.decode(0, size, out.data(), 2, nullptr).ok() || !decoder.used_band_index()) std::abort();
  if (std::memcmp(out.data(), data, size) != 0) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  FuzzUnfilter(data, size);
  FuzzRoundTrip(data, size);
  {
    Inflater inflater;
    ByteBuffer out;
    size_t produced = 0;
    StreamFormat format;
    StreamDecompressor::Bounded(&inflater, data, size, size_t{1} << 20, &out, &produced, &format);
  }
  if (size > 0 && (data[size - 1] & 1) != 0) {
    std::vector<uint8_t> fixed = WithFixedCrcs(data, size);
    FuzzPng(fixed.data(), fixed.size());
  } else {
    FuzzPng(data, size);
  }
  return 0;
}
