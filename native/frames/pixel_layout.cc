#include "frames/pixel_layout.h"

#include <cstdio>

#include "frames/hxfr_protocol.h"

namespace pixelrts::hxfr {

bool CheckFrameGeometry(uint32_t format, uint32_t width, uint32_t height, std::string* error) {
  if (width == 0 || height == 0 || width > kMaxDimension || height > kMaxDimension) {
    *error = "frame dimensions " + std::to_string(width) + "x" + std::to_string(height) +
             " are out of range: width and height must be 1.." + std::to_string(kMaxDimension);
    return false;
  }
  if ((width & 1) || (height & 1)) {
    // 4:2:0 chroma needs whole 2x2 blocks; every guest mode is even-sized.
    *error = "frame dimensions " + std::to_string(width) + "x" + std::to_string(height) +
             " must be even (4:2:0 encoding works on 2x2 blocks)";
    return false;
  }
  if (FormatName(format) == nullptr) {
    char hex[16];
    snprintf(hex, sizeof hex, "0x%08X", format);
    *error = std::string("unknown pixel format ") + hex +
             ": expected AR24 (0x34325241), AB24 (0x34324241) or NV12 (0x3231564E)";
    return false;
  }
  return true;
}

bool ResolvePixelLayout(uint32_t format, uint32_t width, uint32_t height, uint32_t stride,
                        uint64_t byte_count, PixelLayout* out, std::string* error) {
  if (!CheckFrameGeometry(format, width, height, error)) return false;
  const uint64_t w = width, h = height;
  PixelLayout l;
  l.format = format;
  l.width = width;
  l.height = height;
  if (format == kFormatNV12) {
    const uint64_t rows = h + h / 2;  // Y rows then CbCr rows, each `stride` bytes
    if (byte_count == w * rows) {
      l.stride = width;
    } else if (stride > w && byte_count == static_cast<uint64_t>(stride) * rows) {
      l.stride = stride;
    } else if (byte_count % rows == 0 && byte_count / rows > w) {
      l.stride = static_cast<size_t>(byte_count / rows);
    } else {
      *error = "NV12 frame " + std::to_string(width) + "x" + std::to_string(height) + " carries " +
               std::to_string(byte_count) + " pixel bytes: expected " + std::to_string(w * rows) +
               " (tightly packed) or stride x " + std::to_string(rows) + " rows with stride >= width";
      return false;
    }
    l.uv_offset = l.stride * height;
  } else {
    const uint64_t row = w * 4;
    const uint64_t s = stride == 0 ? row : stride;
    if (s < row) {
      *error = std::string(FormatName(format)) + " stride " + std::to_string(stride) +
               " is smaller than width x 4 = " + std::to_string(row);
      return false;
    }
    // The last row may stop at its last pixel: anything from that to stride·height is accepted.
    const uint64_t min = s * (h - 1) + row, max = s * h;
    if (byte_count < min || byte_count > max) {
      *error = std::string(FormatName(format)) + " frame " + std::to_string(width) + "x" +
               std::to_string(height) + " with stride " + std::to_string(s) + " carries " +
               std::to_string(byte_count) + " pixel bytes: expected " + std::to_string(max) +
               (min != max ? " (at least " + std::to_string(min) + ")" : std::string());
      return false;
    }
    l.stride = static_cast<size_t>(s);
  }
  *out = l;
  return true;
}

}  // namespace pixelrts::hxfr
