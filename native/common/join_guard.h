// Joins a std::thread when the scope ends, however it ends: a helper thread started for one
// call (a second decode or encode worker) never outlives the call or leaves std::terminate
// to a joinable thread's destructor.
#pragma once

#include <thread>

namespace pixelrts {

class JoinGuard {
 public:
  explicit JoinGuard(std::thread* t) : t_(t) {}
  ~JoinGuard() {
    if (t_->joinable()) t_->join();
  }
  JoinGuard(const JoinGuard&) = delete;
  JoinGuard& operator=(const JoinGuard&) = delete;

 private:
  std::thread* t_;
};

}  // namespace pixelrts
