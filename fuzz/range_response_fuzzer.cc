// libFuzzer target for RangeResponse (native/remote/range_response.cc): what an HTTP server
// answers to a byte-range request, which pixelrts trusts no more than the network it crossed.
// Build and run: fuzz/run-range.sh (see fuzz/README.md).
//
// The input: 16 bytes of request (offset, length), then lines. A line starting with 'B' is a
// body piece of the size its next two bytes say; any other line is a header line. Whatever the
// lines, the bytes accepted never leave the range asked for, and an accepted answer is a 206
// whose Content-Range is that range or a prefix of it.
#include <cstdint>
#include <cstdlib>
#include <cstring>

#include "remote/range_response.h"

namespace {

uint64_t Read64(const uint8_t* p) {
  uint64_t v = 0;
  for (int i = 0; i < 8; i++) v = (v << 8) | p[i];
  return v;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  if (size < 17) return 0;
  const uint64_t offset = Read64(data) >> 4;  // up to 2^60: offset + length stays in range
  const uint64_t length = (Read64(data + 8) >> 40) + 1;
  pixelrts::remote::RangeResponse r(offset, length, (data[16] & 1) != 0);
  size_t pos = 17;
  while (pos < size) {
    const uint8_t* nl = static_cast<const uint8_t*>(std::memchr(data + pos, '\n', size - pos));
    const size_t end = nl ? static_cast<size_t>(nl - data) + 1 : size;
    if (data[pos] == 'B' && end - pos >= 3) {
      const size_t n = (static_cast<size_t>(data[pos + 1]) << 8) | data[pos + 2];
      const uint64_t at = r.position();
      if (r.accept_body(n)) {
        if (r.status() != 206 || !r.has_range() || at < offset || at + n > offset + length) abort();
        if (r.delivered() > length) abort();
      }
    } else {
      r.header_line(reinterpret_cast<const char*>(data + pos), end - pos);
    }
    pos = end;
  }
  return 0;
}
