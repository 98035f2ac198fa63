// The bytes a container holds, as the FUSE read path sees them: a fixed-size byte array that
// may still be filling in (a decode running in the background). Readers ask for a range and
// block only until that range is ready, not until the whole image is decoded.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

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

  // Pointer to the first byte; bytes are valid once wait_ready() returned 0 for them.
  virtual const uint8_t* data() const = 0;

  // Wakes every waiter and makes later waits return EINTR (used by unmount).
  virtual void cancel() = 0;

  // Empty while decoding is fine; the decode's error message once it failed.
  virtual std::string failure() const = 0;
};

}  // namespace pixelrts
