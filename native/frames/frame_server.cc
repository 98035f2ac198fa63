#include "frames/frame_server.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <sys/socket.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <unordered_set>

namespace pixelrts::frames {

namespace {

// Frames a connection may have waiting for the encoder before the loop stops reading it:
// one being encoded and one received ahead, which hides the network time of the next frame.
constexpr int kMaxQueuedFrames = 2;
// Unwritten output above which the loop stops reading a client that does not read (PING floods),
// unless a quarter of the memory budget shared among max_clients is less.
constexpr size_t kOutputHighWater = 8u << 20;
constexpr size_t kMinOutputHighWater = 64u << 10;
// Pushed frames a subscriber may have waiting; more are dropped for that subscriber only.
constexpr size_t kMaxQueuedPushes = 4;
// Published frames a scanout may have waiting for its encoder; more are dropped.
constexpr int kMaxPendingPublishes = 2;
constexpr int kPoolThreads = 2;
// How long a connection closed for a fatal error may keep sending before it is cut off.
constexpr auto kLingerTime = std::chrono::seconds(2);
constexpr uint64_t kWakeToken = 0;
constexpr uint64_t kListenerTag = 1ull << 63;

std::string Errno(int e) { return std::string(strerror(e)) + " (errno " + std::to_string(e) + ")"; }

// "1 client", "16 clients".
std::string Count(uint64_t n, const char* noun) { return std::to_string(n) + " " + noun + (n == 1 ? "" : "s"); }

size_t OutputHighWater(const ServerOptions& o) {
  const uint64_t share = o.memory_budget / (4 * std::max<uint64_t>(o.max_clients, 1));
  return static_cast<size_t>(std::clamp<uint64_t>(share, kMinOutputHighWater, kOutputHighWater));
}

}  // namespace

class FrameServer::ConnectionSink : public hxfr::MessageSink {
 public:
  ConnectionSink(FrameServer* server, std::shared_ptr<Connection> c) : server_(server), c_(std::move(c)) {}
  void OnMessage(hxfr::Message&& m) override { server_->HandleMessage(c_, std::move(m)); }
  void OnProblem(hxfr::ParseProblem&& p) override { server_->HandleProblem(c_, std::move(p)); }

 private:
  FrameServer* server_;
  std::shared_ptr<Connection> c_;
};

FrameServer::FrameServer(ServerOptions options, ServerEventSink* sink)
    : options_(std::move(options)),
      sink_(sink),
      output_high_water_(OutputHighWater(options_)),
      stall_timeout_(options_.stall_timeout_ms),
      // Runs on whichever thread frees memory: only flags the loop, which admits the waiters.
      budget_(std::make_shared<MemoryBudget>(options_.memory_budget, [this] {
        room_freed_ = true;
        Wake();
      })) {
  resolver_enabled_ = options_.resolver;
}

FrameServer::~FrameServer() { Stop(); }

bool FrameServer::Start(std::string* error) {
  if (!options_.record_dir.empty() && !OpenRecordDir(error)) return false;
  for (const ListenSpec& spec : options_.listen) {
    auto l = std::make_unique<Listener>();
    if (!l->Open(spec, error)) {
      listeners_.clear();
      return false;
    }
    listeners_.push_back(std::move(l));
  }
  std::string why;
  if (!poller_.Open(&why) || !waker_.Open(&why)) {
    *error = "frame server: cannot create its event loop: " + why;
    listeners_.clear();
    return false;
  }
  poller_.Add(waker_.fd(), kWakeToken, Poller::kRead);
  for (size_t i = 0; i < listeners_.size(); i++) poller_.Add(listeners_[i]->fd(), kListenerTag | i, Poller::kRead);
  pool_ = std::make_unique<EncoderPool>(kPoolThreads);
  loop_ = std::thread([this] { Loop(); });
  return true;
}

void FrameServer::Stop() {
  if (stopped_) return;
  stopped_ = true;
  stopping_ = true;
  if (loop_.joinable()) {
    Wake();
    loop_.join();
  }
  if (pool_) pool_->Stop();
  // Queued jobs hold their connection or scanout: drop them so everything is freed here.
  for (auto& [id, c] : connections_) {
    if (pool_) pool_->Clear(c->strand);
    c->closed = true;
  }
  connections_.clear();
  {
    std::lock_guard<std::mutex> lock(scanout_mu_);
    for (auto& [id, s] : scanouts_) {
      if (pool_) pool_->Clear(s->strand);
    }
    scanouts_.clear();
  }
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    resolves_.clear();
  }
  listeners_.clear();  // closes the sockets and removes the Unix socket file
}

