// Colour conversion of guest frames to the planar 4:2:0 (I420) picture H.264 encoders take.
// BT.601 limited range, the matrix H.264 decoders assume when the stream carries no colour
// description. Plain loops over rows with constant channel offsets and no per-pixel
// branches, so the compiler vectorises them (see colour_convert.cc).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts::frames {

// A 4:2:0 picture as three planes; the planes may belong to different buffers.
struct I420View {
  const uint8_t* y = nullptr;
  const uint8_t* u = nullptr;
  const uint8_t* v = nullptr;
  size_t y_stride = 0;
  size_t uv_stride = 0;
  int width = 0;
  int height = 0;
};

// Packed 32-bit RGB rows → I420. `r_offset`/`b_offset` say where red and blue sit in each
// 4-byte pixel (AR24: B,G,R,A → r 2, b 0; AB24: R,G,B,A → r 0, b 2); green is byte 1, alpha
// is ignored. width and height are even. u/v planes are width/2 × height/2.
void RgbxToI420(const uint8_t* src, size_t src_stride, int width, int height, bool red_first,
                uint8_t* y, size_t y_stride, uint8_t* u, uint8_t* v, size_t uv_stride);

// The interleaved CbCr plane of NV12 → separate U and V planes (the Y plane is used as is).
void DeinterleaveUv(const uint8_t* uv, size_t uv_src_stride, int width, int height,
                    uint8_t* u, uint8_t* v, size_t uv_stride);

// Copies `height` rows of `width` bytes between planes of different strides.
void CopyPlane(const uint8_t* src, size_t src_stride, uint8_t* dst, size_t dst_stride, int width, int height);

}  // namespace pixelrts::frames
