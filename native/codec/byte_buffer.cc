#include "codec/byte_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

namespace pixelrts::codec {

namespace {
// From this size on, ask for transparent huge pages: a fresh 16 MiB buffer then costs 8 page
// faults instead of 4096, and the gather's strided reads miss the TLB less.
constexpr size_t kHugePageThreshold = size_t{4} << 20;
constexpr uintptr_t kHugePage = uintptr_t{2} << 20;
}  // namespace

bool ByteBuffer::allocate(size_t size) {
  release();
  if (size == 0) return true;
  // malloc, not a private mapping per buffer: glibc keeps freed large blocks for reuse (its
  // mmap threshold rises to the largest block freed), so repeated decodes of similar images do
  // not fault in fresh memory every time.
  data_ = static_cast<uint8_t*>(std::malloc(size));
  if (data_ == nullptr) return false;
  size_ = size;
#if defined(MADV_HUGEPAGE)
  if (size >= kHugePageThreshold) {
    const uintptr_t begin = (reinterpret_cast<uintptr_t>(data_) + kHugePage - 1) & ~(kHugePage - 1);
    const uintptr_t end = (reinterpret_cast<uintptr_t>(data_) + size) & ~(kHugePage - 1);
    if (end > begin) madvise(reinterpret_cast<void*>(begin), end - begin, MADV_HUGEPAGE);  // advice only
  }
#endif
  return true;
}

void ByteBuffer::release() {
  std::free(data_);
  data_ = nullptr;
  size_ = 0;
}

}  // namespace pixelrts::codec