void FrameServer::Wake() { waker_.Wake(); }

void FrameServer::MarkDirty(uint64_t id) {
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    dirty_.push_back(id);
  }
  Wake();
}

void FrameServer::ReportError(uint64_t connection, const std::string& code, const std::string& message) {
  ServerEvent e;
  e.type = ServerEvent::Type::kError;
  e.connection = connection;
  e.code = code;
  e.message = message;
  sink_->OnEvent(std::move(e));
}

void FrameServer::Loop() {
  Poller::Event events[64];
  while (!stopping_) {
    const int n = poller_.Wait(events, 64, WaitTimeoutMs());
    if (n < 0) {
      if (errno == EINTR) continue;
      ReportError(0, "ERR_PIXELRTS_FRAMES_INTERNAL", "frame server: waiting for events failed: " + Errno(errno));
      return;
    }
    for (int i = 0; i < n && !stopping_; i++) {
      const Poller::Event& ev = events[i];
      if (ev.token == kWakeToken) {
        waker_.Drain();
        HandleCommands();
      } else if (ev.token & kListenerTag) {
        AcceptAll(static_cast<size_t>(ev.token & ~kListenerTag));
      } else {
        auto it = connections_.find(ev.token);
        if (it == connections_.end()) continue;  // closed earlier in this batch
        std::shared_ptr<Connection> c = it->second;
        if (ev.writable) FlushAndUpdate(c);
        if (!c->fd.valid()) continue;
        if (ev.readable) {
          ReadFrom(c);
        } else if (ev.hangup) {
          // Reported even while reading is paused: the peer is gone, nothing can be delivered.
          CloseConnection(c, "peer hung up");
        }
      }
    }
    if (std::chrono::steady_clock::now() >= next_timer_) CheckTimers();
  }
}

int FrameServer::WaitTimeoutMs() const {
  if (next_timer_ == std::chrono::steady_clock::time_point::max()) return -1;
  const auto left = std::chrono::ceil<std::chrono::milliseconds>(next_timer_ - std::chrono::steady_clock::now());
  return static_cast<int>(std::clamp<int64_t>(left.count(), 0, 60000));
}

void FrameServer::ArmTimer(std::chrono::steady_clock::time_point deadline) {
  if (deadline < next_timer_) next_timer_ = deadline;
}

void FrameServer::CheckTimers() {
  const auto now = std::chrono::steady_clock::now();
  next_timer_ = std::chrono::steady_clock::time_point::max();
  std::vector<std::pair<std::shared_ptr<Connection>, std::string>> expired;
  for (auto& [id, c] : connections_) {
    if (c->closing) {
      if (now >= c->close_deadline) {
        expired.emplace_back(c, "closed after a fatal protocol error");
      } else {
        ArmTimer(c->close_deadline);
      }
      continue;
    }
    // Only while the loop reads it: a client held back by the server is not stalling.
    if (!(c->interest & Poller::kRead) || (c->greeted && !c->parser.mid_message())) continue;
    if (now < c->stall_deadline) {
      ArmTimer(c->stall_deadline);
      continue;
    }
    const std::string ms = std::to_string(stall_timeout_.count()) + " ms (" + options_.names.stall_timeout + ")";
    expired.emplace_back(c, "sent nothing for " + ms +
                                (c->greeted ? " in the middle of a message" : " before completing a first message"));
  }
  for (auto& [c, reason] : expired) {
    if (!c->closing) {
      // Best effort: tells a slow but honest client why; an idle socket's buffer has room.
      const auto msg = hxfr::BuildError(0, hxfr::kInvalidMsg, "closing: the client " + reason);
      if (::send(c->fd.get(), msg.data(), msg.size(), kSendFlags) < 0) {
      }
      errors_++;
      ReportError(c->id, "ERR_PIXELRTS_FRAMES_PROTOCOL", "connection " + std::to_string(c->id) + " (" + c->peer +
                                                             "): dropped: it " + reason);
    }
    CloseConnection(c, c->closing ? reason : "dropped: it " + reason);
  }
}

