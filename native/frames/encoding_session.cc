#include "frames/encoding_session.h"

#include <algorithm>
#include <chrono>

#include "frames/colour_convert.h"

namespace pixelrts::frames {

namespace {

double MsSince(std::chrono::steady_clock::time_point t0) {
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
}

}  // namespace

EncodingSession::EncodingSession() : encoder_(CreatePlatformEncoder()) {}

void EncodingSession::Reconfigure(const hxfr::ConfigRequest& c) {
  // openh264 refuses rates beyond H.264's level limits (240 Mbit/s at level 5.2); a guest asking
  // for more gets the most the stream may carry rather than a broken encoder.
  constexpr uint32_t kMinBitrate = 100000, kMaxBitrate = 240000000;
  bitrate_override_ = c.bitrate == 0 ? 0 : std::min(std::max(c.bitrate, kMinBitrate), kMaxBitrate);
  if (c.fps_num > 0 && c.fps_den > 0) {
    const double fps = static_cast<double>(c.fps_num) / c.fps_den;
    if (fps >= 1.0 && fps <= 240.0) fps_ = fps;
  }
  restart_ = true;
}

bool EncodingSession::Encode(const hxfr::PixelLayout& l, const uint8_t* px, int64_t pts_ns, bool force_idr,
                             EncodedPicture* out, Timing* timing, std::string* error) {
  const auto t0 = std::chrono::steady_clock::now();
  I420View pic = ToEncoderPicture(l, px, &planes_);
  // Frames within the encoder's limit (all up to 4096x2304 with openh264) take no extra step.
  const int halvings = HalvingsToFit(pic.width, pic.height, encoder_->MaxMacroblocks());
  if (halvings > 0) pic = HalvePicture(pic, halvings, &halved_[0], &halved_[1]);
  timing->convert_ms = MsSince(t0);

  const auto t1 = std::chrono::steady_clock::now();
  // Any change of the frame's own size restarts the encoder, even between two odd and even
  // sizes that pad to the same picture, or two large sizes that halve to the same one: the
  // guest's picture changed, so it gets an IDR. (The encoded size depends on the frame's size
  // only, so it never changes without a restart.)
  if (!configured_ || restart_ || frame_width_ != l.width || frame_height_ != l.height) {
    EncoderSettings s;
    s.width = pic.width;
    s.height = pic.height;
    s.bitrate = bitrate_override_ != 0 ? bitrate_override_ : DefaultBitrate(pic.width, pic.height);
    s.fps = fps_;
    if (!encoder_->Configure(s, error)) {
      configured_ = false;
      return false;
    }
    frame_width_ = l.width;
    frame_height_ = l.height;
    configured_ = true;
    restart_ = false;
    force_idr = true;  // a fresh session starts with an IDR anyway; say so explicitly
  }
  const bool idr = force_idr || keyframe_pending_;
  if (!encoder_->Encode(pic, pts_ns, idr, out, error)) return false;
  if (out->keyframe) keyframe_pending_ = false;
  out->width = pic.width;
  out->height = pic.height;
  timing->encode_ms = MsSince(t1);
  return true;
}

}  // namespace pixelrts::frames
