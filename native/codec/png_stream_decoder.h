// PngStreamDecoder: turns a parsed PixelRTS PNG into bytes of its pixel stream (the bytes
// along the Hilbert curve), for any window [offset, offset + length) of it.
//
// Two paths:
//  - one call: all IDAT data inflated by libdeflate in one call into a buffer of exactly the
//    size the header implies (so a lying or hostile stream cannot grow memory), then band by
//    band: unfilter the band's scanlines and, while they are in cache, gather its tiles;
//  - banded (files with a band index, band_index.h): each band inflated on its own into a
//    cache-sized buffer, unfiltered and gathered at once, on one or two threads, and only the
//    bands the window touches. Anything unexpected there falls back to the one-call path, which
//    is the authority on errors.
#pragma once

#include <cstdint>
#include <vector>

#include "codec/hilbert.h"
#include "codec/png_reader.h"
#include "common/failure.h"

namespace pixelrts::codec {

// Told about progress by the decoder; must be thread-safe (bands may finish on two threads).
class BandObserver {
 public:
  virtual ~BandObserver() = default;
  // Polled between bands; true stops the decode with ERR_PIXELRTS_CANCELLED.
  virtual bool cancelled() = 0;
  // Every byte of the window that lies in `band` is in the output.
  virtual void band_done(uint32_t band) = 0;
};

class PngStreamDecoder {
 public:
  // `png` must be parsed successfully and outlive the decoder.
  PngStreamDecoder(const PngReader& png, bool transposed);

  const HilbertTiling& tiling() const { return tiling_; }
  // Bytes in the pixel stream: width·height·4.
  uint64_t stream_size() const { return uint64_t{png_.grid()} * png_.grid() * 4; }

  // Writes stream bytes [offset, offset + length) to `out`. threads: 0 = both cores when the
  // band index allows it, 1 = one thread, 2 = two threads (banded path only). `observer` may
  // be null.
  Failure decode(uint64_t offset, uint64_t length, uint8_t* out, int threads, BandObserver* observer);

  // Whether the last decode() went through the band index (for tests and benchmarks).
  bool used_band_index() const { return used_band_index_; }

 private:
  enum class BandedOutcome { kDone, kCancelled, kFallBack };

  Failure decode_one_call(uint64_t offset, uint64_t length, uint8_t* out, const std::vector<uint8_t>& needed,
                          int64_t last_band, BandObserver* observer);
  BandedOutcome decode_banded(uint64_t offset, uint64_t length, uint8_t* out, const std::vector<uint8_t>& needed,
                              int threads, BandObserver* observer);

  const PngReader& png_;
  HilbertTiling tiling_;
  bool used_band_index_ = false;
};

}  // namespace pixelrts::codec
