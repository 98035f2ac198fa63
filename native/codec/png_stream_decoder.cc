#include "codec/png_stream_decoder.h"

#include <libdeflate.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>

#include "codec/band_decoder.h"
#include "codec/band_gather.h"
#include "common/join_guard.h"
#include "codec/byte_buffer.h"
#include "codec/deflater.h"
#include "codec/inflater.h"
#include "codec/png_unfilter.h"

namespace pixelrts::codec {

namespace {

Failure Cancelled() { return Failure::make("ERR_PIXELRTS_CANCELLED", "the decode was cancelled"); }

Failure BadFilter(uint64_t row, uint8_t filter) {
  return Failure::make("ERR_PIXELRTS_PNG_FILTER", "PNG: scanline " + std::to_string(row) + " has filter type " +
                                                      std::to_string(filter) +
                                                      ", expected 0 to 4: the image data is corrupt");
}

// Decodes a contiguous list of bands of a file with a band index (one thread's share).
class BandWorker {
 public:
  BandWorker(const PngReader& png, const BandIndex& index, const HilbertTiling& tiling, const BandGather& gather,
             const uint32_t* bands, size_t count, uint64_t win_begin, uint64_t win_end, uint8_t* out,
             BandObserver* observer, bool checksum, std::atomic<bool>* stop)
      : png_(png), index_(index), tiling_(tiling), gather_(gather), bands_(bands), count_(count),
        win_begin_(win_begin), win_end_(win_end), out_(out), observer_(observer), checksum_(checksum), stop_(stop) {}

  void run() {
    ok_ = run_bands();
    if (!ok_) stop_->store(true);
  }

  bool ok() const { return ok_; }
  bool cancelled() const { return cancelled_; }
  const std::vector<uint32_t>& adlers() const { return adlers_; }

 private:
  bool run_bands() {
    BandDecoder decoder(png_, index_, tiling_.tile_side());
    const uint32_t rows = tiling_.tile_side();
    std::vector<uint8_t> last(decoder.stride() - 1);  // the previous band's last row, when it was ours
    int64_t previous = -1;
    for (size_t i = 0; i < count_; i++) {
      const uint32_t b = bands_[i];
      if (stop_->load(std::memory_order_relaxed)) return false;
      if (observer_ != nullptr && observer_->cancelled()) {
        cancelled_ = true;
        return false;
      }
      // The row above belongs to another thread's share (or is not decoded): only filters that
      // ignore it work, which the decoder checks.
      const uint8_t* above = b > 0 && previous == static_cast<int64_t>(b) - 1 ? last.data() : nullptr;
      if (!decoder.decode(b, above).ok()) return false;
      gather_.gather(b, decoder.row(0), win_begin_, win_end_, out_);
      if (checksum_) adlers_.push_back(libdeflate_adler32(1, decoder.scanlines(), decoder.band_bytes()));
      std::memcpy(last.data(), decoder.row(rows - 1), last.size());
      previous = b;
      if (observer_ != nullptr) observer_->band_done(b);
    }
    return true;
  }

