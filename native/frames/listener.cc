#include "frames/listener.h"

#include "frames/poller.h"

#include <arpa/inet.h>
#include <cerrno>
#include <cstring>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#if defined(__linux__)
#include <linux/vm_sockets.h>
#endif

namespace pixelrts::frames {

namespace {

std::string Errno(int e) { return std::string(strerror(e)) + " (errno " + std::to_string(e) + ")"; }

std::string FormatInet(const sockaddr* sa) {
  char host[INET6_ADDRSTRLEN] = "?";
  uint16_t port = 0;
  if (sa->sa_family == AF_INET) {
    auto* in = reinterpret_cast<const sockaddr_in*>(sa);
    inet_ntop(AF_INET, &in->sin_addr, host, sizeof host);
    port = ntohs(in->sin_port);
    return std::string(host) + ":" + std::to_string(port);
  }
  auto* in6 = reinterpret_cast<const sockaddr_in6*>(sa);
  inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof host);
  port = ntohs(in6->sin6_port);
  return "[" + std::string(host) + "]:" + std::to_string(port);
}

}  // namespace

Listener::~Listener() {
  if (unlink_on_close_) ::unlink(bound_.path.c_str());
}

const char* Listener::transport() const {
  switch (bound_.kind) {
    case ListenSpec::Kind::kTcp: return "tcp";
    case ListenSpec::Kind::kUnix: return "unix";
    case ListenSpec::Kind::kVsock: return "vsock";
  }
  return "?";
}

bool Listener::Open(const ListenSpec& spec, std::string* error) {
  bound_ = spec;
  if (spec.kind == ListenSpec::Kind::kTcp) {
    const std::string where = "TCP " + spec.host + ":" + std::to_string(spec.port);
    addrinfo hints{};
    hints.ai_family = AF_UNSPEC;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
    addrinfo* res = nullptr;
    const int gai = getaddrinfo(spec.host.c_str(), std::to_string(spec.port).c_str(), &hints, &res);
    if (gai != 0 || res == nullptr) {
      *error = where + ": cannot resolve host '" + spec.host + "' (" + gai_strerror(gai) +
               "); give an IP address such as 127.0.0.1";
      return false;
    }
    UniqueFd fd(NewSocket(res->ai_family));
    int e = errno;
    if (fd.valid()) {
      int one = 1;
      setsockopt(fd.get(), SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
      if (::bind(fd.get(), res->ai_addr, res->ai_addrlen) != 0 || ::listen(fd.get(), 64) != 0) e = errno, fd.reset();
    }
    freeaddrinfo(res);
    if (!fd.valid()) {
      *error = where + ": cannot listen: " + Errno(e) +
               (e == EADDRINUSE ? "; another server holds the port: choose another (--tcp HOST:PORT, port 0 = any)" : "");
      return false;
    }
    sockaddr_storage ss{};
    socklen_t len = sizeof ss;
    getsockname(fd.get(), reinterpret_cast<sockaddr*>(&ss), &len);
    bound_.port = ss.ss_family == AF_INET ? ntohs(reinterpret_cast<sockaddr_in*>(&ss)->sin_port)
                                          : ntohs(reinterpret_cast<sockaddr_in6*>(&ss)->sin6_port);
    fd_ = std::move(fd);
    return true;
  }

  if (spec.kind == ListenSpec::Kind::kUnix) {
    const std::string where = "Unix socket " + spec.path;
    sockaddr_un addr{};
    addr.sun_family = AF_UNIX;
    if (spec.path.empty() || spec.path.size() >= sizeof addr.sun_path) {
      *error = where + ": the path must be 1.." + std::to_string(sizeof addr.sun_path - 1) +
               " bytes long, found " + std::to_string(spec.path.size()) + "; use a shorter path";
      return false;
    }
    std::memcpy(addr.sun_path, spec.path.data(), spec.path.size());
    struct stat st{};
    if (::lstat(spec.path.c_str(), &st) == 0) {
      if (!S_ISSOCK(st.st_mode)) {
        *error = where + ": a file that is not a socket exists there; remove it or choose another path";
        return false;
      }
      // A socket file is left behind by a server that died; one that accepts belongs to a live server.
      UniqueFd probe(::socket(AF_UNIX, SOCK_STREAM, 0));
      if (probe.valid() && ::connect(probe.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) == 0) {
        *error = where + ": another server is listening there; stop it or choose another path";
        return false;
      }
      ::unlink(spec.path.c_str());
    }
    UniqueFd fd(NewSocket(AF_UNIX));
    if (!fd.valid() || ::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 ||
        ::listen(fd.get(), 64) != 0) {
      *error = where + ": cannot listen: " + Errno(errno) + "; check the directory exists and is writable";
      return false;
    }
    fd_ = std::move(fd);
    unlink_on_close_ = true;
    return true;
  }

#if defined(__linux__)
  const std::string where = "AF_VSOCK port " + std::to_string(spec.port);
  UniqueFd fd(NewSocket(AF_VSOCK));
  if (!fd.valid()) {
    const int e = errno;
    *error = where + ": AF_VSOCK is not available on this host: " + Errno(e) +
             "; load the vsock modules (modprobe vhost_vsock) or use --tcp / --unix instead";
    return false;
  }
  sockaddr_vm addr{};
  addr.svm_family = AF_VSOCK;
  addr.svm_cid = spec.cid;
  addr.svm_port = spec.port;
  if (::bind(fd.get(), reinterpret_cast<sockaddr*>(&addr), sizeof addr) != 0 || ::listen(fd.get(), 64) != 0) {
    const int e = errno;
    *error = where + ": cannot listen: " + Errno(e) +
             (e == EADDRINUSE ? "; another server holds the port: choose another (--vsock PORT)"
                              : "; check the vsock modules are loaded (modprobe vhost_vsock)");
    return false;
  }
  fd_ = std::move(fd);
  return true;
#else
  *error = "AF_VSOCK is only available on Linux; use --tcp or --unix";
  return false;
#endif
}

int Listener::Accept(std::string* peer) {
  sockaddr_storage ss{};
  unsigned len = sizeof ss;
  const int fd = AcceptSocket(fd_.get(), &ss, &len);
  if (fd < 0) return -1;
  switch (bound_.kind) {
    case ListenSpec::Kind::kTcp: {
      *peer = FormatInet(reinterpret_cast<sockaddr*>(&ss));
      // Responses are whole messages written at once: do not hold them back for coalescing.
      int one = 1;
      setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
      break;
    }
    case ListenSpec::Kind::kUnix:
      *peer = bound_.path;
      break;
    case ListenSpec::Kind::kVsock:
#if defined(__linux__)
    {
      auto* vm = reinterpret_cast<sockaddr_vm*>(&ss);
      *peer = "vsock:" + std::to_string(vm->svm_cid) + ":" + std::to_string(vm->svm_port);
    }
#endif
      break;
  }
  return fd;
}

}  // namespace pixelrts::frames
