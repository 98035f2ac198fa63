#include "frames/encoder_pool.h"

namespace pixelrts::frames {

EncoderPool::EncoderPool(int threads) {
  for (int i = 0; i < threads; i++) threads_.emplace_back([this] { Run(); });
}

EncoderPool::~EncoderPool() { Stop(); }

void EncoderPool::ScheduleLocked(const std::shared_ptr<Strand>& s) {
  if (s->scheduled_ || s->suspended_ || s->jobs_.empty()) return;
  s->scheduled_ = true;
  ready_.push_back(s);
  cv_.notify_one();
}

void EncoderPool::Post(const std::shared_ptr<Strand>& s, Job job) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  s->jobs_.push_back(std::move(job));
  ScheduleLocked(s);
}

void EncoderPool::Suspend(const std::shared_ptr<Strand>& s) {
  std::lock_guard<std::mutex> lock(mu_);
  s->suspended_ = true;
}

void EncoderPool::Resume(const std::shared_ptr<Strand>& s, Job first) {
  std::lock_guard<std::mutex> lock(mu_);
  if (stopping_) return;
  s->suspended_ = false;
  if (first) s->jobs_.push_front(std::move(first));
  ScheduleLocked(s);
}

void EncoderPool::Clear(const std::shared_ptr<Strand>& s) {
  std::deque<Job> dropped;
  std::lock_guard<std::mutex> lock(mu_);
  dropped.swap(s->jobs_);
}

void EncoderPool::Stop() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (stopping_ && threads_.empty()) return;
    stopping_ = true;
    cv_.notify_all();
  }
  for (std::thread& t : threads_) t.join();
  threads_.clear();
  std::lock_guard<std::mutex> lock(mu_);
  for (auto& s : ready_) s->jobs_.clear();
  ready_.clear();
}

void EncoderPool::Run() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    cv_.wait(lock, [this] { return stopping_ || !ready_.empty(); });
    if (stopping_) return;
    std::shared_ptr<Strand> s = std::move(ready_.front());
    ready_.pop_front();
    if (s->jobs_.empty()) {  // cleared while it waited in the ready queue
      s->scheduled_ = false;
      continue;
    }
    Job job = std::move(s->jobs_.front());
    s->jobs_.pop_front();
    lock.unlock();
    job();
    job = nullptr;  // release what the job captured outside the lock
    lock.lock();
    s->scheduled_ = false;
    ScheduleLocked(s);
  }
}

}  // namespace pixelrts::frames
