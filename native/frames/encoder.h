// The H.264 encoder interface: openh264 on Linux (openh264_encoder.cc), VideoToolbox on
// macOS (videotoolbox_encoder.mm). Both produce the same stream shape, which is what an
// HXFR guest expects: Constrained Baseline, no B-frames, one access unit out for every
// picture in, GOP 60, SPS and PPS in front of every IDR, Annex B start codes.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frames/colour_convert.h"

namespace pixelrts::frames {

struct EncoderSettings {
  // Always even: EncodingSession pads odd frames to the next even size (colour_convert.h).
  int width = 0;
  int height = 0;
  uint32_t bitrate = 0;  // bit/s
  double fps = 60.0;
};

// max(5 Mbit/s, w·h·4): the original host's default when the guest names no bitrate.
inline uint32_t DefaultBitrate(int width, int height) {
  const uint64_t b = static_cast<uint64_t>(width) * static_cast<uint64_t>(height) * 4u;
  const uint64_t floor = 5000000u;
  const uint64_t v = b > floor ? b : floor;
  return v > 0x7FFFFFFFu ? 0x7FFFFFFFu : static_cast<uint32_t>(v);
}

struct EncodedPicture {
  std::vector<uint8_t> annexb;  // the whole access unit, SPS+PPS first when keyframe
  bool keyframe = false;
  // The size the stream decodes to (the frame's, padded to even, downscaled if it was too
  // large); set by EncodingSession.
  int width = 0;
  int height = 0;
};

class VideoEncoder {
 public:
  virtual ~VideoEncoder() = default;
  // (Re)creates the encoding session; the next picture is an IDR. False with `error` set on failure.
  virtual bool Configure(const EncoderSettings& settings, std::string* error) = 0;
  // Encodes one picture of the configured (even) size. `force_idr` makes it an IDR.
  virtual bool Encode(const I420View& picture, int64_t pts_ns, bool force_idr, EncodedPicture* out,
                      std::string* error) = 0;
  // The largest picture this encoder takes, in 16x16 macroblocks; larger frames are halved until
  // they fit (EncodingSession). 0: none applied here (VideoToolbox: whatever it
  // cannot take fails in Configure).
  virtual uint32_t MaxMacroblocks() const { return 0; }
};

// The platform's encoder (openh264 on Linux, VideoToolbox on macOS).
std::unique_ptr<VideoEncoder> CreatePlatformEncoder();

}  // namespace pixelrts::frames
