#include "frames/connection.h"

#include <cerrno>
#include <sys/socket.h>

#include "frames/poller.h"

namespace pixelrts::frames {

OutputQueue::~OutputQueue() { budget_->Release(bytes_); }

void OutputQueue::Push(MessageBytes m) {
  std::lock_guard<std::mutex> lock(mu_);
  bytes_ += m->size();
  budget_->Add(m->size());
  entries_.push_back({std::move(m), false});
}

bool OutputQueue::PushDroppable(MessageBytes m, size_t max_pushes) {
  std::lock_guard<std::mutex> lock(mu_);
  if (pushes_ >= max_pushes) return false;
  pushes_++;
  bytes_ += m->size();
  budget_->Add(m->size());
  entries_.push_back({std::move(m), true});
  return true;
}

bool OutputQueue::Flush(int fd, int* err) {
  std::lock_guard<std::mutex> lock(mu_);
  while (!entries_.empty()) {
    const std::vector<uint8_t>& m = *entries_.front().bytes;
    const ssize_t n = ::send(fd, m.data() + offset_, m.size() - offset_, kSendFlags);
    if (n < 0) {
      if (errno == EINTR) continue;
      if (errno == EAGAIN || errno == EWOULDBLOCK) {
        *err = EAGAIN;
        return true;
      }
      *err = errno;
      return false;
    }
    offset_ += static_cast<size_t>(n);
    bytes_ -= static_cast<size_t>(n);
    budget_->Release(static_cast<size_t>(n));
    if (offset_ == m.size()) {
      if (entries_.front().droppable) pushes_--;
      entries_.pop_front();
      offset_ = 0;
    }
  }
  *err = 0;
  return true;
}

bool OutputQueue::empty() {
  std::lock_guard<std::mutex> lock(mu_);
  return entries_.empty();
}

size_t OutputQueue::bytes() {
  std::lock_guard<std::mutex> lock(mu_);
  return bytes_;
}

}  // namespace pixelrts::frames
