#include "frames/h264_sps_crop.h"

#include <cstddef>

namespace pixelrts::frames {

namespace {

// Reads the RBSP (emulation prevention bytes removed) of one NAL unit, MSB first. Reading
// past the end sets `overrun` and yields zeros, so a truncated SPS is noticed once, at the end.
class BitReader {
 public:
  explicit BitReader(const std::vector<uint8_t>& bytes) : bytes_(bytes) {}
  uint32_t Bit() {
    if (pos_ >= bytes_.size() * 8) {
      overrun = true;
      return 0;
    }
    const uint32_t b = (bytes_[pos_ / 8] >> (7 - pos_ % 8)) & 1u;
    pos_++;
    return b;
  }
  uint32_t Bits(int n) {
    uint32_t v = 0;
    for (int i = 0; i < n; i++) v = (v << 1) | Bit();
    return v;
  }
  // ue(v): Exp-Golomb. An SPS field never needs more than 31 leading zeros.
  uint32_t Ue() {
    int zeros = 0;
    while (Bit() == 0 && !overrun) {
      if (++zeros > 31) {
        overrun = true;
        return 0;
      }
    }
    return zeros == 0 ? 0 : ((1u << zeros) - 1) + Bits(zeros);
  }
  size_t pos() const { return pos_; }
  bool overrun = false;

 private:
  const std::vector<uint8_t>& bytes_;
  size_t pos_ = 0;
};

class BitWriter {
 public:
  void Bit(uint32_t b) {
    if (used_ % 8 == 0) bytes.push_back(0);
    if (b & 1u) bytes.back() |= static_cast<uint8_t>(0x80u >> (used_ % 8));
    used_++;
  }
  void Bits(uint32_t v, int n) {
    for (int i = n - 1; i >= 0; i--) Bit(v >> i);
  }
  void Ue(uint32_t v) {
    const uint64_t x = static_cast<uint64_t>(v) + 1;
    int len = 0;
    while ((x >> len) > 1) len++;
    Bits(0, len);
    for (int i = len; i >= 0; i--) Bit(static_cast<uint32_t>(x >> i));
  }
  std::vector<uint8_t> bytes;

