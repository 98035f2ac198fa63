// The client half of RFB 3.8 (RFC 6143) that reads QEMU's VNC server on a private Unix socket:
// security type None, 32-bit little-endian BGRX true colour (the frame server's AR24), and the
// encodings Raw, CopyRect and DesktopSize, which a local socket needs and nothing more (a
// compressing encoding would only spend CPU on both sides of a memory copy). It keeps the
// guest's framebuffer. Blocking reads on the caller's thread; no JavaScript.
//
// Everything the server sends is checked before it is used: rectangles must lie inside the
// framebuffer (a CopyRect's source too), sizes are 1..8192 on each side, strings and skipped
// payloads are capped, and anything unexpected is a Failure, never a crash or an allocation
// the peer chose.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "common/failure.h"

namespace pixelrts::screen {

// The largest side the frame server takes (HXFR: 1..8192).
constexpr uint32_t kMaxScreenSide = 8192;

struct Framebuffer {
  uint32_t width = 0;
  uint32_t height = 0;
  std::vector<uint8_t> pixels;  // B,G,R,X; rows of width·4 bytes
};

// What one FramebufferUpdate changed.
struct UpdateSummary {
  uint32_t rects = 0;            // Raw and CopyRect rectangles
  uint64_t damaged_pixels = 0;   // their area
  bool resized = false;          // a DesktopSize came: the framebuffer was reallocated
};

class RfbClient {
 public:
  // `fd`: a connected stream socket, owned by the caller and open as long as this lives.
  explicit RfbClient(int fd) : fd_(fd) {}
  RfbClient(const RfbClient&) = delete;
  RfbClient& operator=(const RfbClient&) = delete;

  // Version, security (None), ClientInit, ServerInit; then sets our pixel format and encodings
  // and asks for the whole screen.
  Failure Handshake();
  // Reads server messages until one FramebufferUpdate is complete and applied to the framebuffer.
  Failure NextUpdate(UpdateSummary* out);
  // Asks for the changes of the whole screen since the last update (incremental), which the
  // server answers only once something changed: an idle screen costs nothing.
  Failure RequestUpdate();

  const Framebuffer& framebuffer() const { return fb_; }
  const std::string& name() const { return name_; }
  // The last failure was the peer going away between two messages (QEMU exiting), not a
  // broken message.
  bool closed() const { return closed_; }
  uint64_t bytes_in() const { return bytes_in_; }

 private:
  Failure Read(void* dst, size_t n);
  Failure Skip(uint64_t n);
  Failure ReadU8(uint8_t* v);
  Failure ReadU16(uint16_t* v);
  Failure ReadU32(uint32_t* v);
  // A length-prefixed string of at most `cap` bytes (longer: a Failure, `what` names it).
  Failure ReadString(uint32_t cap, const char* what, std::string* out);
  Failure Send(const uint8_t* data, size_t n);
  // The server went away between messages (QEMU exiting): closed(), not a protocol error.
  Failure Gone();
  Failure Resize(uint32_t width, uint32_t height);
  Failure ApplyRect(UpdateSummary* out);

  const int fd_;
  Framebuffer fb_;
  std::string name_;
  bool closed_ = false;
  bool at_boundary_ = true;  // no message partly read: an end of stream here is a clean close
  uint64_t bytes_in_ = 0;
  // Reads are buffered: a screen update is many small headers and long rows.
  std::vector<uint8_t> buf_ = std::vector<uint8_t>(64 << 10);
  size_t buf_pos_ = 0, buf_end_ = 0;
};

}  // namespace pixelrts::screen
