// The hash tree: pixelrts' private ancillary PNG chunk `pxHT` (ancillary, private,
// unsafe-to-copy, like pxBI), before the image data. It lets a reader check every block of the
// pixel stream as it decodes it, instead of hashing the whole payload before using any of it
// (like dm-verity or fs-verity). Its leaves follow the bands, the unit a decoder works in: the
// leaves of one band sit together, so checking a band reads one run of hashes.
//
// A leaf block is one tile's run of the pixel stream: tile_bytes = T²·4 bytes (4096 for the
// 32×32 tiles of grids from 32 up; the whole stream for smaller grids), the bytes as encoded,
// zeros past the stream's end. Data layout (integers big-endian):
//
//   u32 version          1
//   u32 tile_bytes       bytes of pixel stream per leaf
//   u32 band_count       n: bands (rows of tiles) of the image
//   u32 tiles_per_band   m
//   n·m × 32 bytes       leaf[b][t]: SHA-256 of tile t (left to right) of band b
//   n × 32 bytes         band[b]: SHA-256 of band b's m leaves end to end
//   32 bytes             root: SHA-256 of the n band hashes end to end
//
// The tile at column t of band b holds curve indices [k·T², (k+1)·T²) for the k spec §2 puts
// there: pixel (x, y) = d2xy(G, i) lies in tile (x / T, y / T).
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace pixelrts::codec {

struct HashTreeLayout {
  static constexpr char kChunkType[5] = "pxHT";
  static constexpr uint32_t kVersion = 1;
  static constexpr size_t kHeaderBytes = 16;
  static constexpr size_t kHash = 32;

  uint32_t tile_bytes = 0;
  uint32_t bands = 0;
  uint32_t tiles_per_band = 0;

  uint64_t leaves_offset(uint32_t band) const { return kHeaderBytes + uint64_t{band} * tiles_per_band * kHash; }
  uint64_t band_hashes_offset() const { return leaves_offset(bands); }
  uint64_t root_offset() const { return band_hashes_offset() + uint64_t{bands} * kHash; }
  uint64_t data_size() const { return root_offset() + kHash; }

  std::vector<uint8_t> Header() const;

  // Reads the 16-byte header of a chunk of `chunk_size` bytes; false (with the reason) when it
  // is not version 1 or does not describe an image of `bands` bands of `tiles_per_band` tiles
  // of `tile_bytes`.
  static bool Parse(const uint8_t* header, uint64_t chunk_size, uint32_t tile_bytes, uint32_t bands,
                    uint32_t tiles_per_band, HashTreeLayout* out, std::string* why);
};

}  // namespace pixelrts::codec
