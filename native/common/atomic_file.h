// AtomicFile: a file that appears under its name complete or not at all. It is written as an
// unnamed file (O_TMPFILE) in the target's directory and, on commit(), flushed to disk, given a
// temporary name and renamed over the target, so a reader never sees a partial file and a
// crash or SIGKILL at any point leaves the old file intact and nothing else behind: an unnamed
// file vanishes with its last descriptor. Where the filesystem has no O_TMPFILE, a named
// temporary file beside the target is used instead and removed if the write is abandoned
// (only a SIGKILL can then leave it behind).
#pragma once

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/failure.h"
#include "common/unique_fd.h"

namespace pixelrts {

class AtomicFile {
 public:
  AtomicFile() = default;
  ~AtomicFile();
  AtomicFile(const AtomicFile&) = delete;
  AtomicFile& operator=(const AtomicFile&) = delete;

  // Creates the file that will become `target` (`mode` less the umask, like open(2)).
  Failure create(const std::string& target, mode_t mode = 0666);

  int fd() const { return fd_.get(); }

  // Appends all of data[0, n) (ERR_PIXELRTS_NO_SPACE on a full disk, naming the target).
  Failure write(const uint8_t* data, size_t n);

  // fsync (unless `durable` is false: for files a crash may lose, never half-write), then put
  // the file in place of the target and fsync the directory.
  Failure commit(bool durable = true);

 private:
  std::string target_;
  std::string temp_;  // the named temporary file, when O_TMPFILE was not available
  UniqueFd fd_;
  bool committed_ = false;
};

}  // namespace pixelrts