void FrameServer::Drain(const std::shared_ptr<Connection>& c) {
  static thread_local uint8_t sink[64 * 1024];
  for (int i = 0; i < 256; i++) {
    const ssize_t n = ::recv(c->fd.get(), sink, sizeof sink, 0);
    if (n > 0) continue;
    if (n < 0 && errno == EINTR) continue;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) return;
    break;  // end of stream or error: the peer has seen our close
  }
  CloseConnection(c, "closed after a fatal protocol error");
}

void FrameServer::HandleCommands() {
  if (room_freed_.exchange(false)) AdmitWaiters();
  std::vector<uint64_t> ids;
  {
    std::lock_guard<std::mutex> lock(command_mu_);
    ids.swap(dirty_);
  }
  std::unordered_set<uint64_t> seen;
  for (uint64_t id : ids) {
    if (!seen.insert(id).second) continue;
    auto it = connections_.find(id);
    if (it == connections_.end()) continue;
    const std::shared_ptr<Connection> c = it->second;  // a copy: closing erases the map's
    FlushAndUpdate(c);
  }
}

void FrameServer::AcceptAll(size_t index) {
  Listener& l = *listeners_[index];
  for (;;) {
    std::string peer;
    UniqueFd fd(l.Accept(&peer));
    if (!fd.valid()) return;
    if (connections_.size() >= options_.max_clients) {
      const std::string text = "server full: " + Count(options_.max_clients, "client") +
                               " connected, the most it takes (" + options_.names.max_clients + "); try again later";
      const auto msg = hxfr::BuildError(0, hxfr::kInternal, text);
      // A fresh socket's buffer takes 272 bytes; if not, the client is gone anyway.
      if (::send(fd.get(), msg.data(), msg.size(), kSendFlags) < 0) {
      }
      errors_++;
      ReportError(0, "ERR_PIXELRTS_FRAMES_FULL", "refused " + std::string(l.transport()) + " client " + peer + ": " + text);
      continue;  // fd closes here
    }
    const uint64_t id = next_id_++;
    auto c = std::make_shared<Connection>(id, std::move(fd), l.transport(), peer, options_.max_frame_bytes,
                                          options_.names.max_frame_bytes, budget_);
    if (!poller_.Add(c->fd.get(), id, Poller::kRead)) {
      ReportError(0, "ERR_PIXELRTS_FRAMES_INTERNAL", "frame server: cannot watch a new client: " + Errno(errno));
      continue;
    }
    c->interest = Poller::kRead;
    c->stall_deadline = std::chrono::steady_clock::now() + stall_timeout_;
    ArmTimer(c->stall_deadline);
    connections_[id] = c;
    clients_++;
    connections_total_++;
    ServerEvent e;
    e.type = ServerEvent::Type::kConnection;
    e.connection = id;
    e.transport = l.transport();
    e.peer = peer;
    sink_->OnEvent(std::move(e));
  }
}

void FrameServer::ReadFrom(const std::shared_ptr<Connection>& c) {
  if (c->draining) {
    Drain(c);
    return;
  }
  ConnectionSink sink(this, c);
  // Bound one wake-up's work so a fast sender cannot starve the others: 32 MiB is ten 1080p frames.
  size_t budget = 32u << 20;
  auto should_read = [&] {
    return !c->parser.failed() && !c->close_requested && c->queued_frames < kMaxQueuedFrames &&
           c->out.bytes() < output_high_water_;
  };
  bool received = false;
  while (budget > 0 && c->fd.valid() && should_read()) {
    if (c->parser.pixels_wanted() > 0 && !AdmitPixels(c)) break;
    size_t cap = 0;
    uint8_t* buf = c->parser.NextBuffer(&cap);
    const ssize_t n = ::recv(c->fd.get(), buf, cap, 0);
    if (n > 0) {
      received = true;
      bytes_in_ += static_cast<uint64_t>(n);
      budget -= std::min(budget, static_cast<size_t>(n));
      c->parser.Commit(static_cast<size_t>(n), sink);
      continue;
    }
    if (n == 0) {
      CloseConnection(c, c->parser.mid_message() ? "peer closed the connection in the middle of a message"
                                                 : "peer closed the connection");
      return;
    }
    if (errno == EINTR) continue;
    if (errno == EAGAIN || errno == EWOULDBLOCK) break;
    CloseConnection(c, "read failed: " + Errno(errno));
    return;
  }
  if (received && c->fd.valid()) {
    c->stall_deadline = std::chrono::steady_clock::now() + stall_timeout_;
    ArmTimer(c->stall_deadline);
  }
  FlushAndUpdate(c);
}