 private:
  size_t used_ = 0;
};

std::vector<uint8_t> Unescape(const uint8_t* p, size_t n) {
  std::vector<uint8_t> out;
  out.reserve(n);
  int zeros = 0;
  for (size_t i = 0; i < n; i++) {
    if (zeros >= 2 && p[i] == 3) {  // emulation prevention byte
      zeros = 0;
      continue;
    }
    out.push_back(p[i]);
    zeros = p[i] == 0 ? zeros + 1 : 0;
  }
  return out;
}

void AppendEscaped(const std::vector<uint8_t>& rbsp, std::vector<uint8_t>* out) {
  int zeros = 0;
  for (uint8_t b : rbsp) {
    if (zeros >= 2 && b <= 3) {
      out->push_back(3);
      zeros = 0;
    }
    out->push_back(b);
    zeros = b == 0 ? zeros + 1 : 0;
  }
}

// The SPS RBSP (after the NAL header byte) with its cropping set to width x height.
bool RewriteSps(const std::vector<uint8_t>& rbsp, int width, int height, std::vector<uint8_t>* out, std::string* error) {
  BitReader r(rbsp);
  BitWriter w;
  const uint32_t profile = r.Bits(8);
  w.Bits(profile, 8);
  w.Bits(r.Bits(16), 16);  // constraint flags, reserved bits, level_idc
  w.Ue(r.Ue());            // seq_parameter_set_id
  switch (profile) {
    case 100: case 110: case 122: case 244: case 44: case 83: case 86: case 118: case 128: case 138: case 139:
    case 134: case 135:
      *error = "H.264 SPS of profile " + std::to_string(profile) + " (with chroma_format_idc) is not rewritten";
      return false;
    default:
      break;
  }
  w.Ue(r.Ue());  // log2_max_frame_num_minus4
  const uint32_t poc_type = r.Ue();
  w.Ue(poc_type);
  if (poc_type == 0) {
    w.Ue(r.Ue());  // log2_max_pic_order_cnt_lsb_minus4
  } else if (poc_type == 1) {
    w.Bit(r.Bit());  // delta_pic_order_always_zero_flag
    w.Ue(r.Ue());    // offset_for_non_ref_pic (se(v) has the same bits as ue(v))
    w.Ue(r.Ue());    // offset_for_top_to_bottom_field
    const uint32_t cycle = r.Ue();
    if (cycle > 255) {
      *error = "H.264 SPS: num_ref_frames_in_pic_order_cnt_cycle " + std::to_string(cycle) + " is over 255";
      return false;
    }
    w.Ue(cycle);
    for (uint32_t i = 0; i < cycle; i++) w.Ue(r.Ue());
  }
  w.Ue(r.Ue());    // max_num_ref_frames
  w.Bit(r.Bit());  // gaps_in_frame_num_value_allowed_flag
  const uint32_t mbs_w = r.Ue() + 1, map_units_h = r.Ue() + 1;
  w.Ue(mbs_w - 1);
  w.Ue(map_units_h - 1);
  const uint32_t frame_mbs_only = r.Bit();
  w.Bit(frame_mbs_only);
  if (!frame_mbs_only) w.Bit(r.Bit());  // mb_adaptive_frame_field_flag
  w.Bit(r.Bit());                       // direct_8x8_inference_flag
  if (r.Bit()) {                        // frame_cropping_flag: the old offsets are replaced
    for (int i = 0; i < 4; i++) r.Ue();
  }
  // 4:2:0 crops in units of 2 columns and 2 (frame) or 4 (field) rows.
  const uint32_t unit_y = 2 * (2 - frame_mbs_only);
  const uint64_t coded_w = uint64_t{mbs_w} * 16, coded_h = uint64_t{map_units_h} * 16 * (2 - frame_mbs_only);
  if (r.overrun || width <= 0 || height <= 0 || (width & 1) || static_cast<uint64_t>(width) > coded_w ||
      static_cast<uint64_t>(height) > coded_h || (coded_h - static_cast<uint64_t>(height)) % unit_y != 0) {
    *error = "H.264 SPS: cannot crop the coded " + std::to_string(coded_w) + "x" + std::to_string(coded_h) +
             " picture to " + std::to_string(width) + "x" + std::to_string(height) +
             (r.overrun ? " (the SPS is truncated)" : "");
    return false;
  }
  const uint32_t right = static_cast<uint32_t>((coded_w - static_cast<uint64_t>(width)) / 2);
  const uint32_t bottom = static_cast<uint32_t>((coded_h - static_cast<uint64_t>(height)) / unit_y);
  w.Bit(right != 0 || bottom != 0);
  if (right != 0 || bottom != 0) {
    w.Ue(0);
    w.Ue(right);
    w.Ue(0);
    w.Ue(bottom);
  }
  // The rest (vui_parameters_present_flag and the VUI) up to the rbsp_stop_one_bit, verbatim.
  size_t stop = rbsp.size() * 8;
  while (stop > 0 && ((rbsp[(stop - 1) / 8] >> (7 - (stop - 1) % 8)) & 1u) == 0) stop--;
  if (stop == 0 || stop - 1 < r.pos()) {
    *error = "H.264 SPS has no rbsp_stop_one_bit after its cropping fields";
    return false;
  }
  for (size_t i = r.pos(); i < stop - 1; i++) w.Bit(r.Bit());
  w.Bit(1);  // rbsp_stop_one_bit; the writer zero-fills the last byte (rbsp_alignment_zero_bits)
  *out = std::move(w.bytes);
  return true;
}

}  // namespace

bool CropSpsInAccessUnit(std::vector<uint8_t>* au, int width, int height, std::string* error) {
  const std::vector<uint8_t>& in = *au;
  const size_t n = in.size();
  // NAL unit boundaries: each start code's end, and where the next start code begins.
  auto start_code_at = [&](size_t i) -> size_t {  // length of a start code at i, or 0
    if (i + 3 <= n && in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 1) return 3;
    if (i + 4 <= n && in[i] == 0 && in[i + 1] == 0 && in[i + 2] == 0 && in[i + 3] == 1) return 4;
    return 0;
  };
  std::vector<uint8_t> out;
  out.reserve(n + 16);
  size_t i = 0;
  while (i < n) {
    const size_t sc = start_code_at(i);
    if (sc == 0) {
      *error = "H.264 access unit does not start with an Annex B start code at byte " + std::to_string(i);
      return false;
    }
    const size_t begin = i + sc;
    size_t end = begin;
    while (end < n && start_code_at(end) == 0) end++;
    out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(i), in.begin() + static_cast<std::ptrdiff_t>(begin));
    if (begin < end && (in[begin] & 0x1f) == 7) {
      std::vector<uint8_t> sps;
      if (!RewriteSps(Unescape(in.data() + begin + 1, end - begin - 1), width, height, &sps, error)) return false;
      out.push_back(in[begin]);
      AppendEscaped(sps, &out);
    } else {
      out.insert(out.end(), in.begin() + static_cast<std::ptrdiff_t>(begin), in.begin() + static_cast<std::ptrdiff_t>(end));
    }
    i = end;
  }
  *au = std::move(out);
  return true;
}

}  // namespace pixelrts::frames
