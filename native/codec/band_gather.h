// BandGather moves pixels between image rows and the pixel byte stream along the Hilbert
// curve, one band (row of tiles) at a time. The rows can be a PNG's unfiltered scanlines
// (stride 4·G+1, pixel data after the filter byte) or plain RGBA pixels (stride 4·G).
//
// A 32×32 tile is four consecutive 16×16 walks, each sixteen consecutive 4×4 blocks, each in
// one of four orders known at compile time. A tile moves in curve order, so its output is
// written in address order: per 4×4 block four 16-byte row loads, four quadrant unpacks, four
// dword shuffles and 64 contiguous bytes stored (SSE2), non-temporally when the output is
// 16-byte aligned. The encoder's scatter does the inverse with 2×2 blocks. Smaller tiles use
// 2×2 blocks; tiles cut by the window edge, and CPUs without SSE2, use a per-pixel table.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "codec/hilbert.h"

namespace pixelrts::codec {

class BandGather {
 public:
  // `stride`: bytes from one row's first pixel to the next row's first pixel.
  BandGather(const HilbertTiling& tiling, size_t stride);

  // Copies every byte of band `band` whose stream position lies in [win_begin, win_end) to
  // out[position - win_begin]. `rows` points at pixel 0 of the band's first row.
  // `prefetch_ahead`: the next band's rows follow in memory and will be gathered next, so read
  // them into the cache meanwhile.
  void gather(uint32_t band, const uint8_t* rows, uint64_t win_begin, uint64_t win_end, uint8_t* out,
              bool prefetch_ahead = false) const;

  // Every tile of band `band`, whole, one after another: tile tx's run of the stream (its
  // tile_pixels()·4 bytes) at staged[tx · tile_pixels()·4]. The decoded cache writes each run
  // where it belongs in the stream.
  void gather_staged(uint32_t band, const uint8_t* rows, uint8_t* staged) const;

  // The inverse: writes band `band` of the image from stream[0, stream_size); pixels or bytes
  // past stream_size become 0 (the encoder's unused pixels).
  void scatter(uint32_t band, uint8_t* rows, const uint8_t* stream, uint64_t stream_size) const;

  // The same from a band's tiles staged one after another: tile tx's run of the stream (its
  // tile_pixels()·4 bytes, zero past the stream's end) at staged[tx · tile_pixels()·4]. The
  // streaming encoder reads each tile's run from its inputs into such a staging area.
  void scatter_staged(uint32_t band, uint8_t* rows, const uint8_t* staged) const;

 private:
  // One 2×2 block of a tile: where its top-left pixel is (bytes into the tile's rows) and
  // where its 16 bytes go (bytes into the tile's run of the stream).
  struct Block {
    uint32_t src;
    uint32_t dst;
  };
  // The blocks of a tile in orientation o, grouped by the order their four pixels are visited in.
  struct BlockGroups {
    std::vector<Block> by_order[4];
  };

  // Groups the 2×2 blocks of every tile orientation by which of the four kBlockOrders their
  // pixels are visited in; false when a block follows none (then the per-pixel path is used).
  bool classify_blocks();
  void gather_tile_blocks(uint8_t orientation, const uint8_t* src, uint8_t* dst) const;
  void scatter_tile_blocks(uint8_t orientation, uint8_t* dst, const uint8_t* src) const;
  // One whole tile at `src` (in the rows) into its run `dst`; true when it used non-temporal
  // stores (the caller fences before the output is read).
  bool gather_tile(uint8_t orientation, const uint8_t* src, uint8_t* dst) const;
  // One whole tile from its run `src` (tile_pixels()·4 bytes) into the rows at `dst`.
  void scatter_tile(uint8_t orientation, uint8_t* dst, const uint8_t* src) const;

  const HilbertTiling& tiling_;
  size_t stride_;
  std::vector<uint32_t> offsets_[4];  // byte offset inside the tile of the i-th pixel of the run
  BlockGroups blocks_[4];    // 2×2 blocks
  bool use_blocks_ = false;
  bool use_walks_ = false;  // tiles of side 16 or 32 gathered in curve order, 4×4 blocks at a time
};

}  // namespace pixelrts::codec
