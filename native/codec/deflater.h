// Deflater: RAII owner of a libdeflate compressor at one level (0–12; one per thread).
// libdeflate chooses per block between Huffman-coded and stored output, so data that does not
// compress costs at most a few bytes per 64 KiB; level 0 stores everything.
#pragma once

#include <cstddef>
#include <cstdint>

struct libdeflate_compressor;

namespace pixelrts::codec {

class Deflater {
 public:
  explicit Deflater(int level);
  ~Deflater();
  Deflater(const Deflater&) = delete;
  Deflater& operator=(const Deflater&) = delete;

  bool ok() const { return c_ != nullptr; }
  int level() const { return level_; }

  // Worst-case output sizes for `size` input bytes.
  size_t raw_bound(size_t size) const;
  size_t zlib_bound(size_t size) const;

  // Compress into out[0, capacity); the output size, 0 when it does not fit.
  size_t raw(const uint8_t* in, size_t size, uint8_t* out, size_t capacity);
  size_t zlib(const uint8_t* in, size_t size, uint8_t* out, size_t capacity);

  // The two zlib header bytes (RFC 1950) libdeflate writes for this level.
  void zlib_header(uint8_t out[2]) const;

 private:
  int level_;
  libdeflate_compressor* c_;
};

// adler32 of A·B from adler32(A), adler32(B) and |B| (zlib's checksum over concatenated data).
uint32_t Adler32Combine(uint32_t adler_a, uint32_t adler_b, uint64_t length_b);

}  // namespace pixelrts::codec
