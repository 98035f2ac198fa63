// ByteBuffer: an owned, uninitialised byte array whose allocation can fail without throwing
// (malloc; large ones ask for transparent huge pages). Memory is committed lazily, so a buffer
// sized for a 4 GiB image costs only what is written into it.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts::codec {

class ByteBuffer {
 public:
  ByteBuffer() = default;
  ~ByteBuffer() { release(); }
  ByteBuffer(const ByteBuffer&) = delete;
  ByteBuffer& operator=(const ByteBuffer&) = delete;
  ByteBuffer(ByteBuffer&& other) noexcept { steal(other); }
  ByteBuffer& operator=(ByteBuffer&& other) noexcept {
    if (this != &other) {
      release();
      steal(other);
    }
    return *this;
  }

  // Replaces the contents with `size` uninitialised bytes; false when memory is exhausted.
  bool allocate(size_t size);

  uint8_t* data() { return data_; }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  void release();
  void steal(ByteBuffer& other) {
    data_ = other.data_;
    size_ = other.size_;
    other.data_ = nullptr;
    other.size_ = 0;
  }

  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pixelrts::codec
