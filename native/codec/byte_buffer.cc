#include "codec/byte_buffer.h"

#include <sys/mman.h>

#include <cstdint>
#include <cstdlib>

namespace pixelrts::codec {

namespace {

#if defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PIXELRTS_ASAN 1
#endif
#endif
#if defined(__SANITIZE_ADDRESS__)
#define PIXELRTS_ASAN 1
#endif

#if defined(PIXELRTS_ASAN)
// Under AddressSanitizer every buffer comes from malloc, so overflows of big ones are caught too.
constexpr size_t kMapThreshold = SIZE_MAX;
#else
// Below this, malloc is cheaper than a system call and a fresh mapping.
constexpr size_t kMapThreshold = size_t{1} << 20;
#endif

}  // namespace

bool ByteBuffer::allocate(size_t size) {
  release();
  if (size == 0) return true;
  if (size >= kMapThreshold) {
    void* p = mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) return false;
#ifdef MADV_HUGEPAGE
    // Advice only: fewer page faults when the kernel has huge pages to spare.
    madvise(p, size, MADV_HUGEPAGE);
#endif
    data_ = static_cast<uint8_t*>(p);
    mapped_ = true;
  } else {
    data_ = static_cast<uint8_t*>(std::malloc(size));
    if (data_ == nullptr) return false;
    mapped_ = false;
  }
  size_ = size;
  return true;
}

void ByteBuffer::release() {
  if (data_ != nullptr) {
    if (mapped_) {
      munmap(data_, size_);
    } else {
      std::free(data_);
    }
  }
  data_ = nullptr;
  size_ = 0;
  mapped_ = false;
}

}  // namespace pixelrts::codec
