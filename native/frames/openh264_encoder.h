// VideoEncoder over Cisco's openh264 (Debian libopenh264-dev), the Linux encoder.
#pragma once

#include "frames/encoder.h"

class ISVCEncoder;

namespace pixelrts::frames {

class OpenH264Encoder : public VideoEncoder {
 public:
  OpenH264Encoder() = default;
  ~OpenH264Encoder() override;
  OpenH264Encoder(const OpenH264Encoder&) = delete;
  OpenH264Encoder& operator=(const OpenH264Encoder&) = delete;

  bool Configure(const EncoderSettings& settings, std::string* error) override;
  bool Encode(const I420View& picture, int64_t pts_ns, bool force_idr, EncodedPicture* out,
              std::string* error) override;

 private:
  void Destroy();

  ISVCEncoder* encoder_ = nullptr;
  EncoderSettings settings_;
};

}  // namespace pixelrts::frames
