// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/fuse_session.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>

#include <cstdint>
#include <cstring>
#include <string>
#include <system_error>

namespace pixelrts {

Failure FuseSession::start(std::shared_ptr<const Libfuse> fuse, const fuse_lowlevel_ops& ops, void* userdata,
                           UniqueFd fuse_fd, unsigned workers, std::function<void()> on_end,
                           std::unique_ptr<FuseSession>* out) {
  UniqueFd stop_fd(eventfd(0, EFD_CLOEXEC | EFD_NONBLOCK));
  if (!stop_fd.valid()) {
    return Failure::make("ERR_PIXELRTS_FUSE_SESSION", std::string("eventfd: ") + std::strerror(errno));
  }
  // Workers wait in epoll instead of blocking in read(2), so the device must not block the
  // workers that lose the race for a request.
  int flags = fcntl(fuse_fd.get(), F_GETFL);
  if (flags < 0 || fcntl(fuse_fd.get(), F_SETFL, flags | O_NONBLOCK) != 0) {
    return Failure::make("ERR_PIXELRTS_FUSE_SESSION", std::string("fcntl(/dev/fuse): ") + std::strerror(errno));
  }

  char arg0[] = "pixelrts";
  char* argv[] = {arg0, nullptr};
  fuse_args args = FUSE_ARGS_INIT(1, argv);
  fuse_session* se = fuse->session_new(&args, &ops, sizeof ops, userdata);
  if (se == nullptr) {
    return Failure::make("ERR_PIXELRTS_FUSE_SESSION", "libfuse could not create a session (fuse_session_new failed)");
  }
  // The kernel mount already exists (fusermount3 made it); "/dev/fd/N" hands libfuse the
  // descriptor, which the session owns from here on and closes in fuse_session_destroy().
  std::string dev = "/dev/fd/" + std::to_string(fuse_fd.get());
  if (fuse->session_mount(se, dev.c_str()) != 0) {
    fuse->session_destroy(se);
    return Failure::make("ERR_PIXELRTS_FUSE_SESSION", "libfuse did not accept the /dev/fuse descriptor");
  }
  fuse_fd.release();

  std::unique_ptr<FuseSession> session(new FuseSession(std::move(fuse), se, std::move(stop_fd), std::move(on_end)));
  try {
    for (unsigned i = 0; i < workers; i++) session->workers_.emplace_back([s = session.get()] { s->serve(); });
  } catch (const std::system_error& e) {
    // Out of threads: the destructor stops the workers already started and ends the session.
    return Failure::make("ERR_PIXELRTS_FUSE_SESSION", std::string("could not start the FUSE worker threads: ") + e.what());
  }
  *out = std::move(session);
  return Failure::none();
}

FuseSession::FuseSession(std::shared_ptr<const Libfuse> fuse, fuse_session* session, UniqueFd stop_fd,
                         std::function<void()> on_end)
    : fuse_(std::move(fuse)),
      session_(session), stop_fd_(std::move(stop_fd)), on_end_(std::move(on_end)) {}

FuseSession::~FuseSession() {
  stop();
  fuse_->session_destroy(session_);
}

void FuseSession::stop() {
  uint64_t one = 1;
  // The counter only grows and is never read, so the eventfd stays readable for every worker.
  while (write(stop_fd_.get(), &one, sizeof one) < 0 && errno == EINTR) {
  }
  for (std::thread& t : workers_) {
    if (t.joinable()) t.join();
  }
  workers_.clear();
}

void FuseSession::serve() {
  pthread_setname_np(pthread_self(), "pixelrts-fuse");  // visible in ps -L and /proc/*/task/*/comm
  const int dev = fuse_->session_fd(session_);
  // Each worker waits in its own epoll set: the device with EPOLLEXCLUSIVE, so a request wakes
  // one idle worker rather than all of them (poll would wake every worker, and all but one
  // would find nothing: wasted context switches on a small machine), and the stop eventfd
  // without it, so stop() wakes everyone.
  UniqueFd ep(epoll_create1(EPOLL_CLOEXEC));
  epoll_event dev_event{};
  dev_event.events = EPOLLIN | EPOLLEXCLUSIVE;
  dev_event.data.fd = dev;
  epoll_event stop_event{};
  stop_event.events = EPOLLIN;
  stop_event.data.fd = stop_fd_.get();
  if (!ep.valid() || epoll_ctl(ep.get(), EPOLL_CTL_ADD, dev, &dev_event) != 0 ||
      epoll_ctl(ep.get(), EPOLL_CTL_ADD, stop_fd_.get(), &stop_event) != 0) {
    // Without an epoll set this worker cannot wait safely; the others serve (and if none can,
    // the session ends and the mount reports it).
    if (!ended_.exchange(true) && on_end_) on_end_();
    return;
  }
  fuse_buf buf;
  std::memset(&buf, 0, sizeof buf);  // libfuse allocates buf.mem (max request size) on first use
  for (;;) {
    epoll_event ready[2];
    int n = epoll_wait(ep.get(), ready, 2, -1);
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    bool stop = false;
    for (int i = 0; i < n; i++) stop = stop || ready[i].data.fd == stop_fd_.get();
    if (stop) break;
    int got = fuse_->session_receive_buf(session_, &buf);
    if (got == -EAGAIN || got == -EINTR) continue;  // another worker took the request
    if (got <= 0 || fuse_->session_exited(session_)) {
      // 0 (ENODEV): the kernel ended the connection; anything else: the device failed.
      if (!ended_.exchange(true) && on_end_) on_end_();
      break;
    }
    fuse_->session_process_buf(session_, &buf);
  }
  free(buf.mem);
}

}  // namespace pixelrts

#endif  // __linux__
