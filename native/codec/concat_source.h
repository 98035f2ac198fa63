// ConcatSource: a stream made of pieces laid end to end, each an array in memory (a Buffer the
// caller keeps alive) or a file read with pread. This is how `writeContainer` packs disk images
// larger than memory: the encoder reads each tile's 4 KiB run where it lies, so memory holds
// only the bands being compressed, whatever the inputs' size.
//
// A file must not change while it is packed: its size and modification time are checked
// against what the caller saw when it hashed the file (the metadata's hashes come from that
// pass), once when it is opened and again by verify_unchanged() after the last read.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/stream_source.h"
#include "common/unique_fd.h"

namespace pixelrts::codec {

class ConcatSource final : public StreamSource {
 public:
  struct Piece {
    // Either bytes in memory…
    const uint8_t* data = nullptr;
    // …or a file: its path, and the size and mtime (ns since the epoch) the caller hashed.
    std::string path;
    int64_t mtime_ns = 0;
    uint64_t size = 0;
  };

  // Opens every file piece and checks it still has the size and mtime it was hashed with.
  Failure open(std::vector<Piece> pieces);

  uint64_t size() const override { return total_; }
  Failure read(uint64_t offset, uint8_t* dst, size_t n) const override;

  // Checks again that no file piece changed since open() (call after the last read).
  Failure verify_unchanged() const;

 private:
  Failure check_file(size_t i) const;

  std::vector<Piece> pieces_;
  std::vector<uint64_t> starts_;  // starts_[i]: where piece i begins in the stream
  std::vector<UniqueFd> fds_;     // one per piece; invalid for pieces in memory
  uint64_t total_ = 0;
};

}  // namespace pixelrts::codec
