#include "codec/hash_tree.h"

#include "codec/big_endian.h"

namespace pixelrts::codec {

std::vector<uint8_t> HashTreeLayout::Header() const {
  std::vector<uint8_t> out(kHeaderBytes);
  PutBe32(out.data(), kVersion);
  PutBe32(out.data() + 4, tile_bytes);
  PutBe32(out.data() + 8, bands);
  PutBe32(out.data() + 12, tiles_per_band);
  return out;
}

bool HashTreeLayout::Parse(const uint8_t* header, uint64_t chunk_size, uint32_t tile_bytes, uint32_t bands,
                           uint32_t tiles_per_band, HashTreeLayout* out, std::string* why) {
  if (Be32(header) != kVersion) {
    *why = "version " + std::to_string(Be32(header)) + ", expected 1";
    return false;
  }
  HashTreeLayout l;
  l.tile_bytes = Be32(header + 4);
  l.bands = Be32(header + 8);
  l.tiles_per_band = Be32(header + 12);
  if (l.tile_bytes != tile_bytes || l.bands != bands || l.tiles_per_band != tiles_per_band) {
    *why = "it describes " + std::to_string(l.bands) + " bands of " + std::to_string(l.tiles_per_band) + " tiles of " +
           std::to_string(l.tile_bytes) + " bytes, the image has " + std::to_string(bands) + " of " +
           std::to_string(tiles_per_band) + " of " + std::to_string(tile_bytes);
    return false;
  }
  if (l.data_size() != chunk_size) {
    *why = "it is " + std::to_string(chunk_size) + " bytes, its header says " + std::to_string(l.data_size());
    return false;
  }
  *out = l;
  return true;
}

}  // namespace pixelrts::codec
