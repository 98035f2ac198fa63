// A VM's screen as a frame source: an RFB client (rfb_client.h) on its own thread, reading
// QEMU's VNC server on a Unix socket, that hands each changed picture straight to a frame
// server scanout (FrameServer::PublishRetained). Frames go socket → framebuffer → encoder →
// subscribers without JavaScript; only rare events (ready, resize, error, close) are reported.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>
#include <thread>

#include "common/failure.h"
#include "common/unique_fd.h"
#include "frames/frame_server.h"

namespace pixelrts::screen {

struct DisplayEvent {
  enum class Type { kReady, kResize, kError, kClose } type = Type::kReady;
  uint32_t width = 0, height = 0;  // kReady, kResize
  std::string name;                // kReady: the desktop name QEMU gives
  std::string code, message;       // kError
  std::string reason;              // kClose
};

// Called on the display's thread; must return at once and never block on JavaScript.
class DisplayEventSink {
 public:
  virtual ~DisplayEventSink() = default;
  virtual void OnDisplayEvent(DisplayEvent&& event) = 0;
};

struct DisplayStats {
  uint64_t updates = 0;         // FramebufferUpdates received
  uint64_t rects = 0;           // their Raw and CopyRect rectangles
  uint64_t damaged_pixels = 0;  // the rectangles' area
  uint64_t published = 0;       // pictures handed to the frame server (updates with damage or a resize)
  uint64_t resizes = 0;
  uint64_t bytes_in = 0;
  uint32_t width = 0, height = 0;
};

class Display {
 public:
  Display(std::shared_ptr<frames::FrameServer> server, uint32_t scanout, DisplayEventSink* sink);
  ~Display();
  Display(const Display&) = delete;
  Display& operator=(const Display&) = delete;

  // Connects to the VNC server's Unix socket and starts the thread (the handshake runs there).
  Failure Start(const std::string& socket_path);
  // Ends the connection and joins the thread. Idempotent.
  void Stop();
  // QEMU's VNC server looks at the screen less often the longer it stays unchanged (every 30 ms,
  // 50 ms more each time it finds nothing, up to 3 s), so the first change after a quiet spell
  // can wait seconds. A new connection resets that to 30 ms: this opens one and closes it at
  // once (non-blocking; QEMU only sees a client come and go). False when nothing listens.
  bool Nudge() const;
  DisplayStats Stats() const;

 private:
  void Run();
  void Finish(const Failure& f, bool closed);

  const std::shared_ptr<frames::FrameServer> server_;
  const uint32_t scanout_;
  std::string socket_path_;
  DisplayEventSink* const sink_;
  UniqueFd fd_;
  std::thread thread_;  // joined before fd_ is closed (Stop)
  std::atomic<bool> stopping_{false};
  std::atomic<uint64_t> updates_{0}, rects_{0}, damaged_{0}, published_{0}, resizes_{0}, bytes_in_{0};
  std::atomic<uint32_t> width_{0}, height_{0};
};

}  // namespace pixelrts::screen
