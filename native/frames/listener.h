// A listening socket of one HXFR transport: TCP, a Unix socket or AF_VSOCK (Linux).
#pragma once

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace pixelrts::frames {

struct ListenSpec {
  enum class Kind { kTcp, kUnix, kVsock } kind = Kind::kTcp;
  std::string host;  // kTcp
  uint32_t port = 0;  // kTcp (0 = any free port), kVsock
  std::string path;  // kUnix
  uint32_t cid = 0xFFFFFFFFu;  // kVsock: VMADDR_CID_ANY unless given
};

class Listener {
 public:
  // Binds and listens (non-blocking). On failure returns false with a sentence in `error`
  // naming the transport, the address and the fix.
  bool Open(const ListenSpec& spec, std::string* error);
  ~Listener();

  int fd() const { return fd_.get(); }
  const ListenSpec& spec() const { return bound_; }  // the port filled in when 0 was asked for
  const char* transport() const;
  // Accepts one pending peer (non-blocking, close-on-exec); -1 when none. `peer` describes it.
  int Accept(std::string* peer);

 private:
  UniqueFd fd_;
  ListenSpec bound_;
  bool unlink_on_close_ = false;
};

}  // namespace pixelrts::frames
