// The HXFR host: listeners, an event loop (epoll / kqueue) on a thread it owns, the connections, the
// encoder pool, and the published scanouts with their subscribers.
//
// Threads: the loop thread accepts, reads and parses, answers PING/SCANOUT/SUBSCRIBE at
// once, posts everything that must stay in order with frames (frames, KEYFRAME_REQ,
// CONFIG_REQ, errors about frames) to the connection's strand, and is the only writer of
// sockets. Encoder pool threads convert and encode and hand whole messages back through
// the connection's OutputQueue plus a wake-up (Waker). JavaScript calls Publish,
// AnswerResolve, Stats and Stop from its own thread.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <unordered_map>
#include <vector>

#include "frames/connection.h"
#include "frames/encoder_pool.h"
#include "frames/encoding_session.h"
#include "frames/hxfr_parser.h"
#include "frames/listener.h"
#include "frames/memory_budget.h"
#include "frames/poller.h"
#include "frames/server_events.h"
#include "common/unique_fd.h"

namespace pixelrts::frames {

// How messages name the settings below: the API options by default; the command line
// passes its flags (--max-frame-bytes), so each user is told the knob they can turn.
struct SettingNames {
  std::string max_clients = "maxClients";
  std::string max_frame_bytes = "maxFrameBytes";
  std::string stall_timeout = "stallTimeout";
};

struct ServerOptions {
  std::vector<ListenSpec> listen;
  uint32_t max_clients = 16;
  // The largest frame the spec allows: 8192x8192 at 4 bytes a pixel (AR24/AB24). The memory
  // budget, not this, bounds what clients together can make the server hold.
  uint64_t max_frame_bytes = 8192ull * 8192 * 4;
  // Frame bytes being received plus answers waiting to be written, all connections together.
  uint64_t memory_budget = 1ull << 30;
  // A client silent this long before its first whole message, or in the middle of one, is dropped.
  uint32_t stall_timeout_ms = 10000;
  SettingNames names;
  std::string record_dir;  // empty: no recording; else a directory of this user's only others cannot write to
  bool resolver = false;   // FRAME_REQUESTs naming a resource are passed to JavaScript
};

struct ServerStats {
  uint64_t clients = 0, connections = 0, frames = 0, bytes_in = 0, bytes_out = 0, drops = 0, errors = 0;
  uint64_t published = 0;
  uint64_t downscaled = 0;  // frames encoded smaller than their own size (too large for the encoder)
  double encode_ms_total = 0, convert_ms_total = 0;
};

// A frame given by JavaScript (publish, resolver answer), copied into native memory.
struct RawFrame {
  hxfr::PixelLayout layout;
  hxfr::ByteBuffer pixels;
};

class FrameServer {
 public:
  FrameServer(ServerOptions options, ServerEventSink* sink);
  ~FrameServer();
  FrameServer(const FrameServer&) = delete;
  FrameServer& operator=(const FrameServer&) = delete;

  // Opens every listener and starts the threads; false with `error` when a listener fails
  // (nothing is left open then).
  bool Start(std::string* error);
  // Stops the threads, closes every socket, removes the Unix socket file. Idempotent.
  void Stop();

  const std::vector<std::unique_ptr<Listener>>& listeners() const { return listeners_; }
  void SetResolver(bool enabled) { resolver_enabled_ = enabled; }
  // Queues `frame` for encoding once and pushing to every subscriber of `scanout`.
  // False when nobody subscribes or the scanout already has frames waiting (dropped).
  bool Publish(uint32_t scanout, int64_t pts_ns, RawFrame frame);
  // For a source that publishes only on damage (the VM's screen, native/screen): `frame` becomes
  // the scanout's picture. It is kept, so a subscriber who arrives while the screen is idle gets
  // it at once as an IDR; it is encoded only when someone subscribes; and it is never dropped:
  // frames that arrive while the encoder is busy replace each other, and the newest is encoded
  // next (a screen that settles is always seen as it settled). Callable from any thread; never
  // calls JavaScript. Returns false when nobody subscribes (kept, not encoded).
  bool PublishRetained(uint32_t scanout, int64_t pts_ns, RawFrame frame);
  // Nanoseconds since the server started: the pts of retained frames and their replays.
  int64_t NowPts() const;
  // The resolver's answer for `token`: a frame, or null (`frame` == nullptr) for "not found".
  void AnswerResolve(uint64_t token, RawFrame* frame, const std::string& error);
  ServerStats Stats();

 private:
  struct Scanout {
    uint32_t id = 0;
    std::shared_ptr<EncoderPool::Strand> strand = std::make_shared<EncoderPool::Strand>();
    EncodingSession session;  // strand only
    std::atomic<bool> keyframe_wanted{true};
    std::atomic<int> pending{0};
    std::vector<std::weak_ptr<Connection>> subscribers;  // scanout_mu_
    // PublishRetained: the newest picture, whether it still needs encoding, and whether a job
    // that encodes it is queued or running (at most one: the strand runs them in turn).
    std::shared_ptr<const RawFrame> retained;  // scanout_mu_
    int64_t retained_pts = 0;                  // scanout_mu_
    bool retained_fresh = false;               // scanout_mu_
    bool retained_job = false;                 // scanout_mu_
  };
  struct PendingResolve {
    std::weak_ptr<Connection> connection;
    hxfr::Header header;
    hxfr::FrameRequest request;
  };
  class ConnectionSink;

