// One connected HXFR client: its socket, its parser, its queue of whole outgoing messages
// and, for request mode, its encoding session. Fields are grouped by the thread that owns
// them; the output queue is the only state shared between threads and has its own lock.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <deque>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "frames/encoder_pool.h"
#include "frames/encoding_session.h"
#include "frames/hxfr_parser.h"
#include "frames/memory_budget.h"
#include "common/unique_fd.h"

namespace pixelrts::frames {

using MessageBytes = std::shared_ptr<const std::vector<uint8_t>>;

// Whole messages waiting to be written. The front one may be partly written (`offset_`),
// so a client never receives half a message followed by another one. Unwritten bytes count
// against the server's memory budget.
class OutputQueue {
 public:
  explicit OutputQueue(std::shared_ptr<MemoryBudget> budget) : budget_(std::move(budget)) {}
  ~OutputQueue();
  OutputQueue(const OutputQueue&) = delete;
  OutputQueue& operator=(const OutputQueue&) = delete;

  // Appends unconditionally (responses the client asked for: bounded by the loop's backpressure).
  void Push(MessageBytes m);
  // Appends a pushed (subscribe-mode) frame unless `max_pushes` of them already wait; false = dropped.
  bool PushDroppable(MessageBytes m, size_t max_pushes);
  // Writes as much as the socket takes. Returns false on a write error (errno kept in *err).
  bool Flush(int fd, int* err);
  bool empty();
  size_t bytes();

 private:
  struct Entry {
    MessageBytes bytes;
    bool droppable;
  };
  const std::shared_ptr<MemoryBudget> budget_;
  std::mutex mu_;
  std::deque<Entry> entries_;
  size_t offset_ = 0;   // bytes of entries_.front() already written
  size_t bytes_ = 0;    // unwritten bytes queued
  size_t pushes_ = 0;   // droppable entries queued
};

struct Connection {
  Connection(uint64_t id_, UniqueFd fd_, std::string transport_, std::string peer_, uint64_t max_frame_bytes,
             std::string max_frame_bytes_name, std::shared_ptr<MemoryBudget> budget)
      : id(id_), fd(std::move(fd_)), transport(std::move(transport_)), peer(std::move(peer_)),
        parser(max_frame_bytes, std::move(max_frame_bytes_name)), out(std::move(budget)) {}

  const uint64_t id;
  // --- event loop thread only ---
  UniqueFd fd;
  const std::string transport;
  const std::string peer;
  hxfr::HxfrParser parser;
  uint32_t interest = 0;  // Poller interest currently registered
  bool write_blocked = false;  // the socket returned EAGAIN: wait until writable
  // Closing after a fatal error: the ERROR is written, then our side is shut down and what the
  // peer still sends is read and discarded until it closes or the deadline passes. Closing at
  // once with unread input would send a reset that can destroy the ERROR before the peer reads it.
  bool closing = false;
  bool draining = false;
  std::chrono::steady_clock::time_point close_deadline;
  // Stall timeout: a client that has not completed a message yet, or is in the middle of one,
  // and sends nothing until this deadline while the loop reads it, is dropped. Between
  // messages a client may stay silent forever (subscribers wait for frames; the spec wants no
  // idle timeout).
  bool greeted = false;  // a whole message has been received
  std::chrono::steady_clock::time_point stall_deadline;
  bool awaiting_room = false;  // its next frame waits for room in the memory budget
  // --- shared ---
  OutputQueue out;
  std::atomic<bool> closed{false};
  std::atomic<bool> close_requested{false};  // close once `out` is written (fatal protocol error)
  std::atomic<int> queued_frames{0};  // FRAME_REQUESTs posted to the strand and not yet answered
  std::atomic<int64_t> subscribed{-1};  // scanout id in subscribe mode
  // --- the strand (encoder pool) only ---
  const std::shared_ptr<EncoderPool::Strand> strand = std::make_shared<EncoderPool::Strand>();
  EncodingSession session;
  UniqueFd record;  // --record: this connection's elementary stream
  bool record_failed = false;
  // --- guarded by FrameServer::scanout_mu_ ---
  bool awaiting_idr = false;  // subscriber that must not get P-frames until the next IDR
};

}  // namespace pixelrts::frames
