#include "codec/band_index.h"

#include "codec/big_endian.h"

namespace pixelrts::codec {

namespace {

void PutBe32(std::vector<uint8_t>* out, uint32_t v) {
  for (int s = 24; s >= 0; s -= 8) out->push_back(static_cast<uint8_t>(v >> s));
}

}  // namespace

std::vector<uint8_t> BandIndex::Serialize() const {
  std::vector<uint8_t> out;
  out.reserve(12 + 8 * offsets.size());
  PutBe32(&out, kVersion);
  PutBe32(&out, rows_per_band);
  PutBe32(&out, band_count());
  for (uint64_t o : offsets) {
    PutBe32(&out, static_cast<uint32_t>(o >> 32));
    PutBe32(&out, static_cast<uint32_t>(o));
  }
  return out;
}

bool BandIndex::Parse(const uint8_t* data, size_t size, uint32_t height, uint64_t stream_size, BandIndex* out,
                      std::string* why) {
  if (size < 12) {
    *why = "pxBI chunk is " + std::to_string(size) + " bytes, shorter than its 12-byte header";
    return false;
  }
  const uint32_t version = Be32(data);
  const uint32_t rows = Be32(data + 4);
  const uint32_t n = Be32(data + 8);
  if (version != kVersion) {
    *why = "pxBI version " + std::to_string(version) + " is not supported (expected 1)";
    return false;
  }
  if (rows == 0 || n != (uint64_t{height} + rows - 1) / rows) {
    *why = "pxBI lists " + std::to_string(n) + " bands of " + std::to_string(rows) + " rows for an image of " +
           std::to_string(height) + " rows";
    return false;
  }
  if (size != 12 + 8 * (uint64_t{n} + 1)) {
    *why = "pxBI chunk is " + std::to_string(size) + " bytes, expected " + std::to_string(12 + 8 * (uint64_t{n} + 1));
    return false;
  }
  out->rows_per_band = rows;
  out->offsets.resize(size_t{n} + 1);
  for (uint32_t i = 0; i <= n; i++) out->offsets[i] = Be64(data + 12 + 8 * size_t{i});
  if (out->offsets[0] != 2 || out->offsets[n] + 4 != stream_size) {
    *why = "pxBI offsets do not span the zlib stream";
    return false;
  }
  for (uint32_t i = 0; i < n; i++) {
    if (out->offsets[i + 1] <= out->offsets[i]) {
      *why = "pxBI offsets are not increasing";
      return false;
    }
  }
  return true;
}

}  // namespace pixelrts::codec
