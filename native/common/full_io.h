// Reads and writes that move the whole count: retried after EINTR and after short transfers,
// as every caller of pread/pwrite/write here needs. Each returns 0 or an errno; a read that
// reaches the end of the file first returns kEndOfFile, so callers can say the file is shorter
// than expected rather than quote an errno.
#pragma once

#include <unistd.h>

#include <cerrno>
#include <cstddef>
#include <cstdint>

namespace pixelrts {

constexpr int kEndOfFile = ENODATA;

inline int PreadFull(int fd, void* buf, size_t n, uint64_t pos) {
  auto* p = static_cast<uint8_t*>(buf);
  while (n > 0) {
    const ssize_t r = ::pread(fd, p, n, static_cast<off_t>(pos));
    if (r < 0 && errno == EINTR) continue;
    if (r < 0) return errno;
    if (r == 0) return kEndOfFile;
    p += r;
    n -= static_cast<size_t>(r);
    pos += static_cast<uint64_t>(r);
  }
  return 0;
}

inline int PwriteFull(int fd, const void* buf, size_t n, uint64_t pos) {
  auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    const ssize_t w = ::pwrite(fd, p, n, static_cast<off_t>(pos));
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    p += w;
    n -= static_cast<size_t>(w);
    pos += static_cast<uint64_t>(w);
  }
  return 0;
}

inline int WriteFull(int fd, const void* buf, size_t n) {
  auto* p = static_cast<const uint8_t*>(buf);
  while (n > 0) {
    const ssize_t w = ::write(fd, p, n);
    if (w < 0 && errno == EINTR) continue;
    if (w < 0) return errno;
    p += w;
    n -= static_cast<size_t>(w);
  }
  return 0;
}

}  // namespace pixelrts
