// One H.264 stream being produced: an encoder plus what decides its settings (frame size,
// CONFIG_REQ bitrate and rate) and when the next picture must be an IDR. Request-mode
// connections and published scanouts each own one. Not thread-safe: its owner runs it on
// one strand of the encoder pool at a time.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "frames/encoder.h"
#include "frames/hxfr_protocol.h"
#include "frames/pixel_layout.h"

namespace pixelrts::frames {

class EncodingSession {
 public:
  EncodingSession();

  // The next picture is an IDR (KEYFRAME_REQ, a new subscriber).
  void RequestKeyframe() { keyframe_pending_ = true; }
  // CONFIG_REQ: new bitrate (0 = default for the size) and rate; the encoder restarts on
  // the next picture, which is therefore an IDR. Width and height come from each frame.
  void Reconfigure(const hxfr::ConfigRequest& config);

  struct Timing {
    double convert_ms = 0;
    double encode_ms = 0;
  };
  // Converts `pixels` (laid out as `layout` says) to I420 and encodes them. A frame of odd
  // width or height is encoded as the even picture one column/row larger, edges repeated
  // (colour_convert.h): the guest decodes EvenUp(width) x EvenUp(height). A picture larger than
  // the encoder takes (openh264: kOpenH264MaxMacroblocks) is halved until it fits, and the
  // guest decodes that (out->width, out->height; docs/frames.md "Large frames").
  bool Encode(const hxfr::PixelLayout& layout, const uint8_t* pixels, int64_t pts_ns, bool force_idr,
              EncodedPicture* out, Timing* timing, std::string* error);

 private:
  std::unique_ptr<VideoEncoder> encoder_;
  uint32_t frame_width_ = 0;  // the size of the frames the encoder was configured for
  uint32_t frame_height_ = 0;
  bool configured_ = false;
  bool restart_ = false;
  bool keyframe_pending_ = false;
  uint32_t bitrate_override_ = 0;
  double fps_ = 60.0;
  std::vector<uint8_t> planes_;  // I420 planes we write (U and V only for an even NV12 frame)
  std::vector<uint8_t> halved_[2];  // the downscaled planes of a too-large frame, one per halving in turn
};

}  // namespace pixelrts::frames
