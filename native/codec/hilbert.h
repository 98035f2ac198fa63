// The Hilbert curve of PixelRTS v2 (spec §2) cut into tiles.
//
// Every aligned T×T tile (T a power of two) is one contiguous run of T² curve indices,
// traversed as the order-log2(T) curve in one of four orientations (identity, swap,
// complement, swap+complement). HilbertTiling works out, once per grid, where each tile sits,
// which run of the curve it holds and in which orientation, so the gather copies whole tiles
// through a small per-orientation table instead of evaluating d2xy for every pixel.
// A band is one row of tiles (T image rows): the unit of unfiltering, inflating and readiness.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace pixelrts::codec {

// Spec §2 d2xy: curve index d → (x, y) on an n×n grid (n a power of two, d < n²). The
// reference definition (hilbertD2xy); HilbertTiling composes the same steps top-down instead.
void HilbertD2xy(uint32_t n, uint64_t d, uint32_t* x, uint32_t* y);

enum Orientation : uint8_t { kIdentity = 0, kSwap = 1, kComplement = 2, kSwapComplement = 3 };

// One tile of a band, in left-to-right order.
struct TilePlacement {
  uint32_t curve_tile;      // the tile holds curve indices [curve_tile·T², (curve_tile+1)·T²)
  uint8_t orientation;      // how the order-log2(T) curve is laid into the tile
};

class HilbertTiling {
 public:
  // Tile side used for grids of at least this size (smaller grids are one tile).
  static constexpr uint32_t kTileSide = 32;

  // `grid`: a power of two ≥ 1; `transposed`: the legacy curve with x and y swapped.
  // `table`: false never keeps the table (tests compare both ways on small grids).
  HilbertTiling(uint32_t grid, bool transposed, bool table = true);

  uint32_t grid() const { return grid_; }
  uint32_t tile_side() const { return tile_; }
  uint32_t tiles_per_side() const { return tiles_per_side_; }
  uint32_t bands() const { return tiles_per_side_; }
  uint64_t tile_pixels() const { return uint64_t{tile_} * tile_; }
  bool transposed() const { return transposed_; }

  // Grids with up to this many tiles (8192², 512 KiB of placements) keep them all in a table.
  static constexpr uint64_t kTableTiles = uint64_t{1} << 16;

  // The tiles of band `band` (tiles_per_side() of them, left to right): from the table, or
  // worked out into `scratch` for larger grids (a walk of the curve that visits only the
  // squares crossing the band's rows, about 20 µs for 1024 tiles).
  const TilePlacement* band_tiles(uint32_t band, std::vector<TilePlacement>* scratch) const;

  // Marks in `needed` (resized to bands()) every band holding a byte of stream range
  // [begin, end); returns the highest such band, or -1 when the range is empty. A walk of the
  // curve that takes whole the squares inside the range: O(log) squares, whatever its length.
  int64_t bands_touched(uint64_t begin, uint64_t end, std::vector<uint8_t>* needed) const;

  // Position (x, y) inside a tile of the i-th pixel of the tile's run, for orientation o.
  uint8_t tile_x(uint8_t o, uint32_t i) const { return order_x_[o][i]; }
  uint8_t tile_y(uint8_t o, uint32_t i) const { return order_y_[o][i]; }

 private:
  uint32_t grid_;
  uint32_t tile_;
  uint32_t tiles_per_side_;
  bool transposed_;
  std::vector<TilePlacement> placements_;   // [band][tx], small grids only
  std::vector<uint8_t> order_x_[4];
  std::vector<uint8_t> order_y_[4];
};

}  // namespace pixelrts::codec
