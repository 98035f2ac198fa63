// The frame server's total memory budget: the bytes of frames being received and of answers
// waiting to be written, across every connection. Any local user can connect, so without a
// total a few clients sending large frames and never reading the answers hold gigabytes.
//
// Frame pixels are admitted before their buffer exists (TryReserve), whole, so an admitted
// frame can always be received to its end and freed: admitting bytes as they arrive could
// leave every connection stuck half-way with the budget spent. Answers are counted but never
// refused (every frame gets exactly one); each connection's unwritten output is capped on its
// own (the loop stops reading a client that does not read).
//
// Fairness: when a frame does not fit, its connection queues, and while anyone queues, room
// goes to the queue in order. A connection's next frame goes behind everyone already waiting,
// so a greedy client takes turns with the others instead of starving them.
//
// Header-only: small, and shared by the loop thread (admission) and every thread that frees.
#pragma once

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <deque>
#include <functional>
#include <mutex>
#include <vector>

namespace pixelrts::frames {

class MemoryBudget {
 public:
  // `on_room` runs (on the releasing thread; it must not block) when bytes are freed while
  // connections wait for room.
  MemoryBudget(uint64_t limit, std::function<void()> on_room) : limit_(limit), on_room_(std::move(on_room)) {}
  MemoryBudget(const MemoryBudget&) = delete;
  MemoryBudget& operator=(const MemoryBudget&) = delete;

  uint64_t limit() const { return limit_; }
  uint64_t used() const { return used_; }

  // Reserves `n` bytes for connection `id` when they fit and nobody waits ahead of it; else
  // queues `id` (once) and returns false.
  bool TryReserve(uint64_t id, uint64_t n) {
    std::lock_guard<std::mutex> lock(mu_);
    const bool queued = std::find(waiters_.begin(), waiters_.end(), id) != waiters_.end();
    const bool turn = waiters_.empty() || waiters_.front() == id;
    if (turn && used_ + n <= limit_) {
      used_ += n;
      if (queued) waiters_.pop_front();
      waiting_ = !waiters_.empty();
      return true;
    }
    if (!queued) waiters_.push_back(id);
    waiting_ = true;
    return false;
  }

  // Counts bytes that must be kept whatever the total (answers to frames).
  void Add(uint64_t n) { used_ += n; }

  // `n` bytes reserved or added earlier are free again. Any thread.
  void Release(uint64_t n) {
    used_ -= n;
    if (n > 0 && waiting_ && on_room_) on_room_();
  }

  // The connections waiting for room, first in line first.
  std::vector<uint64_t> Waiters() {
    std::lock_guard<std::mutex> lock(mu_);
    return {waiters_.begin(), waiters_.end()};
  }

  // Connection `id` no longer waits (it closed). If it was first in line, the next may fit now.
  void Forget(uint64_t id) {
    bool was_first = false;
    {
      std::lock_guard<std::mutex> lock(mu_);
      was_first = !waiters_.empty() && waiters_.front() == id;
      waiters_.erase(std::remove(waiters_.begin(), waiters_.end(), id), waiters_.end());
      waiting_ = !waiters_.empty();
    }
    if (was_first && waiting_ && on_room_) on_room_();
  }

 private:
  const uint64_t limit_;
  const std::function<void()> on_room_;
  std::atomic<uint64_t> used_{0};
  std::atomic<bool> waiting_{false};
  std::mutex mu_;
  std::deque<uint64_t> waiters_;
};

}  // namespace pixelrts::frames
