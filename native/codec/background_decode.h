// BackgroundDecode: a PayloadSource that decodes a container's payload in a thread it owns.
// Start() maps the file, checks its PNG structure and returns at once; the thread then gathers
// the stored stream band by band (inflating bands independently and on both cores when the file
// has a band index) and, for a compressed payload, decompresses it. wait_ready() blocks only
// until the bands holding the requested range are gathered; a compressed payload is ready when
// it is decompressed whole. Destroying the source (or cancel()) stops the decode at the next
// band and joins the thread.
#pragma once

#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <thread>
#include <vector>

#include "codec/byte_buffer.h"
#include "codec/mapped_file.h"
#include "codec/png_reader.h"
#include "codec/png_stream_decoder.h"
#include "common/failure.h"
#include "common/payload_source.h"

namespace pixelrts::codec {

class BackgroundDecode final : public PayloadSource, private BandObserver {
 public:
  struct Options {
    uint64_t stored_size = 0;   // bytes of pixel stream holding the stored stream S
    bool compressed = false;    // S is zlib or zstd (sniffed) rather than the payload itself
    uint64_t payload_size = 0;  // size of the payload P
    bool transposed = false;
  };

  // Largest payload accepted (the size comes from metadata, which is untrusted).
  static constexpr uint64_t kMaxPayload = uint64_t{16} << 30;

  static Failure Start(const std::string& path, const Options& options, std::shared_ptr<BackgroundDecode>* out);

  BackgroundDecode(std::string path, Options options);
  ~BackgroundDecode() override;

  uint64_t size() const override { return options_.payload_size; }
  int wait_ready(uint64_t offset, uint64_t length) override;
  const uint8_t* data() const override { return payload_.data(); }
  void cancel() override;
  std::string failure() const override;

  Progress progress() const override;

 private:
  bool cancelled() override { return cancelled_.load(std::memory_order_relaxed); }
  void band_done(uint32_t band) override;
  bool range_ready_locked(uint64_t offset, uint64_t length) const;
  void run();

  const std::string path_;
  const Options options_;
  MappedFile file_;
  PngReader png_;
  std::unique_ptr<PngStreamDecoder> decoder_;
  ByteBuffer payload_;
  ByteBuffer stored_;  // only for compressed payloads

  mutable std::mutex mu_;
  std::condition_variable ready_;
  std::vector<uint8_t> band_ready_;
  uint32_t bands_done_ = 0;
  bool finished_ = false;
  bool failed_ = false;
  std::string failure_;
  std::atomic<bool> cancelled_{false};
  std::thread thread_;  // last member: started when everything else exists
};

}  // namespace pixelrts::codec
