#include "frames/poller.h"

#include <cerrno>
#include <cstring>
#include <fcntl.h>
#include <sys/socket.h>
#include <unistd.h>

#if defined(__linux__)
#include <sys/epoll.h>
#include <sys/eventfd.h>
#else
#include <sys/event.h>
#include <sys/time.h>
#endif

namespace pixelrts::frames {

#if defined(__linux__)

const int kSendFlags = MSG_NOSIGNAL | MSG_DONTWAIT;

bool Poller::Open(std::string* error) {
  fd_ = UniqueFd(epoll_create1(EPOLL_CLOEXEC));
  if (!fd_.valid()) *error = std::string("epoll_create1: ") + strerror(errno);
  return fd_.valid();
}

static uint32_t EpollEvents(uint32_t interest) {
  return ((interest & Poller::kRead) ? EPOLLIN : 0u) | ((interest & Poller::kWrite) ? EPOLLOUT : 0u);
}

bool Poller::Add(int fd, uint64_t token, uint32_t interest) {
  epoll_event ev{};
  ev.events = EpollEvents(interest);
  ev.data.u64 = token;
  return epoll_ctl(fd_.get(), EPOLL_CTL_ADD, fd, &ev) == 0;
}

bool Poller::Modify(int fd, uint64_t token, uint32_t /*before*/, uint32_t after) {
  epoll_event ev{};
  ev.events = EpollEvents(after);
  ev.data.u64 = token;
  return epoll_ctl(fd_.get(), EPOLL_CTL_MOD, fd, &ev) == 0;
}

void Poller::Remove(int fd, uint32_t /*interest*/) { epoll_ctl(fd_.get(), EPOLL_CTL_DEL, fd, nullptr); }

int Poller::Wait(Event* events, int max, int timeout_ms) {
  epoll_event raw[64];
  const int n = epoll_wait(fd_.get(), raw, max < 64 ? max : 64, timeout_ms);
  for (int i = 0; i < n; i++) {
    events[i].token = raw[i].data.u64;
    events[i].readable = raw[i].events & EPOLLIN;
    events[i].writable = raw[i].events & EPOLLOUT;
    events[i].hangup = raw[i].events & (EPOLLHUP | EPOLLERR);
  }
  return n;
}

bool Waker::Open(std::string* error) {
  read_ = UniqueFd(eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!read_.valid()) *error = std::string("eventfd: ") + strerror(errno);
  return read_.valid();
}

void Waker::Wake() {
  const uint64_t one = 1;
  if (::write(read_.get(), &one, sizeof one) < 0) {
    // EAGAIN: the counter is already non-zero, so the loop wakes anyway.
  }
}

void Waker::Drain() {
  uint64_t count;
  while (::read(read_.get(), &count, sizeof count) > 0) {
  }
}

int NewSocket(int domain) { return ::socket(domain, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0); }

int AcceptSocket(int listen_fd, void* addr, unsigned* len) {
  socklen_t l = *len;
  const int fd = ::accept4(listen_fd, static_cast<sockaddr*>(addr), &l, SOCK_NONBLOCK | SOCK_CLOEXEC);
  *len = l;
  return fd;
}

#else  // kqueue (macOS)

const int kSendFlags = MSG_DONTWAIT;

static void Prepare(int fd) {
  fcntl(fd, F_SETFD, FD_CLOEXEC);
  fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  int one = 1;
  setsockopt(fd, SOL_SOCKET, SO_NOSIGPIPE, &one, sizeof one);
}

bool Poller::Open(std::string* error) {
  fd_ = UniqueFd(kqueue());
  if (!fd_.valid()) {
    *error = std::string("kqueue: ") + strerror(errno);
    return false;
  }
  fcntl(fd_.get(), F_SETFD, FD_CLOEXEC);
  return true;
}

static bool Change(int kq, int fd, uint64_t token, int16_t filter, uint16_t flags) {
  struct kevent ev;
  EV_SET(&ev, fd, filter, flags, 0, 0, reinterpret_cast<void*>(static_cast<uintptr_t>(token)));
  return kevent(kq, &ev, 1, nullptr, 0, nullptr) == 0;
}

bool Poller::Add(int fd, uint64_t token, uint32_t interest) { return Modify(fd, token, 0, interest); }

bool Poller::Modify(int fd, uint64_t token, uint32_t before, uint32_t after) {
  bool ok = true;
  if ((after & kRead) != (before & kRead)) ok &= Change(fd_.get(), fd, token, EVFILT_READ, (after & kRead) ? EV_ADD : EV_DELETE);
  if ((after & kWrite) != (before & kWrite)) ok &= Change(fd_.get(), fd, token, EVFILT_WRITE, (after & kWrite) ? EV_ADD : EV_DELETE);
  return ok;
}

void Poller::Remove(int fd, uint32_t interest) { Modify(fd, 0, interest, 0); }

int Poller::Wait(Event* events, int max, int timeout_ms) {
  struct kevent raw[64];
  timespec ts{timeout_ms / 1000, (timeout_ms % 1000) * 1000000L};
  const int n = kevent(fd_.get(), nullptr, 0, raw, max < 64 ? max : 64, timeout_ms < 0 ? nullptr : &ts);
  for (int i = 0; i < n; i++) {
    events[i] = Event();
    events[i].token = static_cast<uint64_t>(reinterpret_cast<uintptr_t>(raw[i].udata));
    events[i].readable = raw[i].filter == EVFILT_READ;
    events[i].writable = raw[i].filter == EVFILT_WRITE;
    events[i].hangup = (raw[i].flags & EV_ERROR) != 0;
  }
  return n;
}

bool Waker::Open(std::string* error) {
  int fds[2];
  if (pipe(fds) != 0) {
    *error = std::string("pipe: ") + strerror(errno);
    return false;
  }
  read_ = UniqueFd(fds[0]);
  write_ = UniqueFd(fds[1]);
  for (int fd : fds) {
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
  }
  return true;
}

void Waker::Wake() {
  const char one = 1;
  if (::write(write_.get(), &one, 1) < 0) {
    // EAGAIN: the pipe is full of wake-ups already.
  }
}

void Waker::Drain() {
  char buf[256];
  while (::read(read_.get(), buf, sizeof buf) > 0) {
  }
}

int NewSocket(int domain) {
  const int fd = ::socket(domain, SOCK_STREAM, 0);
  if (fd >= 0) Prepare(fd);
  return fd;
}

int AcceptSocket(int listen_fd, void* addr, unsigned* len) {
  socklen_t l = *len;
  const int fd = ::accept(listen_fd, static_cast<sockaddr*>(addr), &l);
  *len = l;
  if (fd >= 0) Prepare(fd);
  return fd;
}

#endif

}  // namespace pixelrts::frames
