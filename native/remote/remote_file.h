// RemoteFile: a container file on an HTTP(S) server, as a PayloadSource of the file's own bytes:
// reads block only until the blocks they touch have been fetched, with range requests, into a
// sparse copy in the user's cache. Mounted as one file (native/fuse), it lets every local reader
// (the codec's decoded cache, the PNG head parser, QEMU through a container mount) read the
// remote container as if it were here, fetching only what they read.
//
// The copy is `KEY.data` (sparse, the file's size) beside `KEY.blocks`, one byte per block of
// kBlock bytes: 1 once the block's bytes are in the data file. A block's byte is written after
// its data, so a process killed at any point leaves blocks either whole or missing; the next
// open (the next boot) serves the blocks already there without the network.
//
// Every request names the version the first one saw (If-Range with its strong ETag, else its
// Last-Modified), so a file replaced on the server is an error, never a mix of two versions.
// A request that fails on the way (connection reset, stalled or cut response, 5xx) is retried
// after a growing pause, resuming after the bytes already received; after `retries` attempts
// the read fails with EIO and failure() says why (the next read tries again).
//
// The bytes are not checked here: the codec checks every IDAT chunk's CRC and, in files with a
// hash tree, every tile against its leaf before a byte of payload is served.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "common/failure.h"
#include "common/payload_source.h"
#include "common/unique_fd.h"
#include "remote/libcurl.h"
#include "remote/range_connection.h"

namespace pixelrts::remote {

class RemoteFile final : public PayloadSource {
 public:
  static constexpr uint64_t kBlock = uint64_t{256} << 10;
  // Largest single request: a read of many missing blocks is fetched in pieces of this size.
  static constexpr uint64_t kMaxRequest = uint64_t{16} << 20;
  // Largest remote file accepted (the grid's cap: 65536² pixels, plus the PNG's overhead).
  static constexpr uint64_t kMaxSize = (uint64_t{17} << 30);

  struct Options {
    std::string url;
    std::string cache_path;  // KEY.data; KEY.blocks beside it
    // The version to read. Empty: ask the server (one request for the file's first block,
    // which also tells the size); else the size and validator of an earlier open, and no
    // request is made until a read needs a missing block.
    uint64_t size = 0;
    std::string validator;
    uint32_t retries = 5;
    long stall_seconds = 15;
    long connect_timeout_ms = 10000;
    uint32_t backoff_ms = 250;  // the first pause; doubled each time
  };

  // What it has cost so far (for progress lines, tests and benchmarks).
  struct Stats {
    uint64_t bytes_fetched = 0;  // body bytes received from the server
    uint64_t requests = 0;       // range requests sent
    uint64_t retries = 0;        // of those, repeats after a failure
    uint64_t blocks_present = 0;
    uint64_t blocks = 0;
  };

  static Failure Open(const Options& options, std::shared_ptr<RemoteFile>* out);

  ~RemoteFile() override;

  uint64_t size() const override { return size_; }
  int wait_ready(uint64_t offset, uint64_t length) override;
  const uint8_t* data() const override { return nullptr; }
  int backing_fd() const override { return data_fd_.get(); }
  void cancel() override;
  std::string failure() const override;
  Progress progress() const override;

  // The version being read: its strong ETag, else its Last-Modified.
  const std::string& validator() const { return validator_; }
  Stats stats() const;
  // The last failed fetch (code and message; ok() when none failed).
  Failure last_failure() const;

 private:
  enum BlockState : uint8_t { kMissing = 0, kPresent = 1, kFilling = 2 };

  RemoteFile() = default;
  // Fetches blocks [first, last] (marked kFilling by the caller) into the data file, with
  // retries; marks them present. 0, EIO (failure_ says why) or EINTR after cancel().
  int fetch_blocks(uint64_t first, uint64_t last);
  // Sends one request for [offset, offset + length) and retries it, resuming, until it is all
  // here: Failure::none(), or why not.
  Failure fetch_range(uint64_t offset, uint64_t length, RangeReply* reply);
  std::unique_ptr<RangeConnection> take_connection();
  void give_back(std::unique_ptr<RangeConnection> connection);
  // Sleeps `ms` unless cancel() is called first (then false).
  bool pause(uint32_t ms);

  Options options_;
  std::shared_ptr<const Libcurl> curl_;
  uint64_t size_ = 0;
  std::string validator_;
  UniqueFd data_fd_;
  UniqueFd blocks_fd_;

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<uint8_t> state_;
  std::vector<std::unique_ptr<RangeConnection>> idle_;
  uint64_t present_ = 0;
  bool cancelled_ = false;
  bool changed_on_server_ = false;  // sticky: every later read fails
  Failure failure_;
  Stats stats_;
};

}  // namespace pixelrts::remote