bool FrameServer::AdmitPixels(const std::shared_ptr<Connection>& c) {
  const uint64_t n = c->parser.pixels_wanted();
  if (!budget_->TryReserve(c->id, n)) {
    c->awaiting_room = true;
    return false;
  }
  c->awaiting_room = false;
  std::shared_ptr<MemoryBudget> budget = budget_;
  c->parser.AllocatePixels([budget, n] { budget->Release(n); });
  return true;
}

void FrameServer::AdmitWaiters() {
  for (uint64_t id : budget_->Waiters()) {
    auto it = connections_.find(id);
    if (it == connections_.end()) {
      budget_->Forget(id);
      continue;
    }
    const std::shared_ptr<Connection> c = it->second;
    ReadFrom(c);
    if (c->awaiting_room) return;  // first in line and still no room: the others wait behind it
  }
}

void FrameServer::FlushAndUpdate(const std::shared_ptr<Connection>& c) {
  if (!c->fd.valid()) return;
  int err = 0;
  if (!c->out.Flush(c->fd.get(), &err)) {
    CloseConnection(c, "write failed: " + Errno(err));
    return;
  }
  c->write_blocked = err == EAGAIN;
  if (c->close_requested) {
    if (!c->closing) {
      c->closing = true;
      c->close_deadline = std::chrono::steady_clock::now() + kLingerTime;
      ArmTimer(c->close_deadline);
    }
    if (!c->draining && !c->write_blocked && c->out.empty()) {
      // The ERROR that explains the close is in the socket: end our side, then drain theirs.
      ::shutdown(c->fd.get(), SHUT_WR);
      c->draining = true;
    }
  }
  const bool read = c->draining || (!c->closing && !c->parser.failed() && !c->awaiting_room &&
                                    c->queued_frames < kMaxQueuedFrames && c->out.bytes() < output_high_water_);
  const uint32_t want = (read ? Poller::kRead : 0u) | (c->write_blocked ? Poller::kWrite : 0u);
  if (read && !(c->interest & Poller::kRead)) {
    // Reading resumes: the time the server held the client back does not count as stalling.
    c->stall_deadline = std::chrono::steady_clock::now() + stall_timeout_;
    ArmTimer(c->stall_deadline);
  }
  if (want != c->interest) {
    poller_.Modify(c->fd.get(), c->id, c->interest, want);
    c->interest = want;
  }
}

void FrameServer::CloseConnection(const std::shared_ptr<Connection>& c, const std::string& reason) {
  if (!c->fd.valid()) return;
  poller_.Remove(c->fd.get(), c->interest);
  c->fd.reset();
  c->closed = true;
  connections_.erase(c->id);
  clients_--;
  budget_->Forget(c->id);
  pool_->Clear(c->strand);
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    for (auto it = resolves_.begin(); it != resolves_.end();) {
      auto owner = it->second.connection.lock();
      it = (!owner || owner == c) ? resolves_.erase(it) : std::next(it);
    }
  }
  ServerEvent e;
  e.type = ServerEvent::Type::kClose;
  e.connection = c->id;
  e.reason = reason;
  sink_->OnEvent(std::move(e));
}

void FrameServer::HandleProblem(const std::shared_ptr<Connection>& c, hxfr::ParseProblem&& p) {
  if (!p.fatal) c->greeted = true;  // a whole message, if a wrong one
  ReportError(c->id, "ERR_PIXELRTS_FRAMES_PROTOCOL",
              "connection " + std::to_string(c->id) + " (" + c->peer + "): " + p.message);
  const bool frame = p.header.type == hxfr::kFrameRequest && !p.fatal;
  if (frame) c->queued_frames++;
  // Through the strand, so the ERROR follows the responses to earlier frames.
  auto problem = std::make_shared<hxfr::ParseProblem>(std::move(p));
  pool_->Post(c->strand, [this, c, problem, frame] {
    SendError(c, problem->header.session, problem->code, problem->message, problem->fatal);
    if (frame) FrameAnswered(c);
  });
}

