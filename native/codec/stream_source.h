// StreamSource: the bytes an encoder packs (the stored stream S), read by position. The encoder
// reads a band's tiles from it, each tile one contiguous run of the stream, from several threads
// at once, so read() must be safe to call concurrently. A source held in memory also exposes
// its bytes directly, which lets the encoder scatter them without a staging copy.
#pragma once

#include <cstddef>
#include <cstdint>
#include <cstring>

#include "common/failure.h"

namespace pixelrts::codec {

class StreamSource {
 public:
  virtual ~StreamSource() = default;

  virtual uint64_t size() const = 0;

  // Copies bytes [offset, offset + n) into dst; the range lies within size().
  virtual Failure read(uint64_t offset, uint8_t* dst, size_t n) const = 0;

  // The whole stream when it is one array in memory, else nullptr.
  virtual const uint8_t* contiguous() const { return nullptr; }
};

// A stream that is one array in memory (encodePng's Buffer).
class MemorySource final : public StreamSource {
 public:
  MemorySource(const uint8_t* data, uint64_t size) : data_(data), size_(size) {}
  uint64_t size() const override { return size_; }
  Failure read(uint64_t offset, uint8_t* dst, size_t n) const override {
    std::memcpy(dst, data_ + offset, n);
    return Failure::none();
  }
  const uint8_t* contiguous() const override { return data_; }

 private:
  const uint8_t* data_;
  uint64_t size_;
};

}  // namespace pixelrts::codec
