// BandGather moves pixels between image rows and the pixel byte stream along the Hilbert
// curve, one band (row of tiles) at a time, through per-orientation tables of byte offsets
// into the tile. The rows can be a PNG's unfiltered scanlines (stride 4·G+1, pixel data after
// the filter byte) or plain RGBA pixels (stride 4·G).
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
  void gather(uint32_t band, const uint8_t* rows, uint64_t win_begin, uint64_t win_end, uint8_t* out) const;

  // The inverse: writes band `band` of the image from stream[0, stream_size); pixels or bytes
  // past stream_size become 0 (the encoder's unused pixels).
  void scatter(uint32_t band, uint8_t* rows, const uint8_t* stream, uint64_t stream_size) const;

 private:
  const HilbertTiling& tiling_;
  size_t stride_;
  std::vector<uint32_t> offsets_[4];  // byte offset inside the tile of the i-th pixel of the run
};

}  // namespace pixelrts::codec
