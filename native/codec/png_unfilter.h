// Reverses PNG row filtering (PNG spec §9: None, Sub, Up, Average, Paeth) for 8-bit RGBA rows
// (4 bytes per pixel), in place. The SSE2 path handles a pixel (or for Sub and Up, four) per
// step; the scalar path is the plain definition, kept for other CPUs and as the reference the
// fuzz target checks the fast path against.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts::codec {

class RowUnfilter {
 public:
  // Unfilters `row` (`length` bytes, a multiple of 4, without the filter byte) given the
  // already unfiltered previous row `prev` (all zero for the first row). False when `filter`
  // is not 0–4.
  static bool Apply(uint8_t filter, uint8_t* row, const uint8_t* prev, size_t length);

  // The plain per-byte definition (same contract).
  static bool ApplyScalar(uint8_t filter, uint8_t* row, const uint8_t* prev, size_t length);
};

}  // namespace pixelrts::codec
