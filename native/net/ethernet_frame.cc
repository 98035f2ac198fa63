#include "net/ethernet_frame.h"

namespace pixelrts::net {

namespace {

Mac MacAt(const uint8_t* p) {
  Mac m = 0;
  for (int i = 0; i < 6; ++i) m = (m << 8) | p[i];
  return m;
}

}  // namespace

bool IsGroup(Mac mac) { return ((mac >> 40) & 0x01) != 0; }

Mac DestinationOf(const uint8_t* frame) { return MacAt(frame); }

Mac SourceOf(const uint8_t* frame) { return MacAt(frame + 6); }

FrameVerdict CheckFrame(const uint8_t* bytes, size_t length) {
  if (length < kEthernetHeader) return FrameVerdict::kRunt;
  if (length > kMaxFrame) return FrameVerdict::kOversized;
  const Mac source = SourceOf(bytes);
  if (source == 0 || IsGroup(source)) return FrameVerdict::kBadSource;
  return FrameVerdict::kOk;
}

}  // namespace pixelrts::net
