// libFuzzer target for the HXFR message parser (native/frames/hxfr_parser.cc), the pixel
// layout rules it applies and the colour conversion that reads the pixels those rules let
// through (native/frames/colour_convert.cc). Build and run: see fuzz/README-hxfr.md.
//
// The first input byte picks how the rest is split into reads (1..256 bytes at a time, or
// all at once), so header and body boundaries land at every offset a socket could produce.
// The sink checks what the parser promises: a delivered frame's pixel buffer matches the
// byte count its layout describes, converting it to I420 stays inside the buffer (ASan), and
// nothing is delivered after a fatal problem.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include <vector>

#include "frames/colour_convert.h"
#include "frames/hxfr_parser.h"

namespace {

using namespace pixelrts::hxfr;

class CheckingSink : public MessageSink {
 public:
  bool failed = false;

  void OnMessage(Message&& m) override {
    if (failed) abort();
    if (m.header.magic != kMagic) abort();
    if (m.pixels.size > 0) {
      const PixelLayout& l = m.layout;
      uint64_t min = 0;
      if (l.format == kFormatNV12) {
        min = static_cast<uint64_t>(l.stride) * (l.height + l.height / 2);
        if (l.uv_offset != l.stride * l.height) abort();
        if (m.pixels.size != min) abort();
      } else {
        min = static_cast<uint64_t>(l.stride) * (l.height - 1) + l.width * 4ull;
        if (m.pixels.size < min) abort();
      }
      // Convert exactly as the encoder does: every read must stay inside the pixel buffer.
      const int w = static_cast<int>(l.width), h = static_cast<int>(l.height);
      const size_t half = static_cast<size_t>(w / 2);
      std::vector<uint8_t> y(static_cast<size_t>(w) * h), u(half * (h / 2)), v(half * (h / 2));
      if (l.format == kFormatNV12) {
        pixelrts::frames::DeinterleaveUv(m.pixels.data.get() + l.uv_offset, l.stride, w, h, u.data(), v.data(), half);
      } else {
        pixelrts::frames::RgbxToI420(m.pixels.data.get(), l.stride, w, h, l.format == kFormatAB24, y.data(),
                                     static_cast<size_t>(w), u.data(), v.data(), half);
      }
    }
  }

  void OnProblem(ParseProblem&& p) override {
    if (failed) abort();
    if (p.message.empty()) abort();
    if (p.fatal) failed = true;
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size == 0) return 0;
  const size_t chunk = data[0] == 0 ? size : data[0];
  data++;
  size--;
  HxfrParser parser(1 << 20);  // a 1 MiB frame limit keeps allocations small
  CheckingSink sink;
  while (size > 0 && !parser.failed()) {
    const size_t n = chunk < size ? chunk : size;
    parser.Feed(data, n, sink);
    data += n;
    size -= n;
  }
  if (parser.failed() != sink.failed) abort();
  return 0;
}
