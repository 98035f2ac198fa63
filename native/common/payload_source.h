// The bytes a container holds, as the FUSE read path sees them: a fixed-size byte array that
// may still be filling in (a decode running in the background). Readers ask for a range and
// block only until that range is ready, not until the whole image is decoded.
#pragma once

#include <cerrno>
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>

#include "common/full_io.h"

namespace pixelrts {

class PayloadSource {
 public:
  virtual ~PayloadSource() = default;

  // Total size in bytes of the byte stream (known before decoding starts).
  virtual uint64_t size() const = 0;

  // Blocks until bytes [offset, offset + length) are decoded, or the decode failed, or
  // cancel() was called. Returns 0 when the range is ready, else an errno for the reader
  // (EIO after a decode failure, EINTR after cancel()). The range must lie within size().
  virtual int wait_ready(uint64_t offset, uint64_t length) = 0;

  // Pointer to the first byte when the bytes are in memory (valid once wait_ready() returned 0
  // for them); nullptr when they are in a file instead (backing_fd()).
  virtual const uint8_t* data() const = 0;

  // When data() is nullptr: a descriptor holding the bytes at the same offsets (the decoded
  // cache's file), read with pread or spliced into a FUSE reply. -1 for sources in memory.
  virtual int backing_fd() const { return -1; }

  // Wakes every waiter and makes later waits return EINTR (used by unmount).
  virtual void cancel() = 0;

  // Empty while decoding is fine; the decode's error message once it failed.
  virtual std::string failure() const = 0;

  // How far the decode is, in bands (tests, tools, progress lines).
  struct Progress {
    uint32_t bands_done;     // bands whose bytes are ready
    uint32_t bands;          // bands in the image
    bool finished;           // every byte is ready
    uint32_t bands_decoded;  // bands this source decoded itself (a decoded cache reuses the others)
  };
  virtual Progress progress() const { return Progress{0, 0, true, 0}; }
};

// Copies ready bytes [offset, offset + n) of `source` into dst, from memory or its backing file.
// 0, or the errno of a failed read (EIO when the file is shorter than the source).
inline int CopyOut(const PayloadSource& source, uint64_t offset, uint8_t* dst, size_t n) {
  if (const uint8_t* p = source.data()) {
    std::memcpy(dst, p + offset, n);
    return 0;
  }
  const int err = PreadFull(source.backing_fd(), dst, n, offset);
  return err == kEndOfFile ? EIO : err;
}

}  // namespace pixelrts
