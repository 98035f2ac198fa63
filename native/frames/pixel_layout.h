// Where the pixels of a raw frame lie in its byte buffer: validated from the format,
// dimensions, declared stride and the byte count actually sent. One place decides what
// counts as a valid frame, for FRAME_REQUEST, publish() and resolver answers alike.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pixelrts::hxfr {

struct PixelLayout {
  uint32_t format = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  // Packed RGB (AR24/AB24): bytes per row. NV12: bytes per row of the Y plane.
  size_t stride = 0;
  // NV12 only: where the interleaved CbCr plane starts and its bytes per row. The plane has
  // ceil(height/2) rows of ceil(width/2) CbCr pairs: an odd width or height still has a
  // chroma sample for its last column or row.
  size_t uv_offset = 0;
  size_t uv_stride = 0;
};

// Fills `out` and returns true when `byte_count` bytes can hold a `format` frame of
// width×height given the declared `stride`; otherwise returns false with a sentence in
// `error` naming expected and found sizes. Any size 1..8192 is accepted, odd ones too.
// RGB honours stride (0 = width·4). NV12 is accepted, in this order of preference:
//  - tightly packed (what the spec says; FFmpeg, libyuv and DRM agree for odd sizes):
//    Y rows of width bytes, then CbCr rows of 2·ceil(width/2) bytes, so
//    width·height + 2·ceil(width/2)·ceil(height/2) bytes;
//  - every row of both planes padded to one stride (what GStreamer really sends):
//    stride·(height + ceil(height/2)), the declared stride when it matches, else the stride
//    inferred from the byte count;
//  - for an odd height only, GStreamer's own layout, whose Y plane is padded to an even
//    number of rows: stride·(height + 1 + ceil(height/2)).
// For even sizes the last layout does not exist and the first two are the same byte counts
// as ever.
bool ResolvePixelLayout(uint32_t format, uint32_t width, uint32_t height, uint32_t stride,
                        uint64_t byte_count, PixelLayout* out, std::string* error);

// Checks dimensions (1..8192) and format without a byte count; used before any allocation.
bool CheckFrameGeometry(uint32_t format, uint32_t width, uint32_t height, std::string* error);

}  // namespace pixelrts::hxfr
