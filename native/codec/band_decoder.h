// BandDecoder: inflates and unfilters one band of a file with a band index (band_index.h): the
// band's deflate data is read from the IDAT chunks on its own (a full flush precedes it),
// inflated into exactly the band's scanlines and unfiltered. One per thread; it owns its
// buffers, sized for the largest band once.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "codec/band_index.h"
#include "codec/byte_buffer.h"
#include "codec/inflater.h"
#include "codec/png_reader.h"
#include "common/failure.h"

namespace pixelrts::codec {

class BandDecoder {
 public:
  // `png` parsed with a usable band index; both must outlive the decoder.
  BandDecoder(const PngReader& png, const BandIndex& index, uint32_t rows_per_band);

  // Decodes band `band`. `above` is the unfiltered last row of band−1 (pixels only), or null
  // when it is not at hand: then a first row whose filter needs the row above is an error
  // (ERR_PIXELRTS_BAND_INDEX; files pixelrts writes start every band with filter None).
  Failure decode(uint32_t band, const uint8_t* above);

  // Pixels of row r of the last decoded band (after its filter byte).
  const uint8_t* row(uint32_t r) const { return rows_.data() + stride_ + size_t{r} * stride_ + 1; }
  // The whole last decoded band, filter bytes included (for its adler32).
  const uint8_t* scanlines() const { return rows_.data() + stride_; }
  size_t band_bytes() const { return stride_ * rows_per_band_; }
  size_t stride() const { return stride_; }

 private:
  const PngReader& png_;
  const BandIndex& index_;
  uint32_t rows_per_band_;
  size_t stride_;
  Inflater inflater_;
  ByteBuffer compressed_;
  ByteBuffer rows_;  // slot 0: the row above the band (zeros, or `above`); then the band
  bool ready_ = false;
};

}  // namespace pixelrts::codec
