#include "codec/band_decoder.h"

#include <algorithm>
#include <cstring>

#include "codec/png_unfilter.h"

namespace pixelrts::codec {

BandDecoder::BandDecoder(const PngReader& png, const BandIndex& index, uint32_t rows_per_band)
    : png_(png), index_(index), rows_per_band_(rows_per_band), stride_(static_cast<size_t>(png.stride())) {}

Failure BandDecoder::decode(uint32_t band, const uint8_t* above) {
  const std::string where = "band " + std::to_string(band) + " of " + std::to_string(index_.band_count());
  if (!ready_) {
    uint64_t max_segment = 0;
    for (uint32_t b = 0; b < index_.band_count(); b++) max_segment = std::max(max_segment, index_.offsets[b + 1] - index_.offsets[b]);
    if (!inflater_.ok() || !compressed_.allocate(static_cast<size_t>(max_segment) + 2) ||
        !rows_.allocate(band_bytes() + stride_)) {
      return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for the buffers of a band");
    }
    ready_ = true;
  }
  // A band's data ends with the full flush's empty stored block; two bytes of an empty final
  // fixed-Huffman block (03 00) make it a complete deflate stream for libdeflate.
  const uint64_t begin = index_.offsets[band], end = index_.offsets[band + 1];
  size_t n = static_cast<size_t>(end - begin);
  Failure f = png_.read_idat(begin, end, compressed_.data());
  if (!f.ok()) return f;
  if (band + 1 < index_.band_count()) {
    compressed_.data()[n++] = 0x03;
    compressed_.data()[n++] = 0x00;
  }
  uint8_t* first = rows_.data() + stride_;
  size_t consumed = 0, produced = 0;
  if (!inflater_.raw(compressed_.data(), n, first, band_bytes(), &consumed, &produced) || consumed != n ||
      produced != band_bytes()) {
    return Failure::make("ERR_PIXELRTS_INFLATE", "PNG: the image data of " + where +
                                                     " is not a valid deflate stream of exactly its " +
                                                     std::to_string(band_bytes()) + " bytes of scanlines: the file is corrupt");
  }
  if (above != nullptr) {
    std::memcpy(rows_.data() + 1, above, stride_ - 1);
  } else {
    if (band != 0 && first[0] >= 2) {
      return Failure::make("ERR_PIXELRTS_BAND_INDEX", "PNG: the first scanline of " + where + " uses filter " +
                                                          std::to_string(first[0]) +
                                                          ", which needs the band above: it cannot be decoded on its own");
    }
    std::memset(rows_.data(), 0, stride_);
  }
  for (uint32_t r = 0; r < rows_per_band_; r++) {
    uint8_t* row = first + size_t{r} * stride_;
    const uint8_t* prev = row - stride_;
    if (!RowUnfilter::Apply(row[0], row + 1, prev + 1, stride_ - 1)) {
      return Failure::make("ERR_PIXELRTS_PNG_FILTER", "PNG: a scanline of " + where + " has filter type " +
                                                          std::to_string(row[0]) + ", expected 0 to 4: the image data is corrupt");
    }
  }
  return Failure::none();
}

}  // namespace pixelrts::codec
