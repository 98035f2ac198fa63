// HXFR wire format (../shared/spec/hxfr.md): the 12-byte header, message codes, body sizes,
// pixel formats and the little-endian encoders for every host→guest message. Pure functions,
// no I/O, so the parser fuzzer and the server share them.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <vector>

namespace pixelrts::hxfr {

constexpr uint32_t kMagic = 0x52465848;  // bytes "HXFR" read as a little-endian u32
constexpr size_t kHeaderSize = 12;
constexpr uint8_t kFlagPixelData = 0x01;

enum MsgType : uint8_t {
  kFrameRequest = 0x01,
  kFrameResponse = 0x02,
  kKeyframeReq = 0x03,
  kConfigReq = 0x04,
  kConfigResp = 0x05,
  kPing = 0x10,
  kPong = 0x11,
  kEnableScanout = 0x20,
  kDisableScanout = 0x21,
  kScanoutResp = 0x22,
  kSubscribe = 0x30,
  kSubscribeResp = 0x31,
  kError = 0xFF,
};

// Fixed body sizes of the messages a guest sends (and of the ones we send).
constexpr size_t kFrameRequestBody = 44;
constexpr size_t kFrameResponseBody = 24;
constexpr size_t kConfigReqBody = 28;
constexpr size_t kEnableScanoutBody = 16;
constexpr size_t kDisableScanoutBody = 4;
constexpr size_t kScanoutRespBody = 72;
constexpr size_t kSubscribeBody = 4;
constexpr size_t kSubscribeRespBody = 8;
constexpr size_t kErrorBody = 260;

enum ErrorCode : int32_t {
  kOk = 0,
  kInvalidMsg = -1,
  kResourceNotFound = -2,
  kNotMetalTexture = -3,
  kNoIOSurface = -4,
  kEncodeFailed = -5,
  kNotConfigured = -6,
  kInternal = -99,
};

// DRM fourcc codes.
enum PixelFormat : uint32_t {
  kFormatAR24 = 0x34325241,  // bytes B,G,R,A
  kFormatAB24 = 0x34324241,  // bytes R,G,B,A
  kFormatNV12 = 0x3231564E,  // Y plane, then interleaved Cb,Cr at half resolution
};

constexpr uint32_t kMaxDimension = 8192;

struct Header {
  uint32_t magic = 0;
  uint8_t type = 0;
  uint8_t flags = 0;
  uint16_t session = 0;
  uint32_t payload_size = 0;
};

inline uint16_t Le16(const uint8_t* p) { return static_cast<uint16_t>(p[0] | (p[1] << 8)); }
inline uint32_t Le32(const uint8_t* p) {
  return static_cast<uint32_t>(p[0]) | (static_cast<uint32_t>(p[1]) << 8) |
         (static_cast<uint32_t>(p[2]) << 16) | (static_cast<uint32_t>(p[3]) << 24);
}
inline uint64_t Le64(const uint8_t* p) {
  return static_cast<uint64_t>(Le32(p)) | (static_cast<uint64_t>(Le32(p + 4)) << 32);
}

inline Header ParseHeader(const uint8_t* p) {
  Header h;
  h.magic = Le32(p);
  h.type = p[4];
  h.flags = p[5];
  h.session = Le16(p + 6);
  h.payload_size = Le32(p + 8);
  return h;
}

// The 44-byte FRAME_REQUEST body.
struct FrameRequest {
  uint32_t resource_id = 0;
  uint32_t width = 0;
  uint32_t height = 0;
  uint32_t format = 0;
  uint32_t stride = 0;
  int64_t pts = 0;
  int64_t duration = 0;
  bool force_keyframe = false;
};

inline FrameRequest ParseFrameRequest(const uint8_t* p) {
  FrameRequest r;
  r.resource_id = Le32(p);
  r.width = Le32(p + 4);
  r.height = Le32(p + 8);
  r.format = Le32(p + 12);
  r.stride = Le32(p + 16);
  r.pts = static_cast<int64_t>(Le64(p + 20));
  r.duration = static_cast<int64_t>(Le64(p + 28));
  r.force_keyframe = p[36] != 0;
  return r;
}

struct ConfigRequest {
  uint32_t width = 0, height = 0, bitrate = 0, fps_num = 0, fps_den = 0;
  uint8_t profile = 0, level = 0, realtime = 0;
};

inline ConfigRequest ParseConfigRequest(const uint8_t* p) {
  ConfigRequest c;
  c.width = Le32(p);
  c.height = Le32(p + 4);
  c.bitrate = Le32(p + 8);
  c.fps_num = Le32(p + 12);
  c.fps_den = Le32(p + 16);
  c.profile = p[20];
  c.level = p[21];
  c.realtime = p[22];
  return c;
}

// Little-endian appender for building outgoing messages in one contiguous buffer.
class Writer {
 public:
  explicit Writer(std::vector<uint8_t>* out) : out_(out) {}
  void U8(uint8_t v) { out_->push_back(v); }
  void U16(uint16_t v) { U8(v & 0xFF); U8(v >> 8); }
  void U32(uint32_t v) { for (int i = 0; i < 4; i++) U8((v >> (8 * i)) & 0xFF); }
  void U64(uint64_t v) { U32(static_cast<uint32_t>(v)); U32(static_cast<uint32_t>(v >> 32)); }
  void Zeros(size_t n) { out_->insert(out_->end(), n, 0); }
  void Bytes(const uint8_t* p, size_t n) { out_->insert(out_->end(), p, p + n); }
  void Header(uint8_t type, uint16_t session, uint32_t payload) {
    U32(kMagic); U8(type); U8(0); U16(session); U32(payload);
  }
  // A fixed-size NUL-padded char field; longer text is cut to size-1 bytes.
  void FixedString(const std::string& s, size_t size) {
    size_t n = s.size() < size ? s.size() : size - 1;
    Bytes(reinterpret_cast<const uint8_t*>(s.data()), n);
    Zeros(size - n);
  }

