// RangeResponse: one answer to a byte-range request, as the server sends it (header lines, then
// the body in pieces), with every check the reader relies on before it keeps a byte: the status
// is 206, Content-Range names exactly the bytes asked for, the body brings no more than that,
// and a 2xx that is not 206 (the whole file: ranges ignored, or If-Range failed because the file
// changed) is refused. No I/O: RangeConnection feeds it what libcurl receives, and the fuzz
// target (fuzz/range_response_fuzzer.cc) feeds it anything.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace pixelrts::remote {

// What the server said of the file in a 206 answer.
struct RangeReply {
  uint64_t total = 0;         // the whole file's size, from Content-Range (0: "*", unknown)
  std::string etag;           // ETag, when it is a strong one (a weak one cannot pin ranges)
  std::string last_modified;  // Last-Modified
};

class RangeResponse {
 public:
  // Header lines longer than this are ignored (they carry nothing this reads).
  static constexpr size_t kMaxHeaderLine = 8192;

  // An answer to a request for bytes [offset, offset + length) (length ≥ 1), sent with If-Range
  // when `validator_sent`.
  RangeResponse(uint64_t offset, uint64_t length, bool validator_sent)
      : offset_(offset), length_(length), validator_sent_(validator_sent) {}

  // One header line as received ("HTTP/1.1 206 …", "Content-Range: …", CRLF included or not).
  // A status line starts a new response (after a redirect or a 100 Continue). Ignored once
  // body bytes have been accepted.
  void header_line(const char* data, size_t n);

  // `n` more body bytes arrived: true when they may be kept (at file position position()),
  // false when the transfer must stop (fatal() says why), or when they are an error page's
  // (status() is not 2xx; they are dropped and the status decides).
  bool accept_body(size_t n);

  long status() const { return status_; }
  // Body bytes accepted so far.
  uint64_t delivered() const { return delivered_; }
  // Where the next accepted body byte belongs in the file.
  uint64_t position() const { return offset_ + delivered_; }
  // Why the transfer was stopped; empty when it was not.
  const std::string& fatal() const { return fatal_; }
  // The 206's Content-Range was well-formed (reply().total is then meaningful).
  bool has_range() const { return has_range_; }
  const RangeReply& reply() const { return reply_; }

 private:
  const uint64_t offset_;
  const uint64_t length_;
  const bool validator_sent_;
  long status_ = 0;
  bool has_range_ = false;
  uint64_t first_ = 0, last_ = 0;
  RangeReply reply_;
  uint64_t delivered_ = 0;
  std::string fatal_;
};

}  // namespace pixelrts::remote
