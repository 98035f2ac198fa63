// What the frame server tells its owner (the N-API binding, which forwards it to JavaScript
// through a thread-safe function). Called from the event loop and encoder threads; an
// implementation must return at once and never block on JavaScript.
#pragma once

#include <cstdint>
#include <string>

namespace pixelrts::frames {

struct ServerEvent {
  enum class Type { kConnection, kClose, kFrame, kError, kScanout, kResolve } type = Type::kConnection;
  uint64_t connection = 0;  // 0: the server itself
  std::string transport;    // kConnection
  std::string peer;         // kConnection
  std::string reason;       // kClose
  std::string code;         // kError: ERR_PIXELRTS_FRAMES_*
  std::string message;      // kError
  int64_t scanout = -1;     // kFrame (published frames), kScanout, kResolve: -1 when none
  bool enabled = false;     // kScanout
  uint32_t width = 0, height = 0, refresh = 0, format = 0, stride = 0;
  // kFrame: the size the stream decodes to (width x height padded to even; halved if too large).
  uint32_t encoded_width = 0, encoded_height = 0;
  uint64_t bytes = 0;       // kFrame: H.264 bytes of the access unit
  bool keyframe = false;    // kFrame
  int64_t pts = 0;          // kFrame, kResolve
  double encode_ms = 0;     // kFrame: colour conversion + encoding
  uint64_t token = 0;       // kResolve: pass back to FrameServer::AnswerResolve
  uint32_t resource_id = 0; // kResolve
};

class ServerEventSink {
 public:
  virtual ~ServerEventSink() = default;
  virtual void OnEvent(ServerEvent&& event) = 0;
  // Frame events are only produced while this says someone listens (they are per frame).
  virtual bool WantsFrameEvents() const = 0;
};

}  // namespace pixelrts::frames
