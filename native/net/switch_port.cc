#include "net/switch_port.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

namespace pixelrts::net {

namespace {

bool FillAddress(const std::string& path, sockaddr_un* addr, socklen_t* len) {
  if (path.empty() || path.size() >= sizeof(addr->sun_path)) return false;
  std::memset(addr, 0, sizeof(*addr));
  addr->sun_family = AF_UNIX;
  std::memcpy(addr->sun_path, path.data(), path.size());
  *len = static_cast<socklen_t>(offsetof(sockaddr_un, sun_path) + path.size() + 1);
  return true;
}

// A datagram socket never raises SIGPIPE where MSG_NOSIGNAL is missing (macOS).
#ifdef MSG_NOSIGNAL
constexpr int kSendFlags = MSG_DONTWAIT | MSG_NOSIGNAL;
#else
constexpr int kSendFlags = MSG_DONTWAIT;
#endif

Failure PortFailure(const std::string& what, const std::string& path, int err) {
  return Failure::make("ERR_PIXELRTS_NET_PORT", what + " " + path + ": " + std::strerror(err) +
                                                    ". Check that the network's directory is this user's and not full.");
}

}  // namespace

Failure SwitchPort::Open(const std::string& path, const std::string& peer_path, SwitchPort* out) {
  sockaddr_un own{};
  socklen_t own_len = 0;
  SwitchPort port;
  if (!FillAddress(path, &own, &own_len) || !FillAddress(peer_path, &port.peer_, &port.peer_len_)) {
    return Failure::make("ERR_PIXELRTS_NET_PORT", "the socket path " + path + " or " + peer_path +
                                                      " is empty or longer than a Unix socket address holds (107 bytes); "
                                                      "set XDG_RUNTIME_DIR to a shorter directory.");
  }
  // Flags set with fcntl, not socket(): SOCK_NONBLOCK and SOCK_CLOEXEC are Linux's own.
  UniqueFd fd(::socket(AF_UNIX, SOCK_DGRAM, 0));
  if (!fd.valid()) return PortFailure("cannot create the socket for", path, errno);
  if (::fcntl(fd.get(), F_SETFD, FD_CLOEXEC) != 0 || ::fcntl(fd.get(), F_SETFL, O_NONBLOCK) != 0) {
    return PortFailure("cannot configure the socket for", path, errno);
  }
  // A socket file left by a switch that was killed would make bind fail: it is ours to replace.
  ::unlink(path.c_str());
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&own), own_len) != 0) return PortFailure("cannot bind", path, errno);
  port.fd_ = std::move(fd);
  port.path_ = path;
  port.peer_path_ = peer_path;
  *out = std::move(port);
  return Failure::none();
}

SwitchPort::~SwitchPort() {
  if (fd_.valid() && !path_.empty()) ::unlink(path_.c_str());
}

SwitchPort::Received SwitchPort::Receive(uint8_t* buf, size_t capacity, size_t* length) {
  sockaddr_un from{};
  iovec iov{buf, capacity};
  msghdr msg{};
  msg.msg_name = &from;
  msg.msg_namelen = sizeof(from);
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  const ssize_t n = ::recvmsg(fd_.get(), &msg, MSG_DONTWAIT);
  if (n < 0) return Received::kNone;
  *length = static_cast<size_t>(n);
  const socklen_t from_len = msg.msg_namelen;
  // Only the peer's datagrams belong to this port (the directory is private, but a port is one
  // VM's and nothing else's).
  const size_t from_path = from_len > offsetof(sockaddr_un, sun_path) ? from_len - offsetof(sockaddr_un, sun_path) : 0;
  if (peer_path_.compare(0, std::string::npos, from.sun_path, ::strnlen(from.sun_path, from_path)) != 0) return Received::kForeign;
  // The rest of a datagram longer than the buffer was discarded by the kernel (MSG_TRUNC).
  if ((msg.msg_flags & MSG_TRUNC) != 0 || *length >= capacity) return Received::kTooLong;
  return Received::kFrame;
}

void SwitchPort::Send(const uint8_t* frame, size_t length) {
  const ssize_t n = ::sendto(fd_.get(), frame, length, kSendFlags, reinterpret_cast<const sockaddr*>(&peer_), peer_len_);
  if (n == static_cast<ssize_t>(length)) {
    stats_.tx_frames++;
    stats_.tx_bytes += length;
  } else {
    stats_.tx_dropped++;
  }
}

}  // namespace pixelrts::net
