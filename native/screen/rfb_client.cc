#include "screen/rfb_client.h"

#include <sys/socket.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>

namespace pixelrts::screen {

namespace {

constexpr const char* kProtocol = "ERR_PIXELRTS_DISPLAY_PROTOCOL";

// RFC 6143 message types and encodings.
constexpr uint8_t kFramebufferUpdate = 0, kSetColourMapEntries = 1, kBell = 2, kServerCutText = 3;
constexpr int32_t kRaw = 0, kCopyRect = 1, kDesktopSize = -223;
constexpr uint8_t kSecurityNone = 1;
// Caps on what a server may make us read or skip besides pixels.
constexpr uint32_t kMaxReason = 4096;
constexpr uint32_t kMaxName = 4096;
constexpr uint32_t kMaxCutText = 16u << 20;
#ifdef MSG_NOSIGNAL
constexpr int kNoSignal = MSG_NOSIGNAL;  // a server gone away is EPIPE, not a signal
#else
constexpr int kNoSignal = 0;  // macOS: the socket has SO_NOSIGPIPE (frames::NewSocket)
#endif

std::string Errno(int e) { return std::string(strerror(e)) + " (errno " + std::to_string(e) + ")"; }

Failure Bad(const std::string& message) { return Failure::make(kProtocol, "VNC server: " + message); }

void Put16(uint8_t* p, uint16_t v) {
  p[0] = static_cast<uint8_t>(v >> 8);
  p[1] = static_cast<uint8_t>(v);
}

void Put32(uint8_t* p, uint32_t v) {
  Put16(p, static_cast<uint16_t>(v >> 16));
  Put16(p + 2, static_cast<uint16_t>(v));
}

std::string Size(uint32_t w, uint32_t h) { return std::to_string(w) + "x" + std::to_string(h); }

}  // namespace

Failure RfbClient::Read(void* dst, size_t n) {
  auto* out = static_cast<uint8_t*>(dst);
  while (n > 0) {
    if (buf_pos_ < buf_end_) {
      const size_t k = std::min(n, buf_end_ - buf_pos_);
      std::memcpy(out, buf_.data() + buf_pos_, k);
      buf_pos_ += k;
      out += k;
      n -= k;
      at_boundary_ = false;
      continue;
    }
    // Long reads (pixel rows) go straight to their destination; short ones refill the buffer.
    const bool direct = n >= buf_.size();
    const ssize_t r = ::recv(fd_, direct ? out : buf_.data(), direct ? n : buf_.size(), 0);
    if (r < 0 && errno == EINTR) continue;
    if (r < 0 && errno == ECONNRESET && at_boundary_) return Gone();
    if (r < 0) return Failure::make(kProtocol, "reading the VNC socket failed: " + Errno(errno));
    if (r == 0) return at_boundary_ ? Gone() : Bad("the connection ended in the middle of a message");
    bytes_in_ += static_cast<uint64_t>(r);
    if (direct) {
      out += r;
      n -= static_cast<size_t>(r);
      at_boundary_ = false;
    } else {
      buf_pos_ = 0;
      buf_end_ = static_cast<size_t>(r);
    }
  }
  return Failure::none();
}

Failure RfbClient::Gone() {
  closed_ = true;
  return Failure::make(kProtocol, "the VNC server closed the connection");
}

Failure RfbClient::Skip(uint64_t n) {
  uint8_t scratch[4096];
  while (n > 0) {
    const size_t k = static_cast<size_t>(std::min<uint64_t>(n, sizeof scratch));
    Failure f = Read(scratch, k);
    if (!f.ok()) return f;
    n -= k;
  }
  return Failure::none();
}

Failure RfbClient::ReadU8(uint8_t* v) { return Read(v, 1); }

Failure RfbClient::ReadU16(uint16_t* v) {
  uint8_t b[2] = {0, 0};
  Failure f = Read(b, 2);
  *v = static_cast<uint16_t>(b[0] << 8 | b[1]);
  return f;
}

Failure RfbClient::ReadU32(uint32_t* v) {
  uint8_t b[4] = {0, 0, 0, 0};
  Failure f = Read(b, 4);
  *v = static_cast<uint32_t>(b[0]) << 24 | static_cast<uint32_t>(b[1]) << 16 | static_cast<uint32_t>(b[2]) << 8 | b[3];
  return f;
}

Failure RfbClient::ReadString(uint32_t cap, const char* what, std::string* out) {
  uint32_t n = 0;
  Failure f = ReadU32(&n);
  if (!f.ok()) return f;
  if (n > cap) return Bad(std::string(what) + " of " + std::to_string(n) + " bytes (at most " + std::to_string(cap) + " accepted)");
  out->resize(n);
  return Read(out->data(), n);
}

Failure RfbClient::Send(const uint8_t* data, size_t n) {
  while (n > 0) {
    const ssize_t w = ::send(fd_, data, n, kNoSignal);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0 && (errno == EPIPE || errno == ECONNRESET)) return Gone();
    if (w < 0) return Failure::make(kProtocol, "writing to the VNC socket failed: " + Errno(errno));
    data += w;
    n -= static_cast<size_t>(w);
  }
  return Failure::none();
}

