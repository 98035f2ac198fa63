// Rewrites the frame cropping of H.264 sequence parameter sets. openh264 refuses source
// pictures under one macroblock (16 pixels) in either dimension and only crops its SPS down
// to the picture size it encoded; OpenH264Encoder therefore encodes such a picture padded to
// 16 and rewrites the SPS in front of every IDR so that decoders crop it back to the real
// (even) size. The rest of the SPS, VUI included, is carried over bit for bit.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace pixelrts::frames {

// Makes every SPS NAL unit of the Annex B access unit `au` crop decoded pictures to
// width x height (both even and at most the coded size). False with `error` when an SPS
// cannot be rewritten (truncated, a profile carrying chroma_format_idc, or a size that does
// not fit); `au` is then unchanged.
bool CropSpsInAccessUnit(std::vector<uint8_t>* au, int width, int height, std::string* error);

}  // namespace pixelrts::frames
