#include "codec/band_encoder.h"

#include <libdeflate.h>

#include <algorithm>
#include <atomic>
#include <cstring>
#include <system_error>
#include <thread>

#include "codec/deflate_block_walker.h"
#include "common/sha256.h"
#include "common/join_guard.h"

namespace pixelrts::codec {

BandEncoder::BandEncoder(const HilbertTiling& tiling, const BandGather& gather, int level, bool leaves)
    : tiling_(tiling),
      gather_(gather),
      deflater_(level),
      stride_(size_t{tiling.grid()} * 4 + 1),
      band_bytes_(stride_ * tiling.tile_side()),
      leaves_(leaves) {}

bool BandEncoder::init() {
  if (!deflater_.ok()) return false;
  // Five spare bytes for the full flush appended to the band's output.
  capacity_ = std::max(deflater_.raw_bound(band_bytes_), Deflater(0).raw_bound(band_bytes_)) + 5;
  const size_t staged = size_t{tiling_.tiles_per_side()} * tiling_.tile_pixels() * 4;
  return rows_.allocate(band_bytes_) && staged_.allocate(staged) && compressed_.allocate(capacity_);
}

Failure BandEncoder::fill_rows(uint32_t band, const StreamSource& source) {
  uint8_t* rows = rows_.data();
  for (uint32_t r = 0; r < tiling_.tile_side(); r++) rows[r * stride_] = 0;  // filter None
  if (const uint8_t* stream = source.contiguous()) {
    gather_.scatter(band, rows + 1, stream, source.size());
    return Failure::none();
  }
  const uint64_t tile_bytes = tiling_.tile_pixels() * 4;
  const TilePlacement* tiles = tiling_.band_tiles(band, &placements_);
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    uint8_t* dst = staged_.data() + tx * tile_bytes;
    const uint64_t begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    const uint64_t have = begin >= source.size() ? 0 : std::min(tile_bytes, source.size() - begin);
    if (have > 0) {
      Failure f = source.read(begin, dst, static_cast<size_t>(have));
      if (!f.ok()) return f;
    }
    std::memset(dst + have, 0, static_cast<size_t>(tile_bytes - have));  // the encoder's unused pixels
  }
  gather_.scatter_staged(band, rows + 1, staged_.data());
  return Failure::none();
}

size_t BandEncoder::compress(Deflater* deflater, bool last) {
  uint8_t* c = compressed_.data();
  size_t n = deflater->raw(rows_.data(), band_bytes_, c, capacity_ - 5);
  if (n == 0 || last) return n;
  // Make the band's last block non-final and end the band with a full flush: an empty stored
  // block (3 header bits, padding to the byte, LEN 0000, NLEN FFFF).
  DeflateBlockWalker::Result walk;
  if (!DeflateBlockWalker::Walk(c, n, &walk) || (walk.end_bit + 7) / 8 != n) return 0;
  c[walk.final_header_bit / 8] &= static_cast<uint8_t>(~(1u << (walk.final_header_bit % 8)));
  const unsigned used = static_cast<unsigned>(walk.end_bit % 8);
  if (used != 0) c[n - 1] &= static_cast<uint8_t>((1u << used) - 1);
  const unsigned spare = used == 0 ? 0 : 8 - used;
  if (spare < 3) c[n++] = 0x00;
  c[n++] = 0x00;
  c[n++] = 0x00;
  c[n++] = 0xFF;
  c[n++] = 0xFF;
  return n;
}

void BandEncoder::hash_tiles(uint32_t band, const StreamSource& source, std::vector<uint8_t>* leaves) {
  const uint64_t tile_bytes = tiling_.tile_pixels() * 4;
  leaves->resize(size_t{tiling_.tiles_per_side()} * Sha256::kSize);
  const uint8_t* stream = source.contiguous();
  const TilePlacement* tiles = tiling_.band_tiles(band, &placements_);
  std::vector<uint8_t> padded;
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    const uint8_t* run = staged_.data() + tx * tile_bytes;  // what fill_rows read, zero-padded
    if (stream != nullptr) {
      const uint64_t begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
      if (begin + tile_bytes <= source.size()) {
        run = stream + begin;
      } else {
        padded.assign(tile_bytes, 0);
        if (begin < source.size()) std::memcpy(padded.data(), stream + begin, static_cast<size_t>(source.size() - begin));
        run = padded.data();
      }
    }
    Sha256::Digest(run, static_cast<size_t>(tile_bytes), leaves->data() + size_t{tx} * Sha256::kSize);
  }
}

Failure BandEncoder::encode(uint32_t band, const StreamSource& source, EncodedBand* out) {
  Failure f = fill_rows(band, source);
  if (!f.ok()) return f;
  if (leaves_) hash_tiles(band, source, &out->leaves);
  out->adler = libdeflate_adler32(1, rows_.data(), band_bytes_);
  const bool last = band + 1 == tiling_.bands();
  size_t n = compress(&deflater_, last);
  if (n == 0 && deflater_.level() != 0) {
    // Stored blocks are always walkable; the band just does not shrink.
    if (!stored_) stored_ = std::make_unique<Deflater>(0);
    if (stored_->ok()) n = compress(stored_.get(), last);
  }
  if (n == 0) {
    return Failure::make("ERR_PIXELRTS_DEFLATE", "libdeflate could not compress band " + std::to_string(band) +
                                                     " of a " + std::to_string(tiling_.grid()) + "x" +
                                                     std::to_string(tiling_.grid()) + " image");
  }
  out->bytes.assign(compressed_.data(), compressed_.data() + n);
  return Failure::none();
}

BandPipeline::BandPipeline(const HilbertTiling& tiling, const StreamSource& source, int level, int threads,
                           bool leaves)
    : tiling_(tiling), source_(source), gather_(tiling, size_t{tiling.grid()} * 4 + 1) {
  for (int i = 0; i < std::clamp(threads, 1, 2); i++) {
    encoders_.push_back(std::make_unique<BandEncoder>(tiling, gather_, level, leaves));
  }
}

Failure BandPipeline::run(uint32_t first, uint32_t count, std::vector<EncodedBand>* out) {
  if (!ready_) {
    for (auto& e : encoders_) {
      if (!e->init()) {
        return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the buffers of a " +
                                                           std::to_string(tiling_.grid()) + "x" +
                                                           std::to_string(tiling_.grid()) + " image's bands");
      }
    }
    ready_ = true;
  }
  out->resize(count);
  std::atomic<uint32_t> next{0};
  std::atomic<bool> failed{false};
  Failure failures[2];
  auto work = [&](size_t k) {
    for (;;) {
      const uint32_t i = next.fetch_add(1);
      if (i >= count || failed.load(std::memory_order_relaxed)) return;
      Failure f = encoders_[k]->encode(first + i, source_, &(*out)[i]);
      if (!f.ok()) {
        failures[k] = std::move(f);
        failed.store(true);
        return;
      }
    }
  };
  {
    std::thread helper;
    JoinGuard join(&helper);
    if (encoders_.size() == 2 && count > 1) {
      try {
        helper = std::thread(work, 1);
      } catch (const std::system_error&) {
        // One thread does every band.
      }
    }
    work(0);
  }
  return !failures[0].ok() ? failures[0] : failures[1];
}

}  // namespace pixelrts::codec
