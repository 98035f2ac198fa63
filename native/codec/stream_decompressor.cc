#include "codec/stream_decompressor.h"

#include <zstd.h>

#include <algorithm>
#include <memory>

namespace pixelrts::codec {

namespace {

struct ZstdStreamDeleter {
  void operator()(ZSTD_DStream* s) const { ZSTD_freeDStream(s); }
};

}  // namespace

StreamFormat StreamDecompressor::Sniff(const uint8_t* data, size_t size) {
  if (size >= 4 && data[0] == 0x28 && data[1] == 0xB5 && data[2] == 0x2F && data[3] == 0xFD) {
    return StreamFormat::kZstd;
  }
  return StreamFormat::kZlib;
}

Failure StreamDecompressor::Zstd(const uint8_t* in, size_t in_size, uint8_t* out, size_t capacity,
                                 size_t* produced, bool* overflow) {
  *overflow = false;
  *produced = 0;
  std::unique_ptr<ZSTD_DStream, ZstdStreamDeleter> ds(ZSTD_createDStream());
  if (!ds) return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the zstd decoder");
  ZSTD_initDStream(ds.get());
  ZSTD_inBuffer input{in, in_size, 0};
  ZSTD_outBuffer output{out, capacity, 0};
  uint8_t probe = 0;
  bool probing = false;  // `out` is full: decode into one spare byte to see whether more follows
  for (;;) {
    const size_t r = ZSTD_decompressStream(ds.get(), &output, &input);
    if (ZSTD_isError(r)) {
      return Failure::make("ERR_PIXELRTS_ZSTD", std::string("the zstd stream is invalid (") + ZSTD_getErrorName(r) +
                                                    "); the stored stream is corrupt");
    }
    if (probing && output.pos > 0) {
      *overflow = true;
      *produced = capacity;
      return Failure::none();
    }
    if (r == 0 && input.pos == input.size) break;  // last frame complete, input used up
    if (!probing && output.pos == output.size) {
      probing = true;
      *produced = output.pos;
      output = ZSTD_outBuffer{&probe, 1, 0};
      continue;
    }
    if (r != 0 && input.pos == input.size) {
      return Failure::make("ERR_PIXELRTS_ZSTD", "the zstd stream is truncated (it ends inside a frame)");
    }
  }
  if (!probing) *produced = output.pos;
  return Failure::none();
}

Failure StreamDecompressor::Bounded(Inflater* inflater, const uint8_t* in, size_t in_size, size_t max_out,
                                    ByteBuffer* out, size_t* produced, StreamFormat* format) {
  *format = Sniff(in, in_size);
  if (*format == StreamFormat::kZlib) {
    return inflater->zlib_bounded(in, in_size, max_out, out, produced, "the zlib stream");
  }
  // Start from the frame's declared size when it has one (bounded by max_out), else grow.
  unsigned long long declared = ZSTD_getFrameContentSize(in, in_size);
  size_t capacity = std::min(max_out, std::max<size_t>(size_t{64} << 10, in_size * 4));
  if (declared != ZSTD_CONTENTSIZE_UNKNOWN && declared != ZSTD_CONTENTSIZE_ERROR) {
    capacity = static_cast<size_t>(std::min<unsigned long long>(declared, max_out));
  }
  for (;;) {
    if (!out->allocate(std::max<size_t>(capacity, 1))) {
      return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory decompressing zstd (" + std::to_string(capacity) +
                                                         " bytes)");
    }
    bool overflow = false;
    Failure f = Zstd(in, in_size, out->data(), capacity, produced, &overflow);
    if (!f.ok()) return f;
    if (!overflow) return Failure::none();
    if (capacity >= max_out) {
      return Failure::make("ERR_PIXELRTS_TOO_LARGE", "the zstd stream decompresses to more than the allowed " +
                                                         std::to_string(max_out) + " bytes");
    }
    // Grow geometrically (from at least 64 KiB: a frame may declare a size of 0 and lie).
    capacity = capacity > max_out / 2 ? max_out : std::max<size_t>(capacity * 2, size_t{64} << 10);
    capacity = std::min(capacity, max_out);
  }
}

Failure StreamDecompressor::Exact(Inflater* inflater, const uint8_t* in, size_t in_size, uint8_t* out,
                                  size_t out_size) {
  if (Sniff(in, in_size) == StreamFormat::kZlib) {
    return inflater->zlib_exact(in, in_size, out, out_size, "the compressed payload");
  }
  size_t produced = 0;
  bool overflow = false;
  Failure f = Zstd(in, in_size, out, out_size, &produced, &overflow);
  if (!f.ok()) return f;
  if (overflow || produced != out_size) {
    return Failure::make("ERR_PIXELRTS_ZSTD", "the zstd stream decompresses to " +
                                                  std::string(overflow ? "more than " : "") + std::to_string(produced) +
                                                  " bytes, expected " + std::to_string(out_size));
  }
  return Failure::none();
}

}  // namespace pixelrts::codec