void FrameServer::HandleMessage(const std::shared_ptr<Connection>& c, hxfr::Message&& m) {
  c->greeted = true;
  const hxfr::Header h = m.header;
  switch (h.type) {
    case hxfr::kFrameRequest: {
      const hxfr::FrameRequest r = hxfr::ParseFrameRequest(m.body);
      c->queued_frames++;
      if (m.pixels.size > 0) {
        auto pixels = std::make_shared<hxfr::ByteBuffer>(std::move(m.pixels));
        const hxfr::PixelLayout layout = m.layout;
        pool_->Post(c->strand, [this, c, h, r, layout, pixels] { EncodeJob(c, h, r, layout, *pixels); });
      } else if (r.resource_id != 0 && resolver_enabled_) {
        pool_->Post(c->strand, [this, c, h, r] { ResolveJob(c, h, r); });
      } else {
        const bool resource = r.resource_id != 0;
        pool_->Post(c->strand, [this, c, h, r, resource] {
          SendError(c, h.session, resource ? hxfr::kResourceNotFound : hxfr::kInvalidMsg,
                    resource ? "resource " + std::to_string(r.resource_id) +
                                   " cannot be resolved: this host has no resource resolver; send the pixels "
                                   "(PIXEL_DATA) instead"
                             : "FRAME_REQUEST carries neither pixels (PIXEL_DATA flag) nor a resource id",
                    false);
          FrameAnswered(c);
        });
      }
      break;
    }
    case hxfr::kKeyframeReq:
      pool_->Post(c->strand, [this, c] {
        const int64_t scanout = c->subscribed;
        if (scanout < 0) {
          c->session.RequestKeyframe();
          return;
        }
        std::lock_guard<std::mutex> lock(scanout_mu_);
        ScanoutLocked(static_cast<uint32_t>(scanout))->keyframe_wanted = true;
      });
      break;
    case hxfr::kConfigReq: {
      const hxfr::ConfigRequest cfg = hxfr::ParseConfigRequest(m.body);
      pool_->Post(c->strand, [this, c, cfg] {
        const int64_t scanout = c->subscribed;
        if (scanout < 0) {
          c->session.Reconfigure(cfg);
          return;
        }
        std::shared_ptr<Scanout> s;
        {
          std::lock_guard<std::mutex> lock(scanout_mu_);
          s = ScanoutLocked(static_cast<uint32_t>(scanout));
        }
        // The scanout's session belongs to the scanout's strand.
        pool_->Post(s->strand, [s, cfg] { s->session.Reconfigure(cfg); });
      });
      break;
    }
    case hxfr::kPing:
      c->out.Push(std::make_shared<const std::vector<uint8_t>>(hxfr::BuildPong(h.session)));
      break;
    case hxfr::kEnableScanout:
    case hxfr::kDisableScanout: {
      const bool enable = h.type == hxfr::kEnableScanout;
      const uint32_t id = hxfr::Le32(m.body);
      c->out.Push(std::make_shared<const std::vector<uint8_t>>(hxfr::BuildScanoutResp(h.session, id, true)));
      ServerEvent e;
      e.type = ServerEvent::Type::kScanout;
      e.connection = c->id;
      e.scanout = id;
      e.enabled = enable;
      if (enable) {
        e.width = hxfr::Le32(m.body + 4);
        e.height = hxfr::Le32(m.body + 8);
        e.refresh = hxfr::Le32(m.body + 12);
      }
      sink_->OnEvent(std::move(e));
      break;
    }
    case hxfr::kSubscribe: {
      const uint32_t id = hxfr::Le32(m.body);
      {
        std::lock_guard<std::mutex> lock(scanout_mu_);
        std::shared_ptr<Scanout> s = ScanoutLocked(id);
        if (c->subscribed != static_cast<int64_t>(id)) s->subscribers.push_back(c);
        c->subscribed = id;  // a subscriber of another scanout is pruned from that list on its next publish
        c->awaiting_idr = true;
        s->keyframe_wanted = true;  // the new subscriber's first frame is an IDR
        // A retained picture (an idle screen) is encoded again now, as that IDR: the newcomer
        // sees the screen at once. It goes to every subscriber of the scanout (one encoder
        // per scanout: the others get an IDR of the picture they have, which costs one frame).
        if (s->retained) {
          s->retained_fresh = true;
          s->retained_pts = NowPts();
          ScheduleRetainedLocked(s);
        }
      }
      c->out.Push(std::make_shared<const std::vector<uint8_t>>(hxfr::BuildSubscribeResp(h.session, id, true)));
      break;
    }
    default:
      break;  // the parser only delivers the types above
  }
}

