// MappedFile: a whole file mapped read-only (RAII: unmapped on destruction). The descriptor
// is closed right after mapping; the mapping keeps the data reachable.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "common/failure.h"

namespace pixelrts::codec {

class MappedFile {
 public:
  MappedFile() = default;
  ~MappedFile();
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  Failure open(const std::string& path);

  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

}  // namespace pixelrts::codec
