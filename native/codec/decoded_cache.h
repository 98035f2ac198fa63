// DecodedCache: a PayloadSource whose decoded bytes live in a file on disk (the decoded cache,
// in the user's cache directory), filled band by band on demand. For containers pixelrts
// writes (band index, payload stored uncompressed) a read decodes only the bands holding the
// range it asks for, writes every tile of those bands where it belongs in the cache file, and
// is served from that file; the page cache does the caching, so memory holds a band or two
// whatever the container's size, and a second open (another process, the next boot) finds the
// bands already there.
//
// Beside the data file `NAME` lies `NAME.bands`, one byte per band: 1 once the band's bytes
// are in the data file. A band's byte is written only after its data, so a process killed at
// any point leaves bands that are either complete or marked missing; two processes filling the
// same band write the same bytes. A band that cannot be decoded (a damaged chunk: CRC, inflate)
// fails its readers with EIO and says why in failure(); the other bands still serve.
//
// Verified reads: when the file carries the hash tree (hash_tree.h), every tile a band decodes
// to is checked against its leaf, and the band's leaves against the band's hash, before
// anything reaches the cache file; a tile that does not match fails the band like a damaged
// chunk. So every byte served has been checked, without hashing the whole payload first.
//
// Files without a usable band index (the original's: one zlib stream, adaptive filters) cannot
// be decoded from the middle: a thread of the source's own decodes them front to back with
// zlib's streaming inflate (a band and a row in memory), publishing each band as it is done;
// a read waits for its bands. Bands already in the cache are decoded past, not written again.
//
// Sequential readers (a guest booting from the disk, dd, a whole-file hash) get readahead: once
// a read continues where the previous one ended, the bands of the next kReadahead bytes are
// decoded on a thread of the cache's own, so decoding runs on a second core ahead of the reader.
// Random reads get none: a payload range touches bands all over the image (the Hilbert curve),
// so speculative decoding would cost far more than the read. A read that needs several bands
// itself has the same thread help with them, from the other end.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "codec/band_decoder.h"
#include "codec/band_gather.h"
#include "codec/byte_buffer.h"
#include "codec/hash_tree.h"
#include "codec/hilbert.h"
#include "codec/png_reader.h"
#include "common/failure.h"
#include "common/payload_source.h"
#include "common/unique_fd.h"

namespace pixelrts::codec {

class DecodedCache final : public PayloadSource {
 public:
  // Opens the container `png_path` and the cache entry
  // `cache_path` (created when missing; made anew when its size does not match) for a payload
  // of `payload_size` bytes stored uncompressed, laid along the standard curve or, `transposed`,
  // the legacy one (an entry holds one curve's bytes: the two need two entries).
  static Failure Open(const std::string& png_path, const std::string& cache_path, uint64_t payload_size,
                      bool transposed, std::shared_ptr<DecodedCache>* out);

  // Turns readahead off: for files whose every read costs (fetched over a network as they are
  // read), where decoding ahead of a reader fetches bands it may never want. Call before reads.
  void disable_readahead() { readahead_enabled_ = false; }

  // Bytes decoded ahead of a sequential reader.
  static constexpr uint64_t kReadahead = uint64_t{8} << 20;

  DecodedCache() = default;
  ~DecodedCache() override;

  uint64_t size() const override { return payload_size_; }
  int wait_ready(uint64_t offset, uint64_t length) override;
  const uint8_t* data() const override { return nullptr; }
  int backing_fd() const override { return cache_fd_.get(); }
  void cancel() override;
  std::string failure() const override;

  Progress progress() const override;

  // True when every band is checked against the file's hash tree before it is served.
  bool verified_reads() const { return verified_; }

 private:
  enum BandState : uint8_t { kMissing = 0, kPresent = 1, kFilling = 2, kFailed = 3, kUnused = 4 };

  // A decoder and its staging buffer, lent to one filling thread at a time.
  struct Worker {
    std::unique_ptr<BandDecoder> decoder;
    ByteBuffer staged;
    std::vector<TilePlacement> placements;  // band_tiles' scratch
    std::vector<uint8_t> leaves;            // the band's leaves of the hash tree
  };

  Failure fill(uint32_t band, Worker* worker);
  // Writes a band's gathered tiles (`staged`, as gather_staged lays them out) where they lie in
  // the payload, then marks the band present in the entry.
  Failure store(uint32_t band, const uint8_t* staged, std::vector<TilePlacement>* placements);
  // Checks the band's tiles (staged by fill) against the hash tree.
  Failure verify(uint32_t band, Worker* worker);
  Failure open_hash_tree();
  // Makes every band touched by [offset, offset + length) present: 0, EIO or EINTR. Readers
  // take the bands in ascending order, readahead in descending order, so when both want the
  // same range they work from its two ends instead of queueing behind each other.
  int ensure(uint64_t offset, uint64_t length, bool backwards);
  // Asks the readahead thread for [from, from + kReadahead) when the reader is sequential.
  void note_read(uint64_t offset, uint64_t end);
  // Has the readahead thread help with [offset, end) when it needs two bands or more.
  void share_with_helper(uint64_t offset, uint64_t end);
  bool start_helper_locked();
  void readahead_loop();
  // Files without a band index: decodes every band in order (the front-to-back thread).
  void sequential_loop();
  Failure decode_sequentially();
  std::unique_ptr<Worker> take_worker();
  void give_back(std::unique_ptr<Worker> worker);

  std::string png_path_;
  std::string cache_path_;
  uint64_t payload_size_ = 0;
  UniqueFd png_fd_;
  UniqueFd cache_fd_;
  UniqueFd bands_fd_;
  PngReader png_;
  std::unique_ptr<HilbertTiling> tiling_;
  std::unique_ptr<BandGather> gather_;
  bool sequential_ = false;          // no usable band index: decoded front to back
  std::thread sequential_thread_;
  bool verified_ = false;            // the file has a hash tree, and it checks out
  HashTreeLayout tree_;
  std::vector<uint8_t> band_hashes_;  // bands() × 32, checked against the root at open

  mutable std::mutex mu_;
  std::condition_variable changed_;
  std::vector<uint8_t> state_;
  std::vector<std::unique_ptr<Worker>> idle_;
  uint32_t needed_ = 0;   // bands holding payload bytes
  uint32_t present_ = 0;  // of those, in the cache file
  uint32_t decoded_ = 0;
  bool cancelled_ = false;
  std::string failure_;

  // Readahead (guarded by mu_).
  std::thread readahead_;
  std::condition_variable readahead_wanted_;
  uint64_t last_end_ = UINT64_MAX;     // where the previous read ended
  uint64_t ahead_from_ = 0, ahead_to_ = 0;  // the range asked for, empty when from == to
  uint64_t ahead_start_ = 0, ahead_done_ = 0;  // the range readahead has covered
  bool readahead_failed_ = false;      // no thread could be started: no readahead
  bool readahead_enabled_ = true;     // disable_readahead() clears it
};

}  // namespace pixelrts::codec