  void Loop();
  void Wake();
  void HandleCommands();
  void AcceptAll(size_t listener_index);
  void ReadFrom(const std::shared_ptr<Connection>& c);
  void HandleMessage(const std::shared_ptr<Connection>& c, hxfr::Message&& m);
  void HandleProblem(const std::shared_ptr<Connection>& c, hxfr::ParseProblem&& p);
  void FlushAndUpdate(const std::shared_ptr<Connection>& c);
  void CloseConnection(const std::shared_ptr<Connection>& c, const std::string& reason);
  void Drain(const std::shared_ptr<Connection>& c);
  // Takes room in the memory budget for the frame `c`'s parser waits to receive; false (and
  // `c` waits in line) when there is none.
  bool AdmitPixels(const std::shared_ptr<Connection>& c);
  // Room was freed: the connections waiting for it read on, in order, while it lasts.
  void AdmitWaiters();
  // `c` may be timed out at `deadline` (stall timeout or lingering close): wakes the loop by then.
  void ArmTimer(std::chrono::steady_clock::time_point deadline);
  // Closes lingering connections past their deadline and stalled ones; sets the next timer.
  void CheckTimers();
  int WaitTimeoutMs() const;
  // From any thread: `c` has output (or its read backpressure changed); the loop looks at it.
  void MarkDirty(uint64_t id);

  // Strand jobs.
  void EncodeJob(const std::shared_ptr<Connection>& c, const hxfr::Header& h, const hxfr::FrameRequest& r,
                 const hxfr::PixelLayout& layout, const hxfr::ByteBuffer& pixels);
  void ResolveJob(const std::shared_ptr<Connection>& c, const hxfr::Header& h, const hxfr::FrameRequest& r);
  void SendError(const std::shared_ptr<Connection>& c, uint16_t session, int32_t code, const std::string& msg,
                 bool fatal);
  void FrameAnswered(const std::shared_ptr<Connection>& c);
  void PublishJob(const std::shared_ptr<Scanout>& s, int64_t pts, const RawFrame& frame);
  void RetainedJob(const std::shared_ptr<Scanout>& s);
  // Encodes `frame` on the scanout's strand and pushes it to its subscribers.
  void EncodeAndPush(const std::shared_ptr<Scanout>& s, int64_t pts, const RawFrame& frame);
  // Posts RetainedJob unless one is queued or running. Needs scanout_mu_ held.
  void ScheduleRetainedLocked(const std::shared_ptr<Scanout>& s);
  bool HasSubscribersLocked(const Scanout& s) const;
  void Record(Connection& c, const std::vector<uint8_t>& annexb);
  // Opens options_.record_dir, refusing one that is a link, another user's, or writable by others.
  bool OpenRecordDir(std::string* error);
  // Counts an encoded frame and, when someone listens, reports it as a kFrame event.
  void FrameEncoded(uint64_t connection, int64_t scanout, const hxfr::PixelLayout& layout, const EncodedPicture& pic,
                    int64_t pts, const EncodingSession::Timing& t);
  std::shared_ptr<Scanout> ScanoutLocked(uint32_t id);
  void ReportError(uint64_t connection, const std::string& code, const std::string& message);

  const ServerOptions options_;
  const std::chrono::steady_clock::time_point started_ = std::chrono::steady_clock::now();
  UniqueFd record_dir_;  // options_.record_dir, opened once and checked (OpenRecordDir)
  ServerEventSink* const sink_;
  std::vector<std::unique_ptr<Listener>> listeners_;
  Poller poller_;
  Waker waker_;  // commands and stop
  std::thread loop_;
  std::unique_ptr<EncoderPool> pool_;
  std::atomic<bool> stopping_{false};
  bool stopped_ = false;
  std::atomic<bool> resolver_enabled_{false};

  // Unwritten output above which the loop stops reading a client that does not read.
  const size_t output_high_water_;
  const std::chrono::milliseconds stall_timeout_;
  std::atomic<bool> room_freed_{false};  // set by the budget when waiting connections may fit
  const std::shared_ptr<MemoryBudget> budget_;

  // Loop thread only.
  std::unordered_map<uint64_t, std::shared_ptr<Connection>> connections_;
  uint64_t next_id_ = 1;
  // No deadline of any connection is earlier than this (max: none).
  std::chrono::steady_clock::time_point next_timer_ = std::chrono::steady_clock::time_point::max();

  std::mutex command_mu_;
  std::vector<uint64_t> dirty_;  // connection ids with output or changed backpressure

  std::mutex scanout_mu_;
  std::map<uint32_t, std::shared_ptr<Scanout>> scanouts_;

  std::mutex resolve_mu_;
  std::map<uint64_t, PendingResolve> resolves_;
  uint64_t next_token_ = 1;

  std::atomic<uint64_t> clients_{0}, connections_total_{0}, frames_{0}, bytes_in_{0}, bytes_out_{0}, drops_{0},
      errors_{0}, published_{0}, downscaled_{0};
  std::mutex timing_mu_;
  double encode_ms_total_ = 0, convert_ms_total_ = 0;
};

}  // namespace pixelrts::frames
