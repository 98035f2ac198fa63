#include "codec/inflater.h"

#include <libdeflate.h>

#include <algorithm>

namespace pixelrts::codec {

Inflater::Inflater() : d_(libdeflate_alloc_decompressor()) {}

Inflater::~Inflater() {
  if (d_ != nullptr) libdeflate_free_decompressor(d_);
}

Failure Inflater::zlib_exact(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size,
                             const std::string& what) {
  if (d_ == nullptr) return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the inflater state");
  size_t produced = 0;
  size_t consumed = 0;
  libdeflate_result r = libdeflate_zlib_decompress_ex(d_, in, in_size, out, out_size, &consumed, &produced);
  switch (r) {
    case LIBDEFLATE_SUCCESS:
      if (produced != out_size) {
        return Failure::make("ERR_PIXELRTS_INFLATE", what + " inflates to only " + std::to_string(produced) +
                                                         " bytes, expected " + std::to_string(out_size) +
                                                         ": the image data is truncated or the header lies");
      }
      return Failure::none();
    case LIBDEFLATE_INSUFFICIENT_SPACE:
      return Failure::make("ERR_PIXELRTS_INFLATE", what + " inflates to more than the expected " +
                                                       std::to_string(out_size) +
                                                       " bytes: the header lies about the image size or the data is corrupt");
    case LIBDEFLATE_SHORT_OUTPUT:
      return Failure::make("ERR_PIXELRTS_INFLATE", what + " inflates to fewer than the expected " +
                                                       std::to_string(out_size) + " bytes");
    default:
      return Failure::make("ERR_PIXELRTS_INFLATE", what + " is not a valid zlib stream (corrupt or truncated " +
                                                       "compressed data); the file cannot be decoded");
  }
}

bool Inflater::raw(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_capacity, size_t* consumed,
                   size_t* produced) {
  if (d_ == nullptr) return false;
  return libdeflate_deflate_decompress_ex(d_, in, in_size, out, out_capacity, consumed, produced) ==
         LIBDEFLATE_SUCCESS;
}

Failure Inflater::zlib_bounded(const uint8_t* in, size_t in_size, size_t max_out, ByteBuffer* out,
                               size_t* produced, const std::string& what) {
  if (d_ == nullptr) return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the inflater state");
  // libdeflate needs the whole output buffer up front: start from a guess and double, so the
  // work stays within twice a single pass and memory within twice the real size (capped).
  size_t capacity = std::min(max_out, std::max<size_t>(size_t{64} << 10, in_size * 4));
  for (;;) {
    if (!out->allocate(std::max<size_t>(capacity, 1))) {
      return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory inflating " + what + " (" +
                                                         std::to_string(capacity) + " bytes)");
    }
    size_t consumed = 0;
    libdeflate_result r = libdeflate_zlib_decompress_ex(d_, in, in_size, out->data(), capacity, &consumed, produced);
    if (r == LIBDEFLATE_SUCCESS) {
      if (consumed != in_size) {
        return Failure::make("ERR_PIXELRTS_INFLATE", what + ": the zlib stream ends at byte " +
                                                         std::to_string(consumed) + " of " + std::to_string(in_size) +
                                                         "; the rest is not part of it (corrupt or wrong length)");
      }
      return Failure::none();
    }
    if (r != LIBDEFLATE_INSUFFICIENT_SPACE) {
      return Failure::make("ERR_PIXELRTS_INFLATE", what + " is not a valid zlib stream (corrupt or truncated)");
    }
    if (capacity >= max_out) {
      return Failure::make("ERR_PIXELRTS_TOO_LARGE", what + " inflates to more than the allowed " +
                                                         std::to_string(max_out) + " bytes");
    }
    capacity = capacity > max_out / 2 ? max_out : std::max<size_t>(capacity * 2, size_t{64} << 10);
    capacity = std::min(capacity, max_out);
  }
}

}  // namespace pixelrts::codec