void FrameServer::SendError(const std::shared_ptr<Connection>& c, uint16_t session, int32_t code,
                            const std::string& msg, bool fatal) {
  c->out.Push(std::make_shared<const std::vector<uint8_t>>(hxfr::BuildError(session, code, msg)));
  errors_++;
  if (fatal) c->close_requested = true;
  MarkDirty(c->id);
}

void FrameServer::FrameAnswered(const std::shared_ptr<Connection>& c) {
  c->queued_frames--;
  MarkDirty(c->id);
}

void FrameServer::EncodeJob(const std::shared_ptr<Connection>& c, const hxfr::Header& h, const hxfr::FrameRequest& r,
                            const hxfr::PixelLayout& layout, const hxfr::ByteBuffer& pixels) {
  if (c->closed) return;
  EncodedPicture pic;
  EncodingSession::Timing t;
  std::string err;
  if (!c->session.Encode(layout, pixels.data.get(), r.pts, r.force_keyframe, &pic, &t, &err)) {
    ReportError(c->id, "ERR_PIXELRTS_FRAMES_ENCODE", "connection " + std::to_string(c->id) + ": " + err);
    SendError(c, h.session, hxfr::kEncodeFailed, "encoding failed: " + err, false);
    FrameAnswered(c);
    return;
  }
  auto msg = std::make_shared<const std::vector<uint8_t>>(
      hxfr::BuildFrameResponse(h.session, r.pts, r.pts, pic.keyframe, pic.annexb.data(), pic.annexb.size()));
  c->out.Push(msg);
  bytes_out_ += msg->size();
  FrameEncoded(c->id, -1, layout, pic, r.pts, t);  // counted before the answer can reach the client
  FrameAnswered(c);
  Record(*c, pic.annexb);
}

void FrameServer::FrameEncoded(uint64_t connection, int64_t scanout, const hxfr::PixelLayout& layout,
                               const EncodedPicture& pic, int64_t pts, const EncodingSession::Timing& t) {
  frames_++;
  if (static_cast<uint32_t>(pic.width) < layout.width || static_cast<uint32_t>(pic.height) < layout.height) {
    downscaled_++;
  }
  {
    std::lock_guard<std::mutex> lock(timing_mu_);
    encode_ms_total_ += t.encode_ms;
    convert_ms_total_ += t.convert_ms;
  }
  if (!sink_->WantsFrameEvents()) return;
  ServerEvent e;
  e.type = ServerEvent::Type::kFrame;
  e.connection = connection;
  e.scanout = scanout;
  e.width = layout.width;
  e.height = layout.height;
  e.encoded_width = static_cast<uint32_t>(pic.width);
  e.encoded_height = static_cast<uint32_t>(pic.height);
  e.format = layout.format;
  e.bytes = pic.annexb.size();
  e.keyframe = pic.keyframe;
  e.pts = pts;
  e.encode_ms = t.convert_ms + t.encode_ms;
  sink_->OnEvent(std::move(e));
}

void FrameServer::ResolveJob(const std::shared_ptr<Connection>& c, const hxfr::Header& h, const hxfr::FrameRequest& r) {
  if (c->closed) return;
  uint64_t token;
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    token = next_token_++;
    resolves_[token] = PendingResolve{c, h, r};
  }
  // Nothing else of this connection runs until the answer: responses stay in order.
  pool_->Suspend(c->strand);
  ServerEvent e;
  e.type = ServerEvent::Type::kResolve;
  e.connection = c->id;
  e.token = token;
  e.resource_id = r.resource_id;
  e.width = r.width;
  e.height = r.height;
  e.format = r.format;
  e.stride = r.stride;
  e.pts = r.pts;
  sink_->OnEvent(std::move(e));
}

void FrameServer::AnswerResolve(uint64_t token, RawFrame* frame, const std::string& error) {
  PendingResolve pending;
  {
    std::lock_guard<std::mutex> lock(resolve_mu_);
    auto it = resolves_.find(token);
    if (it == resolves_.end()) return;  // connection gone, or answered twice
    pending = std::move(it->second);
    resolves_.erase(it);
  }
  std::shared_ptr<Connection> c = pending.connection.lock();
  if (!c || !pool_) return;
  const hxfr::Header h = pending.header;
  const hxfr::FrameRequest r = pending.request;
  EncoderPool::Job job;
  if (frame == nullptr) {
    const std::string text = !error.empty() ? error
                                            : "resource " + std::to_string(r.resource_id) +
                                                  " was not found by the host's resource resolver";
    job = [this, c, h, text] {
      SendError(c, h.session, hxfr::kResourceNotFound, text, false);
      FrameAnswered(c);
    };
  } else {
    auto f = std::make_shared<RawFrame>(std::move(*frame));
    job = [this, c, h, r, f] { EncodeJob(c, h, r, f->layout, f->pixels); };
  }
  pool_->Resume(c->strand, std::move(job));
}

