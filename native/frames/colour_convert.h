// Colour conversion of guest frames to the planar 4:2:0 (I420) picture H.264 encoders take.
// BT.601 limited range, the matrix H.264 decoders assume when the stream carries no colour
// description. Plain loops over rows with constant channel offsets and no per-pixel
// branches, so the compiler vectorises them (see colour_convert.cc).
//
// H.264 4:2:0 pictures have even sizes (frame cropping works in steps of two), so a frame of
// odd width or height becomes the picture one column and/or row larger, the extra column and
// row repeating the frame's last ones (edge replication: no visible border, no bits spent on
// a sharp edge). Even-sized frames take the plain path with no extra work.
#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

#include "frames/pixel_layout.h"

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

// The even size of the picture a frame of `n` pixels becomes.
inline int EvenUp(int n) { return n + (n & 1); }

// Packed 32-bit RGB rows (width×height, any size) → the I420 picture of EvenUp(width) ×
// EvenUp(height), padding replicated. `red_first`: AB24 (R,G,B,A) rather than AR24
// (B,G,R,A); alpha is ignored. u/v planes are EvenUp(width)/2 × EvenUp(height)/2.
void RgbxToI420(const uint8_t* src, size_t src_stride, int width, int height, bool red_first,
                uint8_t* y, size_t y_stride, uint8_t* u, uint8_t* v, size_t uv_stride);

// The interleaved CbCr plane of an NV12 frame of width×height (any size: ceil(width/2)
// pairs per row, ceil(height/2) rows) → separate U and V planes of the same sample counts.
void DeinterleaveUv(const uint8_t* uv, size_t uv_src_stride, int width, int height,
                    uint8_t* u, uint8_t* v, size_t uv_stride);

// Copies a width×height plane into a larger dst_width×dst_height one, repeating the last
// column and row into the extra ones (an odd NV12 Y plane; pictures under openh264's
// one-macroblock minimum).
void CopyPlaneReplicatingEdges(const uint8_t* src, size_t src_stride, int width, int height, uint8_t* dst,
                               size_t dst_stride, int dst_width, int dst_height);

// Frames larger than the encoder takes (docs/frames.md "Large frames"): how many times the even
// width×height picture must be halved (each side halved, then rounded up to even) until it is at
// most `max_macroblocks` 16x16 macroblocks and neither side is longer than sqrt(8 ·
// max_macroblocks) macroblocks (H.264 Table A-1's limit on each side for a level's MaxFS).
// 0 when it fits, or when `max_macroblocks` is 0 (no limit).
int HalvingsToFit(int width, int height, uint32_t max_macroblocks);

// `pic` (even-sized) halved `times` times (times >= 1): every sample of each plane the rounded
// mean of a 2x2 block of the previous one, an odd chroma plane's last column and row averaged
// with themselves, and a picture whose halved side is odd padded to even by repeating its last
// column/row (as odd frames are). The planes are written into `a` and `b` alternately, which
// are reused from frame to frame; the result lives in the one written last.
I420View HalvePicture(const I420View& pic, int times, std::vector<uint8_t>* a, std::vector<uint8_t>* b);

// A validated frame (`layout`, `pixels`) → the even-sized I420 picture the encoder takes.
// `scratch` holds the planes written here and is reused from frame to frame. An even NV12
// frame's Y plane is used in place, so only its CbCr plane is touched.
I420View ToEncoderPicture(const hxfr::PixelLayout& layout, const uint8_t* pixels, std::vector<uint8_t>* scratch);

}  // namespace pixelrts::frames