  const PngReader& png_;
  const BandIndex& index_;
  const HilbertTiling& tiling_;
  const BandGather& gather_;
  const uint32_t* bands_;
  size_t count_;
  uint64_t win_begin_, win_end_;
  uint8_t* out_;
  BandObserver* observer_;
  bool checksum_;
  std::atomic<bool>* stop_;
  bool ok_ = false;
  bool cancelled_ = false;
  std::vector<uint32_t> adlers_;
};


bool ValidZlibHeader(const uint8_t h[2]) {
  return (h[0] & 0x0F) == 8 && (h[0] >> 4) <= 7 && (h[1] & 0x20) == 0 && (h[0] * 256u + h[1]) % 31 == 0;
}

}  // namespace

PngStreamDecoder::PngStreamDecoder(const PngReader& png, bool transposed)
    : png_(png), tiling_(png.grid(), transposed) {}

Failure PngStreamDecoder::decode(uint64_t offset, uint64_t length, uint8_t* out, int threads,
                                 BandObserver* observer) {
  used_band_index_ = false;
  if (offset > stream_size() || length > stream_size() - offset) {
    return Failure::make("ERR_PIXELRTS_RANGE", "range [" + std::to_string(offset) + ", " +
                                                   std::to_string(offset + length) + ") lies outside the " +
                                                   std::to_string(stream_size()) + "-byte pixel stream");
  }
  if (length == 0) return Failure::none();
  std::vector<uint8_t> needed;
  const int64_t last_band = tiling_.bands_touched(offset, offset + length, &needed);
  const BandIndex* index = png_.band_index();
  if (index != nullptr && index->rows_per_band == tiling_.tile_side() && index->band_count() == tiling_.bands()) {
    switch (decode_banded(offset, length, out, needed, threads, observer)) {
      case BandedOutcome::kDone:
        used_band_index_ = true;
        return Failure::none();
      case BandedOutcome::kCancelled:
        return Cancelled();
      case BandedOutcome::kFallBack:
        break;
    }
  }
  return decode_one_call(offset, length, out, needed, last_band, observer);
}

Failure PngStreamDecoder::decode_one_call(uint64_t offset, uint64_t length, uint8_t* out,
                                          const std::vector<uint8_t>& needed, int64_t last_band,
                                          BandObserver* observer) {
  Failure f = png_.check_inflatable();
  if (!f.ok()) return f;
  const size_t stride = static_cast<size_t>(png_.stride());
  const uint64_t raw_size = png_.raw_size();
  ByteBuffer joined;
  const uint8_t* zdata = png_.data() == nullptr ? nullptr : png_.data() + png_.idat()[0].offset;
  if (png_.idat().size() > 1 || zdata == nullptr) {
    if (!joined.allocate(static_cast<size_t>(png_.idat_size()))) {
      return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory joining " + std::to_string(png_.idat_size()) +
                                                         " bytes of IDAT data");
    }
    f = png_.read_idat(0, png_.idat_size(), joined.data());
    if (!f.ok()) return f;
    zdata = joined.data();
  }
  ByteBuffer raw;
  if (!raw.allocate(static_cast<size_t>(raw_size))) {
    return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the " + std::to_string(raw_size) +
                                                       " bytes of scanlines of a " + std::to_string(png_.grid()) + "x" +
                                                       std::to_string(png_.grid()) + " image");
  }
  {
    Inflater inflater;
    f = inflater.zlib_exact(zdata, static_cast<size_t>(png_.idat_size()), raw.data(),
                                    static_cast<size_t>(raw_size), "PNG: the image data (IDAT)");
    if (!f.ok()) return f;
  }
  joined = ByteBuffer();
  BandGather gather(tiling_, stride);
  std::vector<uint8_t> zeros(stride, 0);
  const uint32_t rows = tiling_.tile_side();
  for (int64_t b = 0; b <= last_band; b++) {
    if (observer != nullptr && observer->cancelled()) return Cancelled();
    const uint64_t first = static_cast<uint64_t>(b) * rows;
    uint8_t* band = raw.data() + first * stride;
    for (uint32_t r = 0; r < rows; r++) {
      uint8_t* row = band + size_t{r} * stride;
      const uint8_t* prev = first + r == 0 ? zeros.data() : row - stride;
      if (!RowUnfilter::Apply(row[0], row + 1, prev + 1, stride - 1)) return BadFilter(first + r, row[0]);
    }
    if (needed[static_cast<size_t>(b)]) {
      gather.gather(static_cast<uint32_t>(b), band + 1, offset, offset + length, out, /*prefetch_ahead=*/true);
      if (observer != nullptr) observer->band_done(static_cast<uint32_t>(b));
    }
  }
  return Failure::none();
}

PngStreamDecoder::BandedOutcome PngStreamDecoder::decode_banded(uint64_t offset, uint64_t length, uint8_t* out,
                                                                const std::vector<uint8_t>& needed, int threads,
                                                                BandObserver* observer) {
  const BandIndex& index = *png_.band_index();
  uint8_t header[2];
  if (!png_.read_idat(0, 2, header).ok() || !ValidZlibHeader(header)) return BandedOutcome::kFallBack;
  std::vector<uint32_t> bands;
  for (uint32_t b = 0; b < tiling_.bands(); b++) {
    if (needed[b]) bands.push_back(b);
  }
  // The adler32 trailer can only be checked when every band is decoded.
  const bool checksum = bands.size() == tiling_.bands();
  if (threads <= 0) threads = std::thread::hardware_concurrency() >= 2 ? 2 : 1;
  if (bands.size() < 2) threads = 1;
  threads = std::min(threads, 2);
  const size_t split = threads == 2 ? bands.size() / 2 : bands.size();

  BandGather gather(tiling_, static_cast<size_t>(png_.stride()));
  std::atomic<bool> stop{false};
  BandWorker first(png_, index, tiling_, gather, bands.data(), split, offset, offset + length, out, observer,
                   checksum, &stop);
  BandWorker second(png_, index, tiling_, gather, bands.data() + split, bands.size() - split, offset,
                    offset + length, out, observer, checksum, &stop);
  {
    std::thread helper;
    JoinGuard join(&helper);
    if (threads == 2) {
      try {
        helper = std::thread([&second] { second.run(); });
      } catch (const std::system_error&) {
        // No thread to be had: the calling thread does both shares.
      }
    }
    first.run();
    if (threads == 2 && !helper.joinable()) second.run();
  }
  if (first.cancelled() || second.cancelled()) return BandedOutcome::kCancelled;
  if (!first.ok() || (threads == 2 && !second.ok())) return BandedOutcome::kFallBack;
  if (checksum) {
    uint8_t trailer[4];
    if (!png_.read_idat(png_.idat_size() - 4, png_.idat_size(), trailer).ok()) return BandedOutcome::kFallBack;
    const uint32_t expected = (uint32_t{trailer[0]} << 24) | (uint32_t{trailer[1]} << 16) |
                              (uint32_t{trailer[2]} << 8) | trailer[3];
    const uint64_t band_bytes = png_.stride() * tiling_.tile_side();
    uint32_t adler = 1;
    for (const BandWorker* w : {&first, &second}) {
      for (uint32_t a : w->adlers()) adler = Adler32Combine(adler, a, band_bytes);
    }
    if (adler != expected) return BandedOutcome::kFallBack;
  }
  return BandedOutcome::kDone;
}

}  // namespace pixelrts::codec
