// The lock that makes one switch per network: an exclusive flock(2) on a lock file in the
// network's directory, held for the switch process's life and released by the kernel however
// it ends. A lock file can be unlinked by the switch that is leaving while another waits for
// it, so after locking the holder checks that the file it locked is still the one at the path.
#pragma once

#include <string>

#include "common/failure.h"
#include "common/unique_fd.h"

namespace pixelrts::net {

class DirectoryLock {
 public:
  // Takes the lock without waiting. ERR_PIXELRTS_NET_BUSY when another process holds it (a
  // switch serves this network, or one is leaving), ERR_PIXELRTS_NET_PORT when the file cannot
  // be opened.
  static Failure Acquire(const std::string& path, DirectoryLock* out);

  // Removes the lock file while still holding the lock (the last step of a switch that leaves).
  void RemoveFile();

 private:
  UniqueFd fd_;
  std::string path_;
};

}  // namespace pixelrts::net