std::shared_ptr<FrameServer::Scanout> FrameServer::ScanoutLocked(uint32_t id) {
  auto& s = scanouts_[id];
  if (!s) {
    s = std::make_shared<Scanout>();
    s->id = id;
  }
  return s;
}

bool FrameServer::HasSubscribersLocked(const Scanout& s) const {
  for (auto& w : s.subscribers) {
    auto c = w.lock();
    if (c && !c->closed && c->subscribed == static_cast<int64_t>(s.id)) return true;
  }
  return false;
}

bool FrameServer::Publish(uint32_t scanout, int64_t pts, RawFrame frame) {
  if (stopping_ || !pool_) return false;
  std::shared_ptr<Scanout> s;
  {
    std::lock_guard<std::mutex> lock(scanout_mu_);
    s = ScanoutLocked(scanout);
    if (!HasSubscribersLocked(*s)) return false;  // nobody to send it to: not worth encoding
    if (s->pending >= kMaxPendingPublishes) {
      drops_++;
      return false;
    }
    s->pending++;
  }
  published_++;
  auto f = std::make_shared<RawFrame>(std::move(frame));
  pool_->Post(s->strand, [this, s, pts, f] { PublishJob(s, pts, *f); });
  return true;
}

int64_t FrameServer::NowPts() const {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now() - started_).count();
}

bool FrameServer::PublishRetained(uint32_t scanout, int64_t pts, RawFrame frame) {
  if (stopping_ || !pool_) return false;
  auto f = std::make_shared<const RawFrame>(std::move(frame));
  std::lock_guard<std::mutex> lock(scanout_mu_);
  std::shared_ptr<Scanout> s = ScanoutLocked(scanout);
  s->retained = std::move(f);
  s->retained_pts = pts;
  s->retained_fresh = true;
  published_++;
  if (!HasSubscribersLocked(*s)) return false;  // kept for the next subscriber
  ScheduleRetainedLocked(s);
  return true;
}

void FrameServer::ScheduleRetainedLocked(const std::shared_ptr<Scanout>& s) {
  if (s->retained_job) return;  // the job running or queued picks the newest picture up
  s->retained_job = true;
  pool_->Post(s->strand, [this, s] { RetainedJob(s); });
}

void FrameServer::RetainedJob(const std::shared_ptr<Scanout>& s) {
  std::shared_ptr<const RawFrame> frame;
  int64_t pts;
  {
    std::lock_guard<std::mutex> lock(scanout_mu_);
    frame = s->retained;
    pts = s->retained_pts;
    s->retained_fresh = false;
  }
  if (frame) EncodeAndPush(s, pts, *frame);
  std::lock_guard<std::mutex> lock(scanout_mu_);
  s->retained_job = false;
  // A newer picture arrived while this one was encoded: it goes next, so the last one is never lost.
  if (s->retained_fresh && HasSubscribersLocked(*s) && !stopping_) ScheduleRetainedLocked(s);
}

void FrameServer::PublishJob(const std::shared_ptr<Scanout>& s, int64_t pts, const RawFrame& frame) {
  EncodeAndPush(s, pts, frame);
  s->pending--;
}

