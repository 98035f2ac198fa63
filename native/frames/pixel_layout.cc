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
    // H.264 pictures are 4:2:0 with even sizes; an odd frame still carries a CbCr pair for
    // its last column and row, so its chroma plane is already that of the padded picture.
    const uint64_t uv_row = (w + 1) & ~uint64_t{1};  // ceil(w/2) CbCr pairs
    const uint64_t uv_rows = (h + 1) / 2;
    const uint64_t tight = w * h + uv_row * uv_rows;
    const uint64_t rows = h + uv_rows;              // Y rows then CbCr rows, each `stride` bytes
    const uint64_t gst_rows = (h & 1) ? rows + 1 : 0;  // GStreamer: Y plane padded to even rows
    uint64_t y_rows = h;  // rows of the Y plane in the buffer, before the CbCr plane
    if (byte_count == tight) {
      l.stride = width;
      l.uv_stride = static_cast<size_t>(uv_row);
    } else if (stride >= uv_row && byte_count == static_cast<uint64_t>(stride) * rows) {
      l.stride = l.uv_stride = stride;
    } else if (stride >= uv_row && gst_rows != 0 && byte_count == static_cast<uint64_t>(stride) * gst_rows) {
      l.stride = l.uv_stride = stride;
      y_rows = h + 1;
    } else if (byte_count % rows == 0 && byte_count / rows >= uv_row) {
      l.stride = l.uv_stride = static_cast<size_t>(byte_count / rows);
    } else if (gst_rows != 0 && byte_count % gst_rows == 0 && byte_count / gst_rows >= uv_row) {
      l.stride = l.uv_stride = static_cast<size_t>(byte_count / gst_rows);
      y_rows = h + 1;
    } else {
      const std::string padded = "stride x " + std::to_string(rows) + " rows";
      *error = "NV12 frame " + std::to_string(width) + "x" + std::to_string(height) + " carries " +
               std::to_string(byte_count) + " pixel bytes: expected " + std::to_string(tight) +
               (gst_rows != 0 ? " (tightly packed), " + padded + " or stride x " + std::to_string(gst_rows) +
                                    " rows (Y plane padded to an even row count)"
                              : " (tightly packed) or " + padded) +
               " with stride >= " + ((width & 1) ? std::to_string(uv_row) + " (width rounded up to even)" : "width");
      return false;
    }
    l.uv_offset = static_cast<size_t>(l.stride * y_rows);
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
