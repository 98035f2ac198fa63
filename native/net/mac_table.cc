#include "net/mac_table.h"

namespace pixelrts::net {

void MacTable::Learn(Mac mac, int port, Clock::time_point now) {
  auto it = entries_.find(mac);
  if (it != entries_.end()) {
    it->second = {port, now};
    return;
  }
  if (entries_.size() >= kCapacity) DropAged(now);
  if (entries_.size() >= kCapacity) return;  // full of live entries: this address is flooded to
  entries_.emplace(mac, Entry{port, now});
}

int MacTable::Lookup(Mac mac, Clock::time_point now) const {
  auto it = entries_.find(mac);
  if (it == entries_.end() || now - it->second.seen > kAgeing) return -1;
  return it->second.port;
}

void MacTable::Forget(int port) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = it->second.port == port ? entries_.erase(it) : std::next(it);
  }
}

void MacTable::DropAged(Clock::time_point now) {
  for (auto it = entries_.begin(); it != entries_.end();) {
    it = now - it->second.seen > kAgeing ? entries_.erase(it) : std::next(it);
  }
}

}  // namespace pixelrts::net
