#include "codec/hilbert.h"

#include <algorithm>
#include <utility>

namespace pixelrts::codec {

namespace {

// The steps s = from, 2·from, … < n of spec §2's d2xy, applied to M points at once. Each step
// consumes two bits of t and depends on nothing else, so points whose indices share their high
// bits (t) move together: the tiling runs a tile's first two pixels through the steps above the
// tile size in one pass. Written without data-dependent branches, which would mispredict about
// half the time: when ry = 0, the points are complemented within s (if rx = 1) and swapped.
struct Point {
  uint64_t x = 0;
  uint64_t y = 0;
};

inline void Step(Point* p, uint64_t s, uint64_t rx, uint64_t ry, uint64_t flip, uint64_t swap_mask) {
  uint64_t x = p->x ^ flip, y = p->y ^ flip;
  const uint64_t swap = swap_mask & (x ^ y);
  p->x = (x ^ swap) + s * rx;
  p->y = (y ^ swap) + s * ry;
}

// The steps s = from, 2·from, … < n of spec §2's d2xy, applied to one point or two. Each step
// consumes two bits of t and depends on nothing else, so points whose indices share their high
// bits (t) move together: the tiling runs a tile's first two pixels through the steps above the
// tile size in one pass. Written without data-dependent branches, which would mispredict about
// half the time: when ry = 0, the points are complemented within s (if rx = 1) and swapped.
void D2xySteps(uint64_t n, uint64_t from, uint64_t t, Point* a, Point* b) {
  for (uint64_t s = from; s < n; s <<= 1) {
    const uint64_t rx = 1 & (t >> 1);
    const uint64_t ry = 1 & (t ^ rx);
    const uint64_t flip = (0 - (rx & (ry ^ 1))) & (s - 1);  // s-1-v == v ^ (s-1) for v < s
    const uint64_t swap_mask = 0 - (ry ^ 1);
    Step(a, s, rx, ry, flip, swap_mask);
    if (b != nullptr) Step(b, s, rx, ry, flip, swap_mask);
    t >>= 2;
  }
}

}  // namespace

void HilbertD2xy(uint32_t n, uint64_t d, uint32_t* x_out, uint32_t* y_out) {
  Point p;
  D2xySteps(n, 1, d, &p, nullptr);
  *x_out = static_cast<uint32_t>(p.x);
  *y_out = static_cast<uint32_t>(p.y);
}

namespace {

// (x, y) of orientation `o` applied to the identity position (x, y) in a side×side tile.
void Orient(uint8_t o, uint32_t side, uint32_t x, uint32_t y, uint32_t* ox, uint32_t* oy) {
  if (o & kSwap) std::swap(x, y);
  if (o & kComplement) {
    x = side - 1 - x;
    y = side - 1 - y;
  }
  *ox = x;
  *oy = y;
}

}  // namespace

HilbertTiling::HilbertTiling(uint32_t grid, bool transposed)
    : grid_(grid), tile_(std::min(grid, kTileSide)), tiles_per_side_(grid / tile_), transposed_(transposed) {
  const uint32_t tp = tile_ * tile_;
  for (uint8_t o = 0; o < 4; o++) {
    order_x_[o].resize(tp);
    order_y_[o].resize(tp);
  }
  for (uint32_t i = 0; i < tp; i++) {
    uint32_t x, y;
    HilbertD2xy(tile_, i, &x, &y);
    for (uint8_t o = 0; o < 4; o++) {
      uint32_t ox, oy;
      Orient(o, tile_, x, y, &ox, &oy);
      order_x_[o][i] = static_cast<uint8_t>(ox);
      order_y_[o][i] = static_cast<uint8_t>(oy);
    }
  }

  // Each tile's placement and orientation follow from where the full curve puts the tile's
  // first two pixels: the first fixes the tile (and complement or not), the second the swap.
  const uint64_t tiles = uint64_t{tiles_per_side_} * tiles_per_side_;
  placements_.resize(tiles);
  band_of_tile_.resize(tiles);
  // Pixels k·tp and k·tp+1 of the curve: the steps below the tile size place them inside the
  // tile exactly as for k = 0; only the steps from the tile size on depend on k.
  uint32_t first_x, first_y, second_x = 0, second_y = 0;
  HilbertD2xy(tile_, 0, &first_x, &first_y);
  if (tp > 1) HilbertD2xy(tile_, 1, &second_x, &second_y);
  for (uint64_t k = 0; k < tiles; k++) {
    Point first{first_x, first_y}, second{second_x, second_y};
    D2xySteps(grid_, tile_, k, &first, &second);
    uint32_t x0 = static_cast<uint32_t>(first.x), y0 = static_cast<uint32_t>(first.y);
    uint32_t x1 = static_cast<uint32_t>(second.x), y1 = static_cast<uint32_t>(second.y);
    if (transposed_) {
      std::swap(x0, y0);
      std::swap(x1, y1);
    }
    const uint32_t tx = x0 / tile_;
    const uint32_t ty = y0 / tile_;
    const uint32_t fx0 = x0 - tx * tile_, fy0 = y0 - ty * tile_;
    const uint32_t fx1 = x1 - tx * tile_, fy1 = y1 - ty * tile_;
    uint8_t orientation = kIdentity;
    for (uint8_t o = 0; o < 4; o++) {
      if (order_x_[o][0] == fx0 && order_y_[o][0] == fy0 &&
          (tp == 1 || (order_x_[o][1] == fx1 && order_y_[o][1] == fy1))) {
        orientation = o;
        break;
      }
    }
    placements_[size_t{ty} * tiles_per_side_ + tx] = TilePlacement{static_cast<uint32_t>(k), orientation};
    band_of_tile_[k] = static_cast<uint16_t>(ty);
  }
}

int64_t HilbertTiling::bands_touched(uint64_t begin, uint64_t end, std::vector<uint8_t>* needed) const {
  needed->assign(bands(), 0);
  if (begin >= end) return -1;
  const uint64_t tile_bytes = tile_pixels() * 4;
  int64_t highest = -1;
  for (uint64_t k = begin / tile_bytes; k <= (end - 1) / tile_bytes; k++) {
    uint32_t b = band_of_tile_[k];
    (*needed)[b] = 1;
    highest = std::max<int64_t>(highest, b);
  }
  return highest;
}

}  // namespace pixelrts::codec
