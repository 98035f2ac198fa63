#include "net/ethernet_switch.h"

#include <cerrno>
#include <cstring>

#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <unistd.h>

namespace pixelrts::net {

namespace {

// epoll data of the wake-up fd (port ids are >= 0).
constexpr uint64_t kWakeTag = ~uint64_t{0};
// Datagrams taken from one port before the others get their turn.
constexpr int kBurst = 64;

}  // namespace

Failure EthernetSwitch::Start() {
  epoll_ = UniqueFd(::epoll_create1(EPOLL_CLOEXEC));
  wake_ = UniqueFd(::eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC));
  if (!epoll_.valid() || !wake_.valid()) {
    return Failure::make("ERR_PIXELRTS_NET_PORT", std::string("cannot start the switch: ") + std::strerror(errno));
  }
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = kWakeTag;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, wake_.get(), &ev);
  thread_ = std::thread([this] { Run(); });
  return Failure::none();
}

Failure EthernetSwitch::AddPort(int id, const std::string& path, const std::string& peer_path) {
  if (id < 0) return Failure::make("ERR_PIXELRTS_NET_PORT", "a port id is a number from 0, found " + std::to_string(id));
  {
    // Checked before binding: opening would replace the socket file of a live port at the same path.
    std::lock_guard<std::mutex> lock(mu_);
    if (ports_.count(id) != 0) return Failure::make("ERR_PIXELRTS_NET_PORT", "port " + std::to_string(id) + " exists already");
  }
  auto port = std::make_unique<SwitchPort>();
  Failure f = SwitchPort::Open(path, peer_path, port.get());
  if (!f.ok()) return f;
  // Ports are added from one thread (JavaScript's): nobody took the id meanwhile.
  std::lock_guard<std::mutex> lock(mu_);
  epoll_event ev{};
  ev.events = EPOLLIN;
  ev.data.u64 = static_cast<uint64_t>(id);
  if (::epoll_ctl(epoll_.get(), EPOLL_CTL_ADD, port->fd(), &ev) != 0) {
    return Failure::make("ERR_PIXELRTS_NET_PORT", std::string("cannot watch the port's socket: ") + std::strerror(errno));
  }
  ports_.emplace(id, std::move(port));
  return Failure::none();
}

bool EthernetSwitch::RemovePort(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ports_.find(id);
  if (it == ports_.end()) return false;
  ::epoll_ctl(epoll_.get(), EPOLL_CTL_DEL, it->second->fd(), nullptr);
  ports_.erase(it);
  table_.Forget(id);
  return true;
}

SwitchStats EthernetSwitch::Stats(std::vector<PortSnapshot>* ports) const {
  std::lock_guard<std::mutex> lock(mu_);
  SwitchStats s = stats_;
  s.learnt = table_.size();
  if (ports != nullptr) {
    for (const auto& [id, port] : ports_) ports->push_back({id, port->stats()});
  }
  return s;
}

void EthernetSwitch::Stop() {
  if (!thread_.joinable()) return;
  stopping_ = true;
  const uint64_t one = 1;
  (void)!::write(wake_.get(), &one, sizeof(one));
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  ports_.clear();
}

void EthernetSwitch::Run() {
  // One frame more than the largest allowed, so an oversized datagram is recognised (its real
  // length comes back with MSG_TRUNC) without reading it whole.
  std::vector<uint8_t> buf(kMaxFrame + 1);
  epoll_event events[32];
  while (!stopping_) {
    const int n = ::epoll_wait(epoll_.get(), events, 32, -1);
    if (n < 0 && errno != EINTR) break;
    std::lock_guard<std::mutex> lock(mu_);
    for (int i = 0; i < n; ++i) {
      if (events[i].data.u64 == kWakeTag) continue;
      const int id = static_cast<int>(events[i].data.u64);
      auto it = ports_.find(id);
      if (it != ports_.end()) Drain(id, *it->second, buf.data(), buf.size());
    }
  }
}

void EthernetSwitch::Drain(int id, SwitchPort& port, uint8_t* buf, size_t capacity) {
  for (int i = 0; i < kBurst; ++i) {
    size_t length = 0;
    switch (port.Receive(buf, capacity, &length)) {
      case SwitchPort::Received::kNone: return;
      case SwitchPort::Received::kForeign: stats_.foreign++; continue;
      case SwitchPort::Received::kTooLong: stats_.oversized++; continue;
      case SwitchPort::Received::kFrame: break;
    }
    switch (CheckFrame(buf, length)) {
      case FrameVerdict::kRunt: stats_.runt++; continue;
      case FrameVerdict::kOversized: stats_.oversized++; continue;
      case FrameVerdict::kBadSource: stats_.bad_source++; continue;
      case FrameVerdict::kOk: break;
    }
    port.stats().rx_frames++;
    port.stats().rx_bytes += length;
    Deliver(id, buf, length);
  }
}

void EthernetSwitch::Deliver(int from, const uint8_t* frame, size_t length) {
  const auto now = MacTable::Clock::now();
  table_.Learn(SourceOf(frame), from, now);
  const Mac destination = DestinationOf(frame);
  const int to = IsGroup(destination) ? -1 : table_.Lookup(destination, now);
  if (to == from) {
    stats_.filtered++;
    return;
  }
  if (to >= 0) {
    auto it = ports_.find(to);
    if (it != ports_.end()) {
      it->second->Send(frame, length);
      stats_.forwarded++;
      return;
    }
  }
  for (auto& [id, port] : ports_) {
    if (id != from) port->Send(frame, length);
  }
  stats_.flooded++;
}

}  // namespace pixelrts::net
