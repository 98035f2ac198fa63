// A libfuse low-level session on a /dev/fuse descriptor, served by a fixed pool of worker
// threads this object owns. Each worker waits (epoll) for the device or a stop eventfd, takes
// one request (the device is non-blocking, so a worker that loses a race gets EAGAIN) and
// processes it. stop() wakes every worker through the eventfd and joins them: no thread is
// ever cancelled and none is left blocked in read(2).
#pragma once

#include <atomic>
#include <functional>
#include <memory>
#include <thread>
#include <vector>

#include "common/js_error.h"
#include "common/unique_fd.h"
#include "fuse/libfuse.h"

namespace pixelrts {

class FuseSession {
 public:
  // `on_end` runs (once, on a worker thread) when the kernel ends the session: the mount was
  // unmounted or aborted by someone else. It must not block.
  // The session holds `fuse` until it is destroyed: its workers call into the library.
  static Failure start(std::shared_ptr<const Libfuse> fuse, const fuse_lowlevel_ops& ops, void* userdata,
                       UniqueFd fuse_fd, unsigned workers, std::function<void()> on_end,
                       std::unique_ptr<FuseSession>* out);

  // Stops and joins the workers, then destroys the session (closing /dev/fuse, which makes
  // the kernel fail whatever still uses a lazily detached mount with ENOTCONN).
  ~FuseSession();
  FuseSession(const FuseSession&) = delete;
  FuseSession& operator=(const FuseSession&) = delete;

  // Wakes and joins every worker; a request in progress is finished first. Idempotent.
  void stop();

 private:
  FuseSession(std::shared_ptr<const Libfuse> fuse, fuse_session* session, UniqueFd stop_fd,
              std::function<void()> on_end);
  void serve();

  std::shared_ptr<const Libfuse> fuse_;
  fuse_session* session_;
  UniqueFd stop_fd_;  // eventfd: readable once stop() was called
  std::function<void()> on_end_;
  std::atomic<bool> ended_{false};
  std::vector<std::thread> workers_;
};

}  // namespace pixelrts
