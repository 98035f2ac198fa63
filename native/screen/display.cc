#include "screen/display.h"

#include <fcntl.h>
#include <sys/socket.h>
#include <sys/un.h>

#include <cerrno>
#include <cstring>

#include "frames/hxfr_protocol.h"
#include "frames/pixel_layout.h"
#include "frames/poller.h"
#include "screen/rfb_client.h"

namespace pixelrts::screen {

Display::Display(std::shared_ptr<frames::FrameServer> server, uint32_t scanout, DisplayEventSink* sink)
    : server_(std::move(server)), scanout_(scanout), sink_(sink) {}

Display::~Display() { Stop(); }

namespace {

// A stream socket connected to `path` (close-on-exec, no SIGPIPE: frames::NewSocket, per
// platform), blocking unless asked otherwise; invalid (errno set) when that fails.
UniqueFd ConnectUnix(const std::string& path, bool nonblocking) {
  sockaddr_un addr{};
  addr.sun_family = AF_UNIX;
  std::memcpy(addr.sun_path, path.data(), path.size());
  UniqueFd fd(frames::NewSocket(AF_UNIX));
  if (fd.valid() && !nonblocking) ::fcntl(fd.get(), F_SETFL, ::fcntl(fd.get(), F_GETFL) & ~O_NONBLOCK);
  if (fd.valid() && ::connect(fd.get(), reinterpret_cast<const sockaddr*>(&addr), sizeof addr) != 0) fd.reset();
  return fd;
}

}  // namespace

Failure Display::Start(const std::string& path) {
  if (path.empty() || path.size() >= sizeof(sockaddr_un::sun_path)) {
    return Failure::make("ERR_PIXELRTS_DISPLAY_CONNECT", "VNC socket path \"" + path + "\" must be 1.." +
                                                             std::to_string(sizeof(sockaddr_un::sun_path) - 1) + " bytes");
  }
  socket_path_ = path;
  fd_ = ConnectUnix(path, false);
  if (!fd_.valid()) {
    const int e = errno;
    return Failure::make("ERR_PIXELRTS_DISPLAY_CONNECT", "cannot connect to the VNC socket " + path + ": " +
                                                             std::strerror(e) + " (errno " + std::to_string(e) +
                                                             "); is the VM running with a screen on it (vnc: true)?");
  }
  thread_ = std::thread([this] { Run(); });
  return Failure::none();
}

void Display::Stop() {
  if (stopping_.exchange(true)) return;
  // Wakes a blocking read: the thread sees the end of the stream and returns.
  if (fd_.valid()) ::shutdown(fd_.get(), SHUT_RDWR);
  if (thread_.joinable()) thread_.join();
  fd_.reset();
}

bool Display::Nudge() const {
  // Closed as it goes out of scope: QEMU has accepted it by then (accepting is what resets its
  // refresh interval) or it never will.
  return !socket_path_.empty() && ConnectUnix(socket_path_, true).valid();
}

DisplayStats Display::Stats() const {
  DisplayStats s;
  s.updates = updates_;
  s.rects = rects_;
  s.damaged_pixels = damaged_;
  s.published = published_;
  s.resizes = resizes_;
  s.bytes_in = bytes_in_;
  s.width = width_;
  s.height = height_;
  return s;
}

void Display::Finish(const Failure& f, bool closed) {
  if (stopping_) return;  // close() asked for it: nothing to report
  if (!closed) {
    DisplayEvent e;
    e.type = DisplayEvent::Type::kError;
    e.code = f.code;
    e.message = f.message;
    sink_->OnDisplayEvent(std::move(e));
  }
  DisplayEvent e;
  e.type = DisplayEvent::Type::kClose;
  e.reason = f.message;
  sink_->OnDisplayEvent(std::move(e));
}

void Display::Run() {
  RfbClient rfb(fd_.get());
  Failure f = rfb.Handshake();
  if (!f.ok()) return Finish(f, rfb.closed());
  {
    DisplayEvent e;
    e.type = DisplayEvent::Type::kReady;
    e.width = width_ = rfb.framebuffer().width;
    e.height = height_ = rfb.framebuffer().height;
    e.name = rfb.name();
    sink_->OnDisplayEvent(std::move(e));
  }
  for (;;) {
    UpdateSummary u;
    if (!(f = rfb.NextUpdate(&u)).ok()) break;
    // Asked at once, so QEMU can collect the next changes while this picture is handed over.
    if (!(f = rfb.RequestUpdate()).ok()) break;
    const Framebuffer& fb = rfb.framebuffer();
    updates_++;
    rects_ += u.rects;
    damaged_ += u.damaged_pixels;
    bytes_in_ = rfb.bytes_in();
    if (u.resized) {
      resizes_++;
      width_ = fb.width;
      height_ = fb.height;
      DisplayEvent e;
      e.type = DisplayEvent::Type::kResize;
      e.width = fb.width;
      e.height = fb.height;
      sink_->OnDisplayEvent(std::move(e));
    }
    if (u.damaged_pixels == 0 && !u.resized) continue;  // nothing changed: nothing to encode
    // A copy the encoder owns, so the next update can be read into the framebuffer meanwhile.
    // A new size restarts the scanout's encoder, whose next picture is therefore an IDR.
    frames::RawFrame frame;
    std::string error;
    if (!hxfr::ResolvePixelLayout(hxfr::kFormatAR24, fb.width, fb.height, fb.width * 4, fb.pixels.size(),
                                  &frame.layout, &error)) {
      f = Failure::make("ERR_PIXELRTS_DISPLAY_PROTOCOL", "VNC server: " + error);
      break;
    }
    frame.pixels = hxfr::ByteBuffer::Allocate(fb.pixels.size());
    std::memcpy(frame.pixels.data.get(), fb.pixels.data(), fb.pixels.size());
    server_->PublishRetained(scanout_, server_->NowPts(), std::move(frame));
    published_++;
  }
  Finish(f, rfb.closed());
}

}  // namespace pixelrts::screen
