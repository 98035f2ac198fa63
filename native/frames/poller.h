// Readiness notification for the event loop: epoll on Linux, kqueue on macOS, behind one
// small interface, plus the Waker other threads use to interrupt a wait.
#pragma once

#include <cstdint>
#include <string>

#include "common/unique_fd.h"

namespace pixelrts::frames {

class Poller {
 public:
  enum Interest : uint32_t { kRead = 1, kWrite = 2 };
  struct Event {
    uint64_t token = 0;
    bool readable = false;
    bool writable = false;
    bool hangup = false;  // peer gone or socket error (reported even without kRead interest on Linux)
  };

  bool Open(std::string* error);
  bool Add(int fd, uint64_t token, uint32_t interest);
  // Changes `fd`'s interest from `before` to `after`.
  bool Modify(int fd, uint64_t token, uint32_t before, uint32_t after);
  void Remove(int fd, uint32_t interest);
  // Waits up to `timeout_ms` (-1: forever); returns the number of events, or -1 with errno set.
  int Wait(Event* events, int max, int timeout_ms);

 private:
  UniqueFd fd_;
};

// Wakes a Poller::Wait from another thread: an eventfd on Linux, a pipe elsewhere.
class Waker {
 public:
  bool Open(std::string* error);
  int fd() const { return read_.get(); }
  void Wake();
  void Drain();

 private:
  UniqueFd read_;
  UniqueFd write_;  // the pipe's write end (unused with an eventfd)
};

// Sockets as the server wants them: non-blocking, close-on-exec, no SIGPIPE on writes.
int NewSocket(int domain);
int AcceptSocket(int listen_fd, void* addr, unsigned* len);
// Flags for send(): MSG_NOSIGNAL where it exists (macOS uses SO_NOSIGPIPE on the socket).
extern const int kSendFlags;

}  // namespace pixelrts::frames
