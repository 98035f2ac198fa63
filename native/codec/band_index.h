// The band index: pixelrts' private ancillary PNG chunk `pxBI` (ancillary, private,
// unsafe-to-copy: editors that rewrite the image data drop it, other readers ignore it).
//
// A file with a band index has, at the start of every band (a run of `rows_per_band`
// scanlines), a full flush in its deflate stream: the band's compressed bytes start on a byte
// boundary with an empty history, so each band inflates on its own and bands decode in
// parallel. Data layout (big-endian, like all PNG integers):
//
//   u32 version            1
//   u32 rows_per_band      scanlines per band (the last band may be shorter)
//   u32 band_count         n = ceil(height / rows_per_band)
//   u64 offset[n + 1]      offset[i]: where band i's deflate data starts inside the zlib
//                          stream (the concatenated IDAT data, zlib header included);
//                          offset[n]: where the adler32 trailer starts (stream size − 4)
//
// Every band but the last ends with the empty stored block of the full flush (00 00 FF FF);
// the last ends with the final block. See docs/codec-format.md.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pixelrts::codec {

struct BandIndex {
  static constexpr char kChunkType[5] = "pxBI";
  static constexpr uint32_t kVersion = 1;

  uint32_t rows_per_band = 0;
  std::vector<uint64_t> offsets;  // band_count + 1 entries

  uint32_t band_count() const { return offsets.empty() ? 0 : static_cast<uint32_t>(offsets.size() - 1); }

  std::vector<uint8_t> Serialize() const;

  // Parses the chunk data; false (with the reason) when it is malformed for an image of
  // `height` rows whose zlib stream is `stream_size` bytes. A bad index is only a lost hint.
  static bool Parse(const uint8_t* data, size_t size, uint32_t height, uint64_t stream_size, BandIndex* out,
                    std::string* why);
};

}  // namespace pixelrts::codec
