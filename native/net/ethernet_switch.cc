#include "net/ethernet_switch.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <poll.h>
#include <unistd.h>

namespace pixelrts::net {

namespace {

// Datagrams taken from one port before the others get their turn.
constexpr int kBurst = 64;

bool SetFlags(int fd) { return ::fcntl(fd, F_SETFD, FD_CLOEXEC) == 0 && ::fcntl(fd, F_SETFL, O_NONBLOCK) == 0; }

}  // namespace

Failure EthernetSwitch::Start() {
  int fds[2];
  if (::pipe(fds) != 0) return Failure::make("ERR_PIXELRTS_NET_PORT", std::string("cannot start the switch: ") + std::strerror(errno));
  wake_read_ = UniqueFd(fds[0]);
  wake_write_ = UniqueFd(fds[1]);
  if (!SetFlags(fds[0]) || !SetFlags(fds[1])) {
    return Failure::make("ERR_PIXELRTS_NET_PORT", std::string("cannot start the switch: ") + std::strerror(errno));
  }
  thread_ = std::thread([this] { Run(); });
  return Failure::none();
}

void EthernetSwitch::Wake() {
  const char one = 1;
  (void)!::write(wake_write_.get(), &one, 1);  // a full pipe wakes the thread just as well
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
  {
    // Ports are added from one thread (JavaScript's): nobody took the id meanwhile.
    std::lock_guard<std::mutex> lock(mu_);
    ports_.emplace(id, std::move(port));
  }
  Wake();
  return Failure::none();
}

bool EthernetSwitch::RemovePort(int id) {
  std::lock_guard<std::mutex> lock(mu_);
  auto it = ports_.find(id);
  if (it == ports_.end()) return false;
  ports_.erase(it);
  table_.Forget(id);
  Wake();
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
  Wake();
  thread_.join();
  std::lock_guard<std::mutex> lock(mu_);
  ports_.clear();
}

void EthernetSwitch::Run() {
  // One byte more than the largest frame allowed, so an oversized datagram is recognised
  // (it fills the buffer, or the kernel says it cut it) without reading it whole.
  std::vector<uint8_t> buf(kMaxFrame + 1);
  std::vector<pollfd> fds;
  std::vector<int> ids;  // ids[i] is the port polled at fds[i + 1]
  while (!stopping_) {
    fds.assign(1, pollfd{wake_read_.get(), POLLIN, 0});
    ids.clear();
    {
      std::lock_guard<std::mutex> lock(mu_);
      for (const auto& [id, port] : ports_) {
        fds.push_back(pollfd{port->fd(), POLLIN, 0});
        ids.push_back(id);
      }
    }
    const int n = ::poll(fds.data(), static_cast<nfds_t>(fds.size()), -1);
    if (n < 0 && errno != EINTR) break;
    if (n <= 0) continue;
    if (fds[0].revents != 0) {
      char drain[64];
      while (::read(wake_read_.get(), drain, sizeof(drain)) > 0) {
      }
      continue;  // the ports changed (or we stop): poll the new set
    }
    std::lock_guard<std::mutex> lock(mu_);
    for (size_t i = 1; i < fds.size(); ++i) {
      if ((fds[i].revents & POLLIN) == 0) continue;
      auto it = ports_.find(ids[i - 1]);
      // A port removed since the poll is skipped; its fd number may belong to another by now.
      if (it != ports_.end() && it->second->fd() == fds[i].fd) Drain(it->first, *it->second, buf.data(), buf.size());
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
