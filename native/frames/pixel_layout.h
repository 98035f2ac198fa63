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
  // Packed RGB (AR24/AB24): bytes per row. NV12: bytes per row of both planes.
  size_t stride = 0;
  // NV12 only: where the interleaved CbCr plane starts.
  size_t uv_offset = 0;
};

// Fills `out` and returns true when `byte_count` bytes can hold a `format` frame of
// width×height given the declared `stride`; otherwise returns false with a sentence in
// `error` naming expected and found sizes. RGB honours stride (0 = width·4). NV12 is
// accepted tightly packed (what the spec says) or with every row padded to a stride (what
// GStreamer really sends): the declared stride when the byte count matches it, else the
// stride inferred from the byte count.
bool ResolvePixelLayout(uint32_t format, uint32_t width, uint32_t height, uint32_t stride,
                        uint64_t byte_count, PixelLayout* out, std::string* error);

// Checks dimensions (1..8192) and format without a byte count; used before any allocation.
bool CheckFrameGeometry(uint32_t format, uint32_t width, uint32_t height, std::string* error);

}  // namespace pixelrts::hxfr
