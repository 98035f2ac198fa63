// The switch's forwarding table: which port each source MAC address was last seen on. Bounded:
// a guest that sends from endless made-up addresses fills it to kCapacity, after which unknown
// addresses are flooded (as a hub would) instead of growing memory. Entries age out, so a VM
// that left and one that came back on another port are found again. Used by the switch's
// thread only (no locking here).
#pragma once

#include <chrono>
#include <cstddef>
#include <unordered_map>

#include "net/ethernet_frame.h"

namespace pixelrts::net {

class MacTable {
 public:
  using Clock = std::chrono::steady_clock;
  static constexpr size_t kCapacity = 4096;
  static constexpr std::chrono::seconds kAgeing{300};

  // Records that `mac` was the source of a frame from `port`.
  void Learn(Mac mac, int port, Clock::time_point now);
  // The port `mac` was last seen on, or -1 when unknown or aged out.
  int Lookup(Mac mac, Clock::time_point now) const;
  // Forgets every address learnt on `port` (it was removed).
  void Forget(int port);
  size_t size() const { return entries_.size(); }

 private:
  struct Entry {
    int port;
    Clock::time_point seen;
  };
  void DropAged(Clock::time_point now);

  std::unordered_map<Mac, Entry> entries_;
};

}  // namespace pixelrts::net
