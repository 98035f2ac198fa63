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
      const uint64_t w = l.width, h = l.height;
      if (l.format == kFormatNV12) {
        // Y plane first, then ceil(h/2) CbCr rows of ceil(w/2) pairs, ending at the buffer's end.
        const uint64_t uv_row = (w + 1) & ~uint64_t{1}, uv_rows = (h + 1) / 2;
        if (l.stride < w || l.uv_stride < uv_row || l.uv_offset < static_cast<uint64_t>(l.stride) * h) abort();
        if (m.pixels.size != l.uv_offset + static_cast<uint64_t>(l.uv_stride) * uv_rows) abort();
      } else {
        if (m.pixels.size < static_cast<uint64_t>(l.stride) * (h - 1) + w * 4) abort();
      }
      // Convert exactly as the encoder does: every read must stay inside the pixel buffer,
      // every write inside the even-sized picture.
      std::vector<uint8_t> scratch;
      const pixelrts::frames::I420View pic = pixelrts::frames::ToEncoderPicture(l, m.pixels.data.get(), &scratch);
      if (pic.width != static_cast<int>(w + (w & 1)) || pic.height != static_cast<int>(h + (h & 1))) abort();
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
  HxfrParser parser(1 << 20, "maxFrameBytes");  // a 1 MiB frame limit keeps allocations small
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
