// A PayloadSource over bytes that are already decoded and owned in native memory: every
// range is ready at once. Used for containers decoded up front and for payloads built in JS.
#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "common/payload_source.h"

namespace pixelrts {

class BufferPayloadSource final : public PayloadSource {
 public:
  explicit BufferPayloadSource(std::vector<uint8_t> bytes) : bytes_(std::move(bytes)) {}

  uint64_t size() const override { return bytes_.size(); }
  int wait_ready(uint64_t /*offset*/, uint64_t /*length*/) override { return 0; }
  const uint8_t* data() const override { return bytes_.data(); }
  void cancel() override {}
  std::string failure() const override { return {}; }

 private:
  std::vector<uint8_t> bytes_;
};

}  // namespace pixelrts
