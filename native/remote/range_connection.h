// RangeConnection: one HTTP(S) connection to the server of a remote container, asking it for
// byte ranges (RFC 9110 §14) one at a time. It is a libcurl easy handle kept across requests, so
// the connection (and TLS session) is reused: keep-alive. A request says which validator it
// expects (If-Range), so a file that changed on the server answers 200 with the whole new file
// instead of a range of it, and that is refused before a byte is kept: ranges of two versions
// are never mixed. What an answer must be to be kept is RangeResponse's to check.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>

#include "remote/libcurl.h"
#include "remote/range_response.h"

namespace pixelrts::remote {

class RangeConnection {
 public:
  struct Settings {
    std::string url;
    long connect_timeout_ms = 10000;
    // A response that delivers nothing for this long is given up (and retried).
    long stall_seconds = 15;
  };

  enum class Outcome {
    kOk,         // every byte asked for was delivered
    kTransient,  // the network failed, the response was cut or stalled, the server was busy: retry
    kFatal,      // retrying cannot help: `why` says what to do
  };

  // Receives the body: `n` bytes that belong at file position `pos`. Returns 0, or an errno
  // that aborts the request (a fatal outcome).
  using Sink = std::function<int(uint64_t pos, const uint8_t* data, size_t n)>;

  RangeConnection(std::shared_ptr<const Libcurl> curl, Settings settings);
  ~RangeConnection();
  RangeConnection(const RangeConnection&) = delete;
  RangeConnection& operator=(const RangeConnection&) = delete;

  // Asks for bytes [offset, offset + length) with If-Range: `validator` (none when empty). The
  // bytes go to `sink` as they arrive; `*delivered` counts them, also when the outcome is not
  // kOk (the caller resumes after them). `reply` is filled from any 206 answer, also a cut one.
  Outcome fetch(uint64_t offset, uint64_t length, const std::string& validator, const Sink& sink,
                uint64_t* delivered, RangeReply* reply, std::string* why);

 private:
  struct Transfer;
  static size_t OnHeader(char* data, size_t size, size_t count, void* transfer);
  static size_t OnBody(char* data, size_t size, size_t count, void* transfer);

  std::shared_ptr<const Libcurl> curl_;
  Settings settings_;
  CURL* easy_ = nullptr;
};

}  // namespace pixelrts::remote
