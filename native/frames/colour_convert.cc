#include "frames/colour_convert.h"

#include <cstring>

// GCC only vectorises the cheapest loops at -O2; these loops pay for the full cost model
// (checked with -fopt-info-vec: every inner loop below vectorises). Clang vectorises at -O2.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC optimize("tree-vectorize", "vect-cost-model=dynamic")
#endif

namespace pixelrts::frames {

namespace {

// BT.601 limited-range coefficients in 8.8 fixed point.
inline uint8_t Luma(int r, int g, int b) { return static_cast<uint8_t>(((66 * r + 129 * g + 25 * b + 128) >> 8) + 16); }

// Chroma from the sum of a 2x2 block (each channel summed over four pixels, so ×4):
// the 8.8 coefficients shift by 10 instead of 8, with the rounding constant scaled alike.
inline uint8_t ChromaU(int r4, int g4, int b4) {
  return static_cast<uint8_t>(((-38 * r4 - 74 * g4 + 112 * b4 + 512) >> 10) + 128);
}
inline uint8_t ChromaV(int r4, int g4, int b4) {
  return static_cast<uint8_t>(((112 * r4 - 94 * g4 - 18 * b4 + 512) >> 10) + 128);
}

// R and B positions are template constants so the loads have fixed offsets and stride 4.
template <int R, int B>
void RgbxRows(const uint8_t* src, size_t src_stride, int width, int height, uint8_t* y, size_t y_stride,
              uint8_t* u, uint8_t* v, size_t uv_stride) {
  const int half = width / 2;
  for (int row = 0; row < height; row += 2) {
    const uint8_t* __restrict s0 = src + static_cast<size_t>(row) * src_stride;
    const uint8_t* __restrict s1 = s0 + src_stride;
    uint8_t* __restrict y0 = y + static_cast<size_t>(row) * y_stride;
    uint8_t* __restrict y1 = y0 + y_stride;
    uint8_t* __restrict ur = u + static_cast<size_t>(row / 2) * uv_stride;
    uint8_t* __restrict vr = v + static_cast<size_t>(row / 2) * uv_stride;
    for (int x = 0; x < width; x++) y0[x] = Luma(s0[4 * x + R], s0[4 * x + 1], s0[4 * x + B]);
    for (int x = 0; x < width; x++) y1[x] = Luma(s1[4 * x + R], s1[4 * x + 1], s1[4 * x + B]);
    for (int x = 0; x < half; x++) {
      const int r = s0[8 * x + R] + s0[8 * x + 4 + R] + s1[8 * x + R] + s1[8 * x + 4 + R];
      const int g = s0[8 * x + 1] + s0[8 * x + 5] + s1[8 * x + 1] + s1[8 * x + 5];
      const int b = s0[8 * x + B] + s0[8 * x + 4 + B] + s1[8 * x + B] + s1[8 * x + 4 + B];
      ur[x] = ChromaU(r, g, b);
      vr[x] = ChromaV(r, g, b);
    }
  }
}

}  // namespace

void RgbxToI420(const uint8_t* src, size_t src_stride, int width, int height, bool red_first,
                uint8_t* y, size_t y_stride, uint8_t* u, uint8_t* v, size_t uv_stride) {
  if (red_first) {
    RgbxRows<0, 2>(src, src_stride, width, height, y, y_stride, u, v, uv_stride);
  } else {
    RgbxRows<2, 0>(src, src_stride, width, height, y, y_stride, u, v, uv_stride);
  }
}

void DeinterleaveUv(const uint8_t* uv, size_t uv_src_stride, int width, int height,
                    uint8_t* u, uint8_t* v, size_t uv_stride) {
  const int half_w = width / 2, half_h = height / 2;
  for (int row = 0; row < half_h; row++) {
    const uint8_t* __restrict s = uv + static_cast<size_t>(row) * uv_src_stride;
    uint8_t* __restrict ur = u + static_cast<size_t>(row) * uv_stride;
    uint8_t* __restrict vr = v + static_cast<size_t>(row) * uv_stride;
    for (int x = 0; x < half_w; x++) {
      ur[x] = s[2 * x];
      vr[x] = s[2 * x + 1];
    }
  }
}

void CopyPlane(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride, int width, int height) {
  for (int row = 0; row < height; row++) {
    std::memcpy(dst + static_cast<size_t>(row) * dst_stride, src + static_cast<size_t>(row) * src_stride,
                static_cast<size_t>(width));
  }
}

}  // namespace pixelrts::frames
