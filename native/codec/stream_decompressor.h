// Decompression of a container's stored stream S (spec §7): zstd when S starts with zstd's
// magic 28 B5 2F FD, else zlib (RFC 1950). The output is always bounded: either an exact
// expected size or a caller's maximum, so a decompression bomb fails instead of allocating.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "codec/byte_buffer.h"
#include "codec/inflater.h"
#include "common/failure.h"

namespace pixelrts::codec {

enum class StreamFormat { kZlib, kZstd };

class StreamDecompressor {
 public:
  static StreamFormat Sniff(const uint8_t* data, size_t size);
  static const char* Name(StreamFormat f) { return f == StreamFormat::kZstd ? "zstd" : "zlib"; }

  // Decompresses into a new buffer of at most max_out bytes; sets *produced and *format.
  static Failure Bounded(Inflater* inflater, const uint8_t* in, size_t in_size, size_t max_out, ByteBuffer* out,
                         size_t* produced, StreamFormat* format);

  // Decompresses into exactly out_size bytes at `out` (more or fewer is an error).
  static Failure Exact(Inflater* inflater, const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size);

 private:
  static Failure Zstd(const uint8_t* in, size_t in_size, uint8_t* out, size_t capacity, size_t* produced,
                      bool* overflow);
};

}  // namespace pixelrts::codec