Failure RfbClient::Resize(uint32_t width, uint32_t height) {
  if (width == 0 || height == 0 || width > kMaxScreenSide || height > kMaxScreenSide) {
    return Bad("screen size " + Size(width, height) + " (each side must be 1.." + std::to_string(kMaxScreenSide) + ")");
  }
  fb_.width = width;
  fb_.height = height;
  fb_.pixels.assign(static_cast<size_t>(width) * height * 4, 0);
  return Failure::none();
}

Failure RfbClient::Handshake() {
  char version[12];
  Failure f = Read(version, sizeof version);
  if (!f.ok()) return f;
  unsigned major = 0, minor = 0;
  if (std::memcmp(version, "RFB ", 4) != 0 || version[11] != '\n' ||
      std::sscanf(version + 4, "%3u.%3u", &major, &minor) != 2) {
    return Bad("this is not an RFB (VNC) server: it greeted with \"" + std::string(version, 11) + "\"");
  }
  if (major < 3 || (major == 3 && minor < 8)) {
    return Bad("speaks RFB " + std::to_string(major) + "." + std::to_string(minor) + "; pixelrts needs 3.8 (QEMU's)");
  }
  const char ours[] = "RFB 003.008\n";
  if (!(f = Send(reinterpret_cast<const uint8_t*>(ours), 12)).ok()) return f;

  uint8_t count = 0;
  if (!(f = ReadU8(&count)).ok()) return f;
  if (count == 0) {
    std::string reason;
    if (!(f = ReadString(kMaxReason, "a refusal", &reason)).ok()) return f;
    return Bad("refused the connection: " + reason);
  }
  uint8_t types[255];
  if (!(f = Read(types, count)).ok()) return f;
  if (std::find(types, types + count, kSecurityNone) == types + count) {
    return Bad("asks for authentication (security types offered: " + std::to_string(count) +
               ", None not among them); pixelrts reads QEMU's private VNC socket, which needs no password");
  }
  if (!(f = Send(&kSecurityNone, 1)).ok()) return f;
  uint32_t result = 0;
  if (!(f = ReadU32(&result)).ok()) return f;
  if (result != 0) {
    std::string reason;
    if (!(f = ReadString(kMaxReason, "a refusal", &reason)).ok()) return f;
    return Bad("refused the connection: " + reason);
  }
  const uint8_t shared = 1;  // others (a VNC viewer of the same VM) may stay connected
  if (!(f = Send(&shared, 1)).ok()) return f;

  uint16_t w = 0, h = 0;
  uint8_t server_format[16];
  if (!(f = ReadU16(&w)).ok() || !(f = ReadU16(&h)).ok() || !(f = Read(server_format, 16)).ok() ||
      !(f = ReadString(kMaxName, "a desktop name", &name_)).ok()) {
    return f;
  }
  if (!(f = Resize(w, h)).ok()) return f;

  // SetPixelFormat: 32 bits a pixel, depth 24, little-endian, true colour, red at bit 16,
  // green 8, blue 0: in memory B,G,R,X, the frame server's AR24 as it is.
  uint8_t msg[20] = {0};
  msg[4] = 32;
  msg[5] = 24;
  msg[6] = 0;
  msg[7] = 1;
  Put16(msg + 8, 255);
  Put16(msg + 10, 255);
  Put16(msg + 12, 255);
  msg[14] = 16;
  msg[15] = 8;
  msg[16] = 0;
  if (!(f = Send(msg, sizeof msg)).ok()) return f;
  // SetEncodings: Raw, CopyRect, DesktopSize.
  uint8_t enc[4 + 3 * 4] = {2, 0, 0, 3};
  Put32(enc + 4, static_cast<uint32_t>(kRaw));
  Put32(enc + 8, static_cast<uint32_t>(kCopyRect));
  Put32(enc + 12, static_cast<uint32_t>(kDesktopSize));
  if (!(f = Send(enc, sizeof enc)).ok()) return f;
  // The whole screen once (non-incremental), then changes only.
  uint8_t req[10] = {3, 0};
  Put16(req + 6, static_cast<uint16_t>(fb_.width));
  Put16(req + 8, static_cast<uint16_t>(fb_.height));
  return Send(req, sizeof req);
}

