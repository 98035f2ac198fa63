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
  const int w = static_cast<int>(l.width), h = static_cast<int>(l.height);
  const auto t0 = std::chrono::steady_clock::now();
  I420View pic;
  pic.width = w;
  pic.height = h;
  pic.uv_stride = static_cast<size_t>(w / 2);
  const size_t chroma = pic.uv_stride * static_cast<size_t>(h / 2);
  if (l.format == hxfr::kFormatNV12) {
    // The Y plane is encoded in place; only CbCr needs splitting into U and V.
    if (planes_.size() < 2 * chroma) planes_.resize(2 * chroma);
    pic.y = px;
    pic.y_stride = l.stride;
    uint8_t* u = planes_.data();
    uint8_t* v = u + chroma;
    DeinterleaveUv(px + l.uv_offset, l.stride, w, h, u, v, pic.uv_stride);
    pic.u = u;
    pic.v = v;
  } else {
    const size_t luma = static_cast<size_t>(w) * static_cast<size_t>(h);
    if (planes_.size() < luma + 2 * chroma) planes_.resize(luma + 2 * chroma);
    uint8_t* y = planes_.data();
    uint8_t* u = y + luma;
    uint8_t* v = u + chroma;
    RgbxToI420(px, l.stride, w, h, l.format == hxfr::kFormatAB24, y, static_cast<size_t>(w), u, v, pic.uv_stride);
    pic.y = y;
    pic.y_stride = static_cast<size_t>(w);
    pic.u = u;
    pic.v = v;
  }
  timing->convert_ms = MsSince(t0);

  const auto t1 = std::chrono::steady_clock::now();
  if (!configured_ || restart_ || active_.width != w || active_.height != h) {
    EncoderSettings s;
    s.width = w;
    s.height = h;
    s.bitrate = bitrate_override_ != 0 ? bitrate_override_ : DefaultBitrate(w, h);
    s.fps = fps_;
    if (!encoder_->Configure(s, error)) {
      configured_ = false;
      return false;
    }
    active_ = s;
    configured_ = true;
    restart_ = false;
    force_idr = true;  // a fresh session starts with an IDR anyway; say so explicitly
  }
  const bool idr = force_idr || keyframe_pending_;
  if (!encoder_->Encode(pic, pts_ns, idr, out, error)) return false;
  if (out->keyframe) keyframe_pending_ = false;
  timing->encode_ms = MsSince(t1);
  return true;
}

}  // namespace pixelrts::frames
