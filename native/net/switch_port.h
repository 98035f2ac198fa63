// One port of the switch: a Unix datagram socket the switch binds in the network's private
// directory, and the one peer socket (QEMU's end of a `-netdev dgram`) it exchanges frames with.
// A datagram from any other address is not the port's and is dropped.
#pragma once

#include <sys/socket.h>
#include <sys/un.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/failure.h"
#include "common/unique_fd.h"

namespace pixelrts::net {

// A port's counters since it was added.
struct PortStats {
  uint64_t rx_frames = 0;
  uint64_t rx_bytes = 0;
  uint64_t tx_frames = 0;
  uint64_t tx_bytes = 0;
  uint64_t tx_dropped = 0;  // the peer was not there or its queue was full
};

class SwitchPort {
 public:
  // Binds a non-blocking datagram socket at `path` (replacing a stale socket file there) whose
  // peer is `peer_path`. Fails with ERR_PIXELRTS_NET_PORT.
  static Failure Open(const std::string& path, const std::string& peer_path, SwitchPort* out);

  SwitchPort() = default;
  SwitchPort(SwitchPort&&) = default;
  SwitchPort& operator=(SwitchPort&&) = default;
  // Unlinks the socket file it bound (the fd closes with it).
  ~SwitchPort();

  int fd() const { return fd_.get(); }

  // What one receive found.
  enum class Received { kFrame, kTooLong, kForeign, kNone };
  // Reads one datagram into buf (capacity bytes, one more than the largest frame allowed):
  // kTooLong when it filled the buffer or was cut. kNone: nothing is queued.
  Received Receive(uint8_t* buf, size_t capacity, size_t* length);
  // Sends one frame to the peer without blocking; counts it or its drop.
  void Send(const uint8_t* frame, size_t length);

  PortStats& stats() { return stats_; }
  const PortStats& stats() const { return stats_; }

 private:
  UniqueFd fd_;
  std::string path_;
  std::string peer_path_;
  sockaddr_un peer_{};
  socklen_t peer_len_ = 0;
  PortStats stats_;
};

}  // namespace pixelrts::net
