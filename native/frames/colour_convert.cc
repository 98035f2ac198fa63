#include "frames/colour_convert.h"

#include <cstring>

#include "frames/hxfr_protocol.h"

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
// Any width and height: an odd height's last row is paired with itself and an odd width's
// last column with itself, which writes the padded row and column of the even picture.
template <int R, int B>
void RgbxRows(const uint8_t* src, size_t src_stride, int width, int height, uint8_t* y, size_t y_stride,
              uint8_t* u, uint8_t* v, size_t uv_stride) {
  const int half = width / 2;  // whole 2x2 blocks per row pair
  for (int row = 0; row < height; row += 2) {
    const uint8_t* __restrict s0 = src + static_cast<size_t>(row) * src_stride;
    const uint8_t* __restrict s1 = row + 1 < height ? s0 + src_stride : s0;  // only read: may alias s0
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
    if (width & 1) {
      const int x = width - 1;
      y0[width] = y0[x];
      y1[width] = y1[x];
      const int r = 2 * (s0[4 * x + R] + s1[4 * x + R]);
      const int g = 2 * (s0[4 * x + 1] + s1[4 * x + 1]);
      const int b = 2 * (s0[4 * x + B] + s1[4 * x + B]);
      ur[half] = ChromaU(r, g, b);
      vr[half] = ChromaV(r, g, b);
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
  const int half_w = (width + 1) / 2, half_h = (height + 1) / 2;
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

namespace {

// Row `row` of a plane whose first `width` bytes are written: repeats its last byte out to
// dst_width.
inline void ReplicateLastColumn(uint8_t* row, int width, int dst_width) {
  if (dst_width > width) std::memset(row + width, row[width - 1], static_cast<size_t>(dst_width - width));
}

// Repeats the plane's row height - 1 (already dst_width wide) down to dst_height rows.
void ReplicateLastRow(uint8_t* plane, size_t stride, int height, int dst_width, int dst_height) {
  const uint8_t* last = plane + static_cast<size_t>(height - 1) * stride;
  for (int row = height; row < dst_height; row++) {
    std::memcpy(plane + static_cast<size_t>(row) * stride, last, static_cast<size_t>(dst_width));
  }
}

}  // namespace

void CopyPlaneReplicatingEdges(const uint8_t* src, size_t src_stride, int width, int height, uint8_t* dst,
                               size_t dst_stride, int dst_width, int dst_height) {
  for (int row = 0; row < height; row++) {
    uint8_t* d = dst + static_cast<size_t>(row) * dst_stride;
    std::memcpy(d, src + static_cast<size_t>(row) * src_stride, static_cast<size_t>(width));
    ReplicateLastColumn(d, width, dst_width);
  }
  ReplicateLastRow(dst, dst_stride, height, dst_width, dst_height);
}

namespace {

// A w×h plane → ceil(w/2)×ceil(h/2) rounded means of 2x2 blocks (an odd last column or row is
// averaged with itself), then its last column and row repeated out to dst_w×dst_h.
void HalvePlane(const uint8_t* src, size_t src_stride, int w, int h, uint8_t* dst, size_t dst_stride, int dst_w,
                int dst_h) {
  const int half_w = (w + 1) / 2, half_h = (h + 1) / 2, pairs = w / 2;
  for (int row = 0; row < half_h; row++) {
    const uint8_t* __restrict s0 = src + static_cast<size_t>(2 * row) * src_stride;
    const uint8_t* __restrict s1 = 2 * row + 1 < h ? s0 + src_stride : s0;  // only read: may alias s0
    uint8_t* __restrict d = dst + static_cast<size_t>(row) * dst_stride;
    for (int x = 0; x < pairs; x++) {
      d[x] = static_cast<uint8_t>((s0[2 * x] + s0[2 * x + 1] + s1[2 * x] + s1[2 * x + 1] + 2) >> 2);
    }
    if (w & 1) d[pairs] = static_cast<uint8_t>((s0[w - 1] + s1[w - 1] + 1) >> 1);
    ReplicateLastColumn(d, half_w, dst_w);
  }
  ReplicateLastRow(dst, dst_stride, half_h, dst_w, dst_h);
}

}  // namespace

int HalvingsToFit(int width, int height, uint32_t max_macroblocks) {
  if (max_macroblocks == 0) return 0;
  const uint64_t max = max_macroblocks, side_squared = 8 * max;
  int n = 0;
  for (;;) {
    const uint64_t mw = static_cast<uint64_t>(width + 15) / 16, mh = static_cast<uint64_t>(height + 15) / 16;
    if (mw * mh <= max && mw * mw <= side_squared && mh * mh <= side_squared) return n;
    width = EvenUp(width / 2);  // ends: a 2x2 picture is one macroblock
    height = EvenUp(height / 2);
    n++;
  }
}

I420View HalvePicture(const I420View& pic, int times, std::vector<uint8_t>* a, std::vector<uint8_t>* b) {
  I420View cur = pic;
  for (int i = 0; i < times; i++) {
    std::vector<uint8_t>* buf = (i & 1) ? b : a;
    I420View next;
    next.width = EvenUp(cur.width / 2);
    next.height = EvenUp(cur.height / 2);
    next.y_stride = static_cast<size_t>(next.width);
    next.uv_stride = next.y_stride / 2;
    const size_t luma = next.y_stride * static_cast<size_t>(next.height);
    const size_t chroma = luma / 4;
    if (buf->size() < luma + 2 * chroma) buf->resize(luma + 2 * chroma);
    uint8_t* y = buf->data();
    uint8_t* u = y + luma;
    uint8_t* v = u + chroma;
    HalvePlane(cur.y, cur.y_stride, cur.width, cur.height, y, next.y_stride, next.width, next.height);
    // The chroma planes are (width/2)x(height/2), odd when width/2 is: ceil of half of that is
    // exactly the new picture's chroma size, so nothing is replicated there.
    HalvePlane(cur.u, cur.uv_stride, cur.width / 2, cur.height / 2, u, next.uv_stride, next.width / 2, next.height / 2);
    HalvePlane(cur.v, cur.uv_stride, cur.width / 2, cur.height / 2, v, next.uv_stride, next.width / 2, next.height / 2);
    next.y = y;
    next.u = u;
    next.v = v;
    cur = next;
  }
  return cur;
}

I420View ToEncoderPicture(const hxfr::PixelLayout& l, const uint8_t* px, std::vector<uint8_t>* scratch) {
  const int w = static_cast<int>(l.width), h = static_cast<int>(l.height);
  I420View pic;
  pic.width = EvenUp(w);
  pic.height = EvenUp(h);
  pic.uv_stride = static_cast<size_t>(pic.width / 2);
  const size_t chroma = pic.uv_stride * static_cast<size_t>(pic.height / 2);
  const size_t picture_luma = static_cast<size_t>(pic.width) * static_cast<size_t>(pic.height);
  if (l.format == hxfr::kFormatNV12) {
    // An even frame's Y plane is encoded in place; an odd one is copied into a padded plane
    // (the encoder reads whole even rows, which the guest's buffer does not have).
    const bool odd = ((w | h) & 1) != 0;
    const size_t luma = odd ? picture_luma : 0;
    if (scratch->size() < luma + 2 * chroma) scratch->resize(luma + 2 * chroma);
    uint8_t* u = scratch->data() + luma;
    uint8_t* v = u + chroma;
    if (odd) {
      CopyPlaneReplicatingEdges(px, l.stride, w, h, scratch->data(), static_cast<size_t>(pic.width), pic.width,
                                pic.height);
      pic.y = scratch->data();
      pic.y_stride = static_cast<size_t>(pic.width);
    } else {
      pic.y = px;
      pic.y_stride = l.stride;
    }
    DeinterleaveUv(px + l.uv_offset, l.uv_stride, w, h, u, v, pic.uv_stride);
    pic.u = u;
    pic.v = v;
  } else {
    if (scratch->size() < picture_luma + 2 * chroma) scratch->resize(picture_luma + 2 * chroma);
    uint8_t* y = scratch->data();
    uint8_t* u = y + picture_luma;
    uint8_t* v = u + chroma;
    RgbxToI420(px, l.stride, w, h, l.format == hxfr::kFormatAB24, y, static_cast<size_t>(pic.width), u, v,
               pic.uv_stride);
    pic.y = y;
    pic.y_stride = static_cast<size_t>(pic.width);
    pic.u = u;
    pic.v = v;
  }
  return pic;
}

}  // namespace pixelrts::frames
