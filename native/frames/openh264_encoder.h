// VideoEncoder over Cisco's openh264 (Debian libopenh264-dev), the Linux encoder.
#pragma once

#include <vector>

#include "frames/encoder.h"

class ISVCEncoder;

namespace pixelrts::frames {

// The largest picture openh264 encodes, in 16x16 macroblocks: MaxFS of H.264 level 5.2 (Table
// A-1), the highest level openh264 2.3.1 (Debian 12) knows; it has no level 6, and InitializeExt
// rejects larger pictures (measured: 3840x2160 and 4096x2304 initialise, 5120x2880 and 4096x4096
// do not). Larger frames are downscaled to fit before encoding (EncodingSession).
constexpr uint32_t kOpenH264MaxMacroblocks = 36864;

class OpenH264Encoder : public VideoEncoder {
 public:
  OpenH264Encoder() = default;
  ~OpenH264Encoder() override;
  OpenH264Encoder(const OpenH264Encoder&) = delete;
  OpenH264Encoder& operator=(const OpenH264Encoder&) = delete;

  bool Configure(const EncoderSettings& settings, std::string* error) override;
  bool Encode(const I420View& picture, int64_t pts_ns, bool force_idr, EncodedPicture* out,
              std::string* error) override;
  uint32_t MaxMacroblocks() const override { return kOpenH264MaxMacroblocks; }

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
