// A small pool of encoder threads that run jobs on strands: the jobs of one strand (one
// connection, one scanout) run one at a time in the order posted, different strands run in
// parallel. Encoding therefore never happens on the event loop thread, and one slow stream
// cannot stop the loop from reading other clients. A strand can be suspended by its own
// job (waiting for the JavaScript resolver) and resumed later with a job to run first.
#pragma once

#include <condition_variable>
#include <deque>
#include <functional>
#include <memory>
#include <mutex>
#include <thread>
#include <vector>

namespace pixelrts::frames {

class EncoderPool {
 public:
  using Job = std::function<void()>;

  class Strand {
   private:
    friend class EncoderPool;
    std::deque<Job> jobs_;
    bool scheduled_ = false;  // in the ready queue or running
    bool suspended_ = false;
  };

  explicit EncoderPool(int threads);
  ~EncoderPool();
  EncoderPool(const EncoderPool&) = delete;
  EncoderPool& operator=(const EncoderPool&) = delete;

  void Post(const std::shared_ptr<Strand>& strand, Job job);
  // Called from a job of `strand`: no further job of the strand runs until Resume.
  void Suspend(const std::shared_ptr<Strand>& strand);
  // Ends a suspension; `first` (if any) runs before the jobs already queued.
  void Resume(const std::shared_ptr<Strand>& strand, Job first);
  // Drops the strand's queued jobs (its owner is gone; breaks job → owner reference cycles).
  void Clear(const std::shared_ptr<Strand>& strand);
  // Stops and joins the threads; queued jobs are dropped. Idempotent.
  void Stop();

 private:
  void Run();
  void ScheduleLocked(const std::shared_ptr<Strand>& strand);

  std::mutex mu_;
  std::condition_variable cv_;
  std::deque<std::shared_ptr<Strand>> ready_;
  bool stopping_ = false;
  std::vector<std::thread> threads_;
};

}  // namespace pixelrts::frames
