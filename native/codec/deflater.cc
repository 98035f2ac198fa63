#include "codec/deflater.h"

#include <libdeflate.h>

namespace pixelrts::codec {

Deflater::Deflater(int level) : level_(level), c_(libdeflate_alloc_compressor(level)) {}

Deflater::~Deflater() {
  if (c_ != nullptr) libdeflate_free_compressor(c_);
}

size_t Deflater::raw_bound(size_t size) const { return libdeflate_deflate_compress_bound(c_, size); }
size_t Deflater::zlib_bound(size_t size) const { return libdeflate_zlib_compress_bound(c_, size); }

size_t Deflater::raw(const uint8_t* in, size_t size, uint8_t* out, size_t capacity) {
  return libdeflate_deflate_compress(c_, in, size, out, capacity);
}

size_t Deflater::zlib(const uint8_t* in, size_t size, uint8_t* out, size_t capacity) {
  return libdeflate_zlib_compress(c_, in, size, out, capacity);
}

void Deflater::zlib_header(uint8_t out[2]) const {
  // CMF: deflate, 32 KiB window. FLG: FLEVEL from the level as zlib reports it, then FCHECK
  // so that the 16-bit header is a multiple of 31.
  const unsigned cmf = 0x78;
  unsigned flevel = level_ < 2 ? 0 : level_ < 6 ? 1 : level_ == 6 ? 2 : 3;
  unsigned flg = flevel << 6;
  flg += (31 - (cmf * 256 + flg) % 31) % 31;
  out[0] = static_cast<uint8_t>(cmf);
  out[1] = static_cast<uint8_t>(flg);
}

uint32_t Adler32Combine(uint32_t adler_a, uint32_t adler_b, uint64_t length_b) {
  // adler = s1 | s2 << 16 with s1 = 1 + Σ bytes, s2 = Σ of the running s1 (mod 65521).
  // Appending B to A: s1 = s1a + s1b − 1; s2 = s2a + s2b + |B|·(s1a − 1).
  const uint64_t kBase = 65521;
  const uint64_t rem = length_b % kBase;
  const uint64_t s1a = adler_a & 0xFFFF, s2a = adler_a >> 16;
  const uint64_t s1b = adler_b & 0xFFFF, s2b = adler_b >> 16;
  const uint64_t s1 = (s1a + s1b + kBase - 1) % kBase;
  const uint64_t s2 = (s2a + s2b + rem * ((s1a + kBase - 1) % kBase)) % kBase;
  return static_cast<uint32_t>(s1 | (s2 << 16));
}

}  // namespace pixelrts::codec