 private:
  std::vector<uint8_t>* out_;
};

inline std::vector<uint8_t> BuildError(uint16_t session, int32_t code, const std::string& message) {
  std::vector<uint8_t> m;
  m.reserve(kHeaderSize + kErrorBody);
  Writer w(&m);
  w.Header(kError, session, kErrorBody);
  w.U32(static_cast<uint32_t>(code));
  w.FixedString(message, 256);
  return m;
}

inline std::vector<uint8_t> BuildPong(uint16_t session) {
  std::vector<uint8_t> m;
  Writer w(&m);
  w.Header(kPong, session, 0);
  return m;
}

inline std::vector<uint8_t> BuildSubscribeResp(uint16_t session, uint32_t scanout, bool ok) {
  std::vector<uint8_t> m;
  Writer w(&m);
  w.Header(kSubscribeResp, session, kSubscribeRespBody);
  w.U32(scanout);
  w.U32(ok ? 1 : 0);
  return m;
}

inline std::vector<uint8_t> BuildScanoutResp(uint16_t session, uint32_t scanout, bool ok) {
  std::vector<uint8_t> m;
  Writer w(&m);
  w.Header(kScanoutResp, session, kScanoutRespBody);
  w.U32(scanout);
  w.U32(ok ? 1 : 0);
  w.FixedString("Virtual-" + std::to_string(static_cast<uint64_t>(scanout) + 1), 64);
  return m;
}

// FRAME_RESPONSE with nal_count 1: the whole access unit (Annex B) as one blob.
inline std::vector<uint8_t> BuildFrameResponse(uint16_t session, int64_t pts, int64_t dts, bool keyframe,
                                               const uint8_t* au, size_t au_size) {
  std::vector<uint8_t> m;
  m.reserve(kHeaderSize + kFrameResponseBody + 4 + au_size);
  Writer w(&m);
  w.Header(kFrameResponse, session, static_cast<uint32_t>(kFrameResponseBody + 4 + au_size));
  w.U64(static_cast<uint64_t>(pts));
  w.U64(static_cast<uint64_t>(dts));
  w.U8(keyframe ? 1 : 0);
  w.Zeros(3);
  w.U32(1);
  w.U32(static_cast<uint32_t>(au_size));
  w.Bytes(au, au_size);
  return m;
}

inline const char* FormatName(uint32_t format) {
  switch (format) {
    case kFormatAR24: return "AR24";
    case kFormatAB24: return "AB24";
    case kFormatNV12: return "NV12";
    default: return nullptr;
  }
}

}  // namespace pixelrts::hxfr
