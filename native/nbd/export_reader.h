// ExportReader: reads one export (a file of the container) for every connection that opened
// it, through the payload's PayloadSource: a read waits for the bands holding its bytes
// (wait_ready) and copies them out (CopyOut), extent by extent. Thread-safe: nbdkit calls it
// from its worker threads at once (PayloadSource is thread-safe, and the reader keeps no
// per-read state).
//
// When the source does not check every block against a hash tree (a container without one, or
// a small payload decoded in memory), the file is checked whole against its sha256 once,
// before its first connection is served (check()); a mismatch fails every connection to it.
#pragma once

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "common/failure.h"
#include "common/payload_source.h"
#include "nbd/export_table.h"

namespace pixelrts::nbd {

class ExportReader {
 public:
  ExportReader(std::shared_ptr<PayloadSource> source, const Export* file, bool verified_reads);

  const Export& file() const { return *file_; }

  // Copies the file's bytes [offset, offset + count) into buf: 0, or an errno for the client
  // (EINVAL for a range outside the file, EIO when a block fails its check or cannot be decoded,
  // ESHUTDOWN when the payload was closed), with `why` saying what went wrong.
  int read(uint8_t* buf, uint64_t offset, uint64_t count, std::string* why) const;

  // Has the bytes [offset, offset + count) decoded (into the decoded cache) without copying
  // them: NBD_CMD_CACHE. Same results as read().
  int prefetch(uint64_t offset, uint64_t count, std::string* why) const;

  // Checks the file against its sha256 when reads are not verified block by block; done once,
  // the result kept for every later connection.
  Failure check();

 private:
  // Calls visit(payload_offset, length, file_offset) for each piece of [offset, offset + count)
  // after waiting for it; stops at the first non-zero result.
  template <typename Visit>
  int each_piece(uint64_t offset, uint64_t count, std::string* why, Visit&& visit) const;

  std::shared_ptr<PayloadSource> source_;
  const Export* file_;
  const bool verified_reads_;

  std::mutex check_mu_;
  bool checked_ = false;
  Failure check_result_;
};

}  // namespace pixelrts::nbd
