// VideoEncoder over Cisco's openh264 (Debian libopenh264-dev), the Linux encoder.
#pragma once

#include <vector>

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
  // Creates the encoder for `slices` slices (one thread each); openh264's InitializeExt result,
  // with *error set only when the encoder could not even be created.
  int Initialize(const EncoderSettings& settings, int slices, std::string* error);
  void Destroy();

  ISVCEncoder* encoder_ = nullptr;
  EncoderSettings settings_;
  // openh264 encodes nothing under 16x16 (one macroblock): a smaller picture is encoded padded
  // to at least 16 in each dimension, edges repeated, and its SPS crops it back (h264_sps_crop.h).
  int coded_width_ = 0;
  int coded_height_ = 0;
  std::vector<uint8_t> padded_;  // the padded I420 planes of such a picture
};

}  // namespace pixelrts::frames
