// A learning Ethernet switch between Unix datagram sockets, forwarding on a thread of its own:
// no JavaScript runs per frame. The thread poll(2)s the ports (portable: Linux and macOS; a
// network has at most a few hundred ports) and a pipe that wakes it when they change. Each datagram is checked (ethernet_frame.h) and dropped with a
// reason when malformed; a good frame teaches the table where its source lives, then goes to
// the port its destination was learnt on, or to every other port (broadcast, multicast,
// unknown). Ports are added and removed from the JS thread while frames flow.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "common/failure.h"
#include "common/unique_fd.h"
#include "net/mac_table.h"
#include "net/switch_port.h"

namespace pixelrts::net {

// The switch's counters since it started (ports' own counters are in PortStats).
struct SwitchStats {
  uint64_t forwarded = 0;   // frames sent to the one port their destination is on
  uint64_t flooded = 0;     // frames sent to every other port
  uint64_t filtered = 0;    // frames whose destination is on the port they came from
  uint64_t runt = 0;        // datagrams shorter than an Ethernet header
  uint64_t oversized = 0;   // datagrams longer than kMaxFrame
  uint64_t bad_source = 0;  // frames from a group or zero source address
  uint64_t foreign = 0;     // datagrams from an address that is not the port's peer
  size_t learnt = 0;        // addresses in the table
};

// One port's id and counters, for stats().
struct PortSnapshot {
  int id;
  PortStats stats;
};

class EthernetSwitch {
 public:
  EthernetSwitch() = default;
  ~EthernetSwitch() { Stop(); }
  EthernetSwitch(const EthernetSwitch&) = delete;
  EthernetSwitch& operator=(const EthernetSwitch&) = delete;

  // Starts the forwarding thread. ERR_PIXELRTS_NET_PORT when its wake-up pipe cannot be made.
  Failure Start();
  // Adds port `id` (bound at `path`, its peer `peer_path`); ERR_PIXELRTS_NET_PORT when the id
  // is taken or the socket cannot be bound.
  Failure AddPort(int id, const std::string& path, const std::string& peer_path);
  // Removes port `id` (its socket file too); false when there is none.
  bool RemovePort(int id);
  SwitchStats Stats(std::vector<PortSnapshot>* ports) const;
  // Ends the thread and closes every port. Idempotent.
  void Stop();

 private:
  void Run();
  // Makes the thread poll again: the set of ports changed, or it is to stop.
  void Wake();
  void Drain(int id, SwitchPort& port, uint8_t* buf, size_t capacity);
  void Deliver(int from, const uint8_t* frame, size_t length);

  mutable std::mutex mu_;  // guards ports_, table_ and stats_ between the thread and JS
  std::map<int, std::unique_ptr<SwitchPort>> ports_;
  MacTable table_;
  SwitchStats stats_;
  UniqueFd wake_read_;
  UniqueFd wake_write_;
  std::thread thread_;
  std::atomic<bool> stopping_{false};
};

}  // namespace pixelrts::net
