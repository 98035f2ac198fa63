#include "codec/hilbert.h"

#include <algorithm>
#include <utility>

namespace pixelrts::codec {

// Spec §2 as written, without data-dependent branches (they would mispredict about half the
// time): when ry = 0, the point is complemented within s (if rx = 1) and swapped.
void HilbertD2xy(uint32_t n, uint64_t d, uint32_t* x_out, uint32_t* y_out) {
  uint64_t x = 0, y = 0, t = d;
  for (uint64_t s = 1; s < n; s <<= 1) {
    const uint64_t rx = 1 & (t >> 1);
    const uint64_t ry = 1 & (t ^ rx);
    const uint64_t flip = (0 - (rx & (ry ^ 1))) & (s - 1);  // s-1-v == v ^ (s-1) for v < s
    x ^= flip;
    y ^= flip;
    const uint64_t swap = (0 - (ry ^ 1)) & (x ^ y);
    x = (x ^ swap) + s * rx;
    y = (y ^ swap) + s * ry;
    t >>= 2;
  }
  *x_out = static_cast<uint32_t>(x);
  *y_out = static_cast<uint32_t>(y);
}

namespace {

// A square of the curve: its corner nearest the origin and the orientation its own curve (spec §2
// of the square's side) is laid in. Orientations compose by XOR: swap and complement commute.
struct Square {
  uint32_t x;
  uint32_t y;
  uint32_t orientation;  // an Orientation; a full word, as a byte here costs a store-forwarding stall
};

// Quadrant q (in curve order) of `square`, of side 2·half: d2xy's step at side `half` for index
// bits q puts quadrant (rx, ry) next, its curve swapped (ry = 0) and complemented (ry = 0,
// rx = 1), all within the parent's orientation.
inline Square Quadrant(const Square& square, uint32_t q, uint32_t half) {
  const uint32_t rx = 1 & (q >> 1), ry = 1 & (q ^ rx);
  const uint32_t step = ry == 1 ? kIdentity : rx == 1 ? kSwapComplement : kSwap;
  // Without branches: the orientations come in no predictable order.
  const uint32_t swap = (0u - (square.orientation & kSwap)) & (rx ^ ry);
  const uint32_t complement = (square.orientation & kComplement) >> 1;
  const uint32_t qx = rx ^ swap ^ complement, qy = ry ^ swap ^ complement;
  return Square{square.x + half * qx, square.y + half * qy, square.orientation ^ step};
}

// Visits the squares of side `leaf` that `square` (of side `side`) is cut into, in curve order:
// visit(k, s) with k the leaf's index along the square's curve. Top-down, so each of d2xy's
// steps is taken once per square it covers rather than once per leaf.
template <typename Visit>
void VisitSquares(uint32_t side, uint32_t leaf, const Square& square, uint64_t first, Visit& visit) {
  if (side == leaf) {
    visit(first, square);
    return;
  }
  const uint32_t half = side / 2;
  const uint64_t per_quadrant = uint64_t{half / leaf} * (half / leaf);
  for (uint32_t q = 0; q < 4; q++) {
    const Square quadrant = Quadrant(square, q, half);
    if (half == leaf) {
      visit(first + q, quadrant);  // saves a quarter of the calls
    } else {
      VisitSquares(half, leaf, quadrant, first + q * per_quadrant, visit);
    }
  }
}

// What a pruned walk does with a square.
enum class Look { kSkip, kWhole, kInside };

// The same walk, pruned: look(first, count, square, side) decides for each square (the index of
// its first leaf along the curve, how many leaves it holds) whether to skip it, take it whole
// (take(first, count, square, side)) or look inside; a leaf is taken. A walk that keeps one
// row of leaves, or one range of the curve, visits O(row) or O(log) squares, not all of them.
template <typename LookFn, typename Take>
void WalkSquares(uint32_t side, uint32_t leaf, const Square& square, uint64_t first, LookFn& look, Take& take) {
  const uint64_t count = uint64_t{side / leaf} * (side / leaf);
  const Look l = look(first, count, square, side);
  if (l == Look::kSkip) return;
  if (l == Look::kWhole || side == leaf) {
    take(first, count, square, side);
    return;
  }
  const uint32_t half = side / 2;
  for (uint32_t q = 0; q < 4; q++) WalkSquares(half, leaf, Quadrant(square, q, half), first + q * (count / 4), look, take);
}

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

// The whole grid as the first square of a walk. The legacy curve is the spec's transposed: a
// swap of the whole grid, i.e. of every tile.
Square Origin(bool transposed) { return Square{0, 0, transposed ? kSwap : kIdentity}; }

}  // namespace

HilbertTiling::HilbertTiling(uint32_t grid, bool transposed, bool table)
    : grid_(grid), tile_(std::min(grid, kTileSide)), tiles_per_side_(grid / tile_), transposed_(transposed) {
  const uint32_t tp = tile_ * tile_;
  for (uint8_t o = 0; o < 4; o++) {
    order_x_[o].resize(tp);
    order_y_[o].resize(tp);
  }
  // The tables are filled through plain pointers: through the vectors, every byte store would
  // reload their data pointers (a char store may alias anything).
  uint8_t* xs[4] = {order_x_[0].data(), order_x_[1].data(), order_x_[2].data(), order_x_[3].data()};
  uint8_t* ys[4] = {order_y_[0].data(), order_y_[1].data(), order_y_[2].data(), order_y_[3].data()};
  const uint32_t side = tile_;
  auto place_pixel = [&xs, &ys, side](uint64_t i, const Square& pixel) {
    for (uint8_t o = 0; o < 4; o++) {
      uint32_t ox, oy;
      Orient(o, side, pixel.x, pixel.y, &ox, &oy);
      xs[o][i] = static_cast<uint8_t>(ox);
      ys[o][i] = static_cast<uint8_t>(oy);
    }
  };
  VisitSquares(tile_, 1, Square{0, 0, kIdentity}, 0, place_pixel);

  // Small grids keep every band's tiles in a table (at most kTableTiles placements); larger
  // ones work each band out when it is asked for (band_tiles), so memory and set-up time do not
  // grow with the image.
  const uint64_t tiles = uint64_t{tiles_per_side_} * tiles_per_side_;
  if (!table || tiles > kTableTiles) return;
  const uint32_t tile_shift = static_cast<uint32_t>(__builtin_ctz(tile_));
  placements_.resize(tiles);
  TilePlacement* placements = placements_.data();
  const uint32_t tiles_per_side = tiles_per_side_;
  auto place_tile = [=](uint64_t k, const Square& tile) {
    placements[size_t{tile.y >> tile_shift} * tiles_per_side + (tile.x >> tile_shift)] =
        TilePlacement{static_cast<uint32_t>(k), static_cast<uint8_t>(tile.orientation)};
  };
  VisitSquares(grid_, tile_, Origin(transposed_), 0, place_tile);
}

const TilePlacement* HilbertTiling::band_tiles(uint32_t band, std::vector<TilePlacement>* scratch) const {
  if (!placements_.empty()) return &placements_[size_t{band} * tiles_per_side_];
  scratch->resize(tiles_per_side_);
  TilePlacement* out = scratch->data();
  const uint32_t tile_shift = static_cast<uint32_t>(__builtin_ctz(tile_));
  const uint32_t row = band << tile_shift;  // the band's first pixel row
  auto look = [row](uint64_t, uint64_t, const Square& sq, uint32_t side) {
    return row >= sq.y && row < sq.y + side ? Look::kInside : Look::kSkip;
  };
  auto take = [out, tile_shift](uint64_t k, uint64_t, const Square& tile, uint32_t) {
    out[tile.x >> tile_shift] = TilePlacement{static_cast<uint32_t>(k), static_cast<uint8_t>(tile.orientation)};
  };
  WalkSquares(grid_, tile_, Origin(transposed_), 0, look, take);
  return out;
}

int64_t HilbertTiling::bands_touched(uint64_t begin, uint64_t end, std::vector<uint8_t>* needed) const {
  needed->assign(bands(), 0);
  if (begin >= end) return -1;
  const uint64_t tile_bytes = tile_pixels() * 4;
  const uint64_t k0 = begin / tile_bytes, k1 = (end - 1) / tile_bytes + 1;  // curve tiles [k0, k1)
  const uint32_t tile_shift = static_cast<uint32_t>(__builtin_ctz(tile_));
  int64_t highest = -1;
  uint8_t* marks = needed->data();
  auto look = [k0, k1](uint64_t first, uint64_t count, const Square&, uint32_t) {
    if (first + count <= k0 || first >= k1) return Look::kSkip;
    return first >= k0 && first + count <= k1 ? Look::kWhole : Look::kInside;
  };
  auto take = [&](uint64_t, uint64_t, const Square& sq, uint32_t side) {
    const uint32_t top = sq.y >> tile_shift, bottom = (sq.y + side) >> tile_shift;
    for (uint32_t b = top; b < bottom; b++) marks[b] = 1;
    highest = std::max<int64_t>(highest, bottom - 1);
  };
  WalkSquares(grid_, tile_, Origin(transposed_), 0, look, take);
  return highest;
}

}  // namespace pixelrts::codec
