#include "codec/band_gather.h"

#include <algorithm>
#include <cstring>

namespace pixelrts::codec {

namespace {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

}  // namespace

BandGather::BandGather(const HilbertTiling& tiling, size_t stride) : tiling_(tiling), stride_(stride) {
  const uint32_t tp = static_cast<uint32_t>(tiling.tile_pixels());
  for (uint8_t o = 0; o < 4; o++) {
    offsets_[o].resize(tp);
    for (uint32_t i = 0; i < tp; i++) {
      offsets_[o][i] = static_cast<uint32_t>(tiling.tile_y(o, i) * stride + tiling.tile_x(o, i) * 4u);
    }
  }
}

void BandGather::gather(uint32_t band, const uint8_t* rows, uint64_t win_begin, uint64_t win_end,
                        uint8_t* out) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tp = tiling_.tile_pixels();
  const uint64_t tile_bytes = tp * 4;
  const TilePlacement* tiles = tiling_.band_tiles(band);
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    const uint64_t t_begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    const uint64_t t_end = t_begin + tile_bytes;
    if (t_end <= win_begin || t_begin >= win_end) continue;
    const uint8_t* src = rows + size_t{tx} * side * 4;
    const uint32_t* off = offsets_[tiles[tx].orientation].data();
    if (t_begin >= win_begin && t_end <= win_end) {
      // Whole tile: the hot loop, one 4-byte load and store per pixel.
      uint8_t* dst = out + (t_begin - win_begin);
      if (tp < 4) {  // the 1×1 grid
        Store32(dst, Load32(src + off[0]));
        continue;
      }
      for (uint64_t i = 0; i < tp; i += 4) {
        uint32_t a = Load32(src + off[i]);
        uint32_t b = Load32(src + off[i + 1]);
        uint32_t c = Load32(src + off[i + 2]);
        uint32_t d = Load32(src + off[i + 3]);
        Store32(dst + 4 * i, a);
        Store32(dst + 4 * i + 4, b);
        Store32(dst + 4 * i + 8, c);
        Store32(dst + 4 * i + 12, d);
      }
      continue;
    }
    // Tile cut by the window: byte by byte over the overlap.
    const uint64_t lo = std::max(t_begin, win_begin);
    const uint64_t hi = std::min(t_end, win_end);
    for (uint64_t pos = lo; pos < hi; pos++) {
      const uint64_t rel = pos - t_begin;
      out[pos - win_begin] = src[off[rel >> 2] + (rel & 3)];
    }
  }
}

void BandGather::scatter(uint32_t band, uint8_t* rows, const uint8_t* stream, uint64_t stream_size) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tp = tiling_.tile_pixels();
  const uint64_t tile_bytes = tp * 4;
  const TilePlacement* tiles = tiling_.band_tiles(band);
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    const uint64_t t_begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    uint8_t* dst = rows + size_t{tx} * side * 4;
    const uint32_t* off = offsets_[tiles[tx].orientation].data();
    if (t_begin + tile_bytes <= stream_size) {
      const uint8_t* src = stream + t_begin;
      if (tp < 4) {  // the 1×1 grid
        Store32(dst + off[0], Load32(src));
        continue;
      }
      for (uint64_t i = 0; i < tp; i += 4) {
        uint32_t a = Load32(src + 4 * i);
        uint32_t b = Load32(src + 4 * i + 4);
        uint32_t c = Load32(src + 4 * i + 8);
        uint32_t d = Load32(src + 4 * i + 12);
        Store32(dst + off[i], a);
        Store32(dst + off[i + 1], b);
        Store32(dst + off[i + 2], c);
        Store32(dst + off[i + 3], d);
      }
    } else if (t_begin >= stream_size) {
      for (uint32_t y = 0; y < side; y++) std::memset(dst + y * stride_, 0, size_t{side} * 4);
    } else {
      for (uint64_t rel = 0; rel < tile_bytes; rel++) {
        const uint64_t pos = t_begin + rel;
        dst[off[rel >> 2] + (rel & 3)] = pos < stream_size ? stream[pos] : 0;
      }
    }
  }
}

}  // namespace pixelrts::codec
