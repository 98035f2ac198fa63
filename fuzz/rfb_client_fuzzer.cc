// libFuzzer target for the RFB client that reads QEMU's VNC server (native/screen/rfb_client.cc):
// the input is what a server sends, from its greeting on. Build and run: see fuzz/README-rfb.md.
//
// The client reads a real socket (one end of a socketpair; a thread writes the input into the
// other end, then closes it, and another reads what the client sends), so its buffering meets
// every read boundary the kernel makes. It
// runs the handshake and then updates until the input ends or it refuses something; after every
// update the framebuffer must be 1..8192 a side and exactly width·height·4 bytes, and any
// rectangle it applied stayed inside it (ASan).
#include <sys/socket.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <thread>

#include "common/unique_fd.h"
#include "screen/rfb_client.h"

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using pixelrts::UniqueFd;
  using pixelrts::screen::kMaxScreenSide;
  int fds[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, fds) != 0) abort();
  UniqueFd client(fds[0]), server(fds[1]);
  std::thread writer([&] {
    size_t done = 0;
    while (done < size) {
      const ssize_t n = ::send(server.get(), data + done, size - done, MSG_NOSIGNAL);
      if (n <= 0) break;  // the client gave up and closed its end
      done += static_cast<size_t>(n);
    }
    ::shutdown(server.get(), SHUT_WR);
  });
  // What the client sends (an update request after each update) is read and dropped, as QEMU
  // would read it: unread, a few hundred small requests fill the socket and block the client.
  std::thread reader([&] {
    uint8_t sink[4096];
    while (::recv(server.get(), sink, sizeof sink, 0) > 0) {
    }
  });
  {
    pixelrts::screen::RfbClient rfb(client.get());
    if (rfb.Handshake().ok()) {
      pixelrts::screen::UpdateSummary u;
      while (rfb.NextUpdate(&u).ok()) {
        const auto& fb = rfb.framebuffer();
        if (fb.width == 0 || fb.height == 0 || fb.width > kMaxScreenSide || fb.height > kMaxScreenSide) abort();
        if (fb.pixels.size() != static_cast<size_t>(fb.width) * fb.height * 4) abort();
        if (u.damaged_pixels > static_cast<uint64_t>(u.rects) * fb.width * fb.height) abort();
        if (!rfb.RequestUpdate().ok()) break;
      }
    }
  }
  ::shutdown(client.get(), SHUT_RDWR);  // unblocks the writer and the reader
  writer.join();
  reader.join();
  return 0;
}