Failure RfbClient::RequestUpdate() {
  uint8_t req[10] = {3, 1};
  Put16(req + 6, static_cast<uint16_t>(fb_.width));
  Put16(req + 8, static_cast<uint16_t>(fb_.height));
  return Send(req, sizeof req);
}

Failure RfbClient::ApplyRect(UpdateSummary* out) {
  uint16_t x = 0, y = 0, w = 0, h = 0;
  uint32_t encoding = 0;
  Failure f;
  if (!(f = ReadU16(&x)).ok() || !(f = ReadU16(&y)).ok() || !(f = ReadU16(&w)).ok() || !(f = ReadU16(&h)).ok() ||
      !(f = ReadU32(&encoding)).ok()) {
    return f;
  }
  const int32_t e = static_cast<int32_t>(encoding);
  if (e == kDesktopSize) {
    out->resized = true;
    return Resize(w, h);
  }
  if (e != kRaw && e != kCopyRect) {
    return Bad("sent a rectangle in encoding " + std::to_string(e) + ", which was not asked for (only Raw 0, CopyRect 1, DesktopSize -223)");
  }
  // 16-bit fields: the sums cannot overflow 32 bits.
  const auto outside = [&](uint32_t rx, uint32_t ry) { return rx + w > fb_.width || ry + h > fb_.height; };
  if (outside(x, y)) {
    return Bad("rectangle " + Size(w, h) + " at " + std::to_string(x) + "," + std::to_string(y) +
               " does not fit the " + Size(fb_.width, fb_.height) + " screen");
  }
  const size_t stride = static_cast<size_t>(fb_.width) * 4, row = static_cast<size_t>(w) * 4;
  uint8_t* base = fb_.pixels.data();
  if (e == kRaw) {
    for (uint32_t r = 0; r < h; r++) {
      if (!(f = Read(base + (y + r) * stride + x * 4u, row)).ok()) return f;
    }
  } else {
    uint16_t sx = 0, sy = 0;
    if (!(f = ReadU16(&sx)).ok() || !(f = ReadU16(&sy)).ok()) return f;
    if (outside(sx, sy)) {
      return Bad("CopyRect source " + Size(w, h) + " at " + std::to_string(sx) + "," + std::to_string(sy) +
                 " does not fit the " + Size(fb_.width, fb_.height) + " screen");
    }
    // Source and destination may overlap: rows are copied away from the overlap (memmove
    // handles the overlap within a row).
    for (uint32_t i = 0; i < h; i++) {
      const uint32_t r = y > sy ? h - 1 - i : i;
      std::memmove(base + (y + r) * stride + x * 4u, base + (sy + r) * stride + sx * 4u, row);
    }
  }
  out->rects++;
  out->damaged_pixels += static_cast<uint64_t>(w) * h;
  return Failure::none();
}

Failure RfbClient::NextUpdate(UpdateSummary* out) {
  *out = UpdateSummary{};
  for (;;) {
    at_boundary_ = true;  // between messages: an end of stream now is a clean close
    uint8_t type = 0;
    Failure f = ReadU8(&type);
    if (!f.ok()) return f;
    switch (type) {
      case kFramebufferUpdate: {
        uint8_t pad;
        uint16_t rects = 0;
        if (!(f = ReadU8(&pad)).ok() || !(f = ReadU16(&rects)).ok()) return f;
        for (uint32_t i = 0; i < rects; i++) {
          if (!(f = ApplyRect(out)).ok()) return f;
        }
        return Failure::none();
      }
      case kSetColourMapEntries: {  // not for a true-colour client; skipped, it changes nothing here
        uint8_t pad;
        uint16_t first = 0, n = 0;
        if (!(f = ReadU8(&pad)).ok() || !(f = ReadU16(&first)).ok() || !(f = ReadU16(&n)).ok()) return f;
        if (!(f = Skip(static_cast<uint64_t>(n) * 6)).ok()) return f;
        break;
      }
      case kBell:
        break;
      case kServerCutText: {
        uint8_t pad[3];
        uint32_t n = 0;
        if (!(f = Read(pad, 3)).ok() || !(f = ReadU32(&n)).ok()) return f;
        if (n > kMaxCutText) {
          return Bad("clipboard text of " + std::to_string(n) + " bytes (at most " + std::to_string(kMaxCutText) + " accepted)");
        }
        if (!(f = Skip(n)).ok()) return f;
        break;
      }
      default:
        return Bad("sent message type " + std::to_string(type) + ", which RFB 3.8 does not define for a server");
    }
  }
}

}  // namespace pixelrts::screen