void FrameServer::EncodeAndPush(const std::shared_ptr<Scanout>& s, int64_t pts, const RawFrame& frame) {
  const bool force = s->keyframe_wanted.exchange(false);
  EncodedPicture pic;
  EncodingSession::Timing t;
  std::string err;
  if (!s->session.Encode(frame.layout, frame.pixels.data.get(), pts, force, &pic, &t, &err)) {
    if (force) s->keyframe_wanted = true;
    ReportError(0, "ERR_PIXELRTS_FRAMES_ENCODE", "scanout " + std::to_string(s->id) + ": " + err);
    return;
  }
  auto msg = std::make_shared<const std::vector<uint8_t>>(
      hxfr::BuildFrameResponse(static_cast<uint16_t>(s->id), pts, pts, pic.keyframe, pic.annexb.data(), pic.annexb.size()));
  {
    std::lock_guard<std::mutex> lock(scanout_mu_);
    auto& subs = s->subscribers;
    for (auto it = subs.begin(); it != subs.end();) {
      std::shared_ptr<Connection> c = it->lock();
      if (!c || c->closed || c->subscribed != static_cast<int64_t>(s->id)) {
        it = subs.erase(it);
        continue;
      }
      ++it;
      // A subscriber that missed a frame would decode garbage until the next IDR: it gets
      // nothing until then (at most one GOP, 60 frames).
      if (c->awaiting_idr && !pic.keyframe) {
        drops_++;
        continue;
      }
      if (!c->out.PushDroppable(msg, kMaxQueuedPushes)) {
        drops_++;
        c->awaiting_idr = true;
        continue;
      }
      c->awaiting_idr = false;
      bytes_out_ += msg->size();
      MarkDirty(c->id);
    }
  }
  FrameEncoded(0, s->id, frame.layout, pic, pts, t);
}

bool FrameServer::OpenRecordDir(std::string* error) {
  // Recordings go into a directory only this user can change: in one that others can write to,
  // another user could plant conn-N.h264 as a link to a file of ours and have it overwritten.
  const std::string& dir = options_.record_dir;
  record_dir_ = UniqueFd(::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC));
  struct stat st;
  if (!record_dir_.valid() || fstat(record_dir_.get(), &st) != 0) {
    *error = "record: cannot open the directory " + dir + ": " + Errno(errno) + " (a symbolic link is refused too)";
    return false;
  }
  if (st.st_uid != geteuid()) {
    *error = "record: refusing to record into " + dir + ": it belongs to uid " + std::to_string(st.st_uid) +
             ", not to this user; record into a directory of your own (mkdir -m 700 DIR)";
    return false;
  }
  if ((st.st_mode & 022) != 0) {
    char mode[8];
    std::snprintf(mode, sizeof mode, "%04o", static_cast<unsigned>(st.st_mode & 07777));
    *error = "record: refusing to record into " + dir + ": others can write to it (mode " + mode +
             "); record into a directory only you can write to (chmod go-w, or mkdir -m 700 DIR)";
    return false;
  }
  return true;
}

void FrameServer::Record(Connection& c, const std::vector<uint8_t>& annexb) {
  if (options_.record_dir.empty() || c.record_failed) return;
  const std::string name = "conn-" + std::to_string(c.id) + ".h264";
  const std::string path = options_.record_dir + "/" + name;
  if (!c.record.valid()) {
    // A file of that name (an earlier run's, or anything else) is replaced, never followed or
    // written through: removed, then created anew, private to this user.
    if (::unlinkat(record_dir_.get(), name.c_str(), 0) != 0 && errno != ENOENT) {
      c.record_failed = true;
      ReportError(c.id, "ERR_PIXELRTS_FRAMES_RECORD", "cannot replace " + path + ": " + Errno(errno));
      return;
    }
    c.record = UniqueFd(::openat(record_dir_.get(), name.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600));
    if (!c.record.valid()) {
      c.record_failed = true;
      ReportError(c.id, "ERR_PIXELRTS_FRAMES_RECORD", "cannot record to " + path + ": " + Errno(errno) +
                                                          "; check --record names a writable directory");
      return;
    }
  }
  size_t done = 0;
  while (done < annexb.size()) {
    const ssize_t n = ::write(c.record.get(), annexb.data() + done, annexb.size() - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      c.record_failed = true;
      ReportError(c.id, "ERR_PIXELRTS_FRAMES_RECORD", "writing " + path + " failed: " + Errno(errno));
      return;
    }
    done += static_cast<size_t>(n);
  }
}

ServerStats FrameServer::Stats() {
  ServerStats s;
  s.clients = clients_;
  s.connections = connections_total_;
  s.frames = frames_;
  s.bytes_in = bytes_in_;
  s.bytes_out = bytes_out_;
  s.drops = drops_;
  s.errors = errors_;
  s.published = published_;
  s.downscaled = downscaled_;
  std::lock_guard<std::mutex> lock(timing_mu_);
  s.encode_ms_total = encode_ms_total_;
  s.convert_ms_total = convert_ms_total_;
  return s;
}

}  // namespace pixelrts::frames
