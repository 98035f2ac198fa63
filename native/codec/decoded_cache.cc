#include "codec/decoded_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <system_error>

#include "codec/png_unfilter.h"
#include "codec/zlib_inflate.h"
#include "common/full_io.h"
#include "common/sha256.h"

namespace pixelrts::codec {

namespace {

Failure CacheFailure(const std::string& path, const std::string& what, int e) {
  const size_t slash = path.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : path.substr(0, slash);
  std::string hint = " Check that the directory is writable, or set PIXELRTS_CACHE_DIR to another one.";
  if (e == ENOSPC || e == EDQUOT) hint = " Free some space there (pixelrts cache prune) or set PIXELRTS_CACHE_DIR to another disk.";
  return Failure::make(e == ENOSPC || e == EDQUOT ? "ERR_PIXELRTS_NO_SPACE" : "ERR_PIXELRTS_IO",
                       "the decoded cache in " + dir + ": cannot " + what + " (" + std::strerror(e) + ")." + hint);
}

}  // namespace

Failure DecodedCache::Open(const std::string& png_path, const std::string& cache_path, uint64_t payload_size,
                           bool transposed, std::shared_ptr<DecodedCache>* out) {
  auto self = std::make_shared<DecodedCache>();
  self->png_path_ = png_path;
  self->cache_path_ = cache_path;
  self->payload_size_ = payload_size;
  self->png_fd_.reset(::open(png_path.c_str(), O_RDONLY | O_CLOEXEC));
  if (!self->png_fd_.valid()) {
    const int e = errno;
    return Failure::make(e == ENOENT ? "ERR_PIXELRTS_NOT_FOUND" : "ERR_PIXELRTS_IO",
                         png_path + ": cannot open (" + std::strerror(e) + ")");
  }
  struct stat st;
  if (fstat(self->png_fd_.get(), &st) != 0) {
    return Failure::make("ERR_PIXELRTS_IO", png_path + ": cannot stat (" + std::strerror(errno) + ")");
  }
  Failure f = self->png_.parse_file(self->png_fd_.get(), static_cast<uint64_t>(st.st_size), png_path, false);
  if (!f.ok()) return Failure::make(f.code, f.message.rfind(png_path, 0) == 0 ? f.message : png_path + ": " + f.message);
  const uint32_t grid = self->png_.grid();
  self->tiling_ = std::make_unique<HilbertTiling>(grid, transposed);
  const BandIndex* index = self->png_.band_index();
  self->sequential_ = index == nullptr || index->rows_per_band != self->tiling_->tile_side() ||
                      index->band_count() != self->tiling_->bands();
  if (payload_size > uint64_t{grid} * grid * 4) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", png_path + ": payloadSize " + std::to_string(payload_size) +
                                                      " exceeds the " + std::to_string(uint64_t{grid} * grid * 4) +
                                                      " bytes the image holds: the metadata is wrong");
  }
  self->gather_ = std::make_unique<BandGather>(*self->tiling_, static_cast<size_t>(self->png_.stride()));
  if (self->png_.hash_tree().length > 0) {
    f = self->open_hash_tree();
    if (!f.ok()) return f;
  }

  // The data file: sparse, exactly the payload's size. One of another size belongs to nothing
  // this entry can trust: start it over, band map included.
  self->cache_fd_.reset(::open(cache_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!self->cache_fd_.valid()) return CacheFailure(cache_path, "create " + cache_path, errno);
  const std::string bands_path = cache_path + ".bands";
  self->bands_fd_.reset(::open(bands_path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!self->bands_fd_.valid()) return CacheFailure(cache_path, "create " + bands_path, errno);
  struct stat cst;
  if (fstat(self->cache_fd_.get(), &cst) != 0) return CacheFailure(cache_path, "stat " + cache_path, errno);
  const uint32_t bands = self->tiling_->bands();
  // Bands holding no byte of the payload (the encoder's unused pixels) are never needed.
  std::vector<uint8_t> in_payload;
  self->tiling_->bands_touched(0, payload_size, &in_payload);
  self->state_.assign(bands, kMissing);
  for (uint32_t b = 0; b < bands; b++) {
    if (in_payload[b]) self->needed_++;
    else self->state_[b] = kUnused;
  }
  if (static_cast<uint64_t>(cst.st_size) != payload_size) {
    if (ftruncate(self->bands_fd_.get(), 0) != 0 || ftruncate(self->cache_fd_.get(), 0) != 0 ||
        ftruncate(self->cache_fd_.get(), static_cast<off_t>(payload_size)) != 0) {
      return CacheFailure(cache_path, "size " + cache_path, errno);
    }
  } else {
    std::vector<uint8_t> map(bands, 0);
    const ssize_t r = ::pread(self->bands_fd_.get(), map.data(), bands, 0);
    for (ssize_t b = 0; b < r; b++) {
      if (map[static_cast<size_t>(b)] == 1 && self->state_[static_cast<size_t>(b)] == kMissing) {
        self->state_[static_cast<size_t>(b)] = kPresent;
        self->present_++;
      }
    }
  }
  *out = std::move(self);
  return Failure::none();
}

DecodedCache::~DecodedCache() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    cancelled_ = true;
  }
  readahead_wanted_.notify_all();
  changed_.notify_all();
  if (readahead_.joinable()) readahead_.join();
  if (sequential_thread_.joinable()) sequential_thread_.join();
}

Failure DecodedCache::open_hash_tree() {
  const HashTreeSpan& span = png_.hash_tree();
  auto corrupt = [&](const std::string& why) {
    return Failure::make("ERR_PIXELRTS_HASH_TREE", png_path_ + ": the hash tree (pxHT chunk at byte " +
                                                       std::to_string(span.offset - 8) + ") is unusable: " + why +
                                                       ". The file is damaged; convert it again from its source.");
  };
  if (!Sha256::Available()) {
    return Failure::make("ERR_PIXELRTS_HASH_TREE", png_path_ + ": the file carries a hash tree but no SHA-256 "
                                                               "(OpenSSL's libcrypto) was found to check it");
  }
  uint8_t header[HashTreeLayout::kHeaderBytes];
  if (span.length < sizeof header || PreadFull(png_fd_.get(), header, sizeof header, span.offset) != 0) {
    return corrupt("it is shorter than its header");
  }
  std::string why;
  if (!HashTreeLayout::Parse(header, span.length, static_cast<uint32_t>(tiling_->tile_pixels() * 4), tiling_->bands(),
                             tiling_->tiles_per_side(), &tree_, &why)) {
    return corrupt(why);
  }
  std::vector<uint8_t> hashes(size_t{tree_.bands} * Sha256::kSize + Sha256::kSize);
  if (PreadFull(png_fd_.get(), hashes.data(), hashes.size(), span.offset + tree_.band_hashes_offset()) != 0) {
    return corrupt("it cannot be read");
  }
  uint8_t root[Sha256::kSize];
  Sha256::Digest(hashes.data(), hashes.size() - Sha256::kSize, root);
  if (std::memcmp(root, hashes.data() + hashes.size() - Sha256::kSize, Sha256::kSize) != 0) {
    return corrupt("its band hashes do not give its root");
  }
  hashes.resize(hashes.size() - Sha256::kSize);
  band_hashes_ = std::move(hashes);
  verified_ = true;
  return Failure::none();
}

Failure DecodedCache::verify(uint32_t band, Worker* worker) {
  const uint64_t tile_bytes = tiling_->tile_pixels() * 4;
  const uint32_t m = tiling_->tiles_per_side();
  std::vector<uint8_t>& leaves = worker->leaves;
  leaves.resize(size_t{m} * Sha256::kSize);
  const std::string where = png_path_ + ": band " + std::to_string(band);
  if (PreadFull(png_fd_.get(), leaves.data(), leaves.size(), png_.hash_tree().offset + tree_.leaves_offset(band)) != 0) {
    return Failure::make("ERR_PIXELRTS_IO", where + ": cannot read its hashes");
  }
  uint8_t digest[Sha256::kSize];
  Sha256::Digest(leaves.data(), leaves.size(), digest);
  if (std::memcmp(digest, band_hashes_.data() + size_t{band} * Sha256::kSize, Sha256::kSize) != 0) {
    return Failure::make("ERR_PIXELRTS_HASH", where + ": its leaves in the hash tree do not match its hash: the file is corrupt");
  }
  const TilePlacement* tiles = tiling_->band_tiles(band, &worker->placements);
  for (uint32_t tx = 0; tx < m; tx++) {
    Sha256::Digest(worker->staged.data() + tx * tile_bytes, static_cast<size_t>(tile_bytes), digest);
    if (std::memcmp(digest, leaves.data() + size_t{tx} * Sha256::kSize, Sha256::kSize) != 0) {
      const uint64_t at = uint64_t{tiles[tx].curve_tile} * tile_bytes;
      return Failure::make("ERR_PIXELRTS_HASH", png_path_ + ": payload bytes [" + std::to_string(at) + ", " +
                                                    std::to_string(at + tile_bytes) +
                                                    ") do not match the hash tree: the file is corrupt");
    }
  }
  return Failure::none();
}

int DecodedCache::wait_ready(uint64_t offset, uint64_t length) {
  if (length == 0) {
    std::lock_guard<std::mutex> lock(mu_);
    return cancelled_ ? EINTR : 0;
  }
  if (!sequential_) share_with_helper(offset, offset + length);
  const int rc = ensure(offset, length, /*backwards=*/false);
  if (rc == 0) note_read(offset, offset + length);
  return rc;
}

void DecodedCache::share_with_helper(uint64_t offset, uint64_t end) {
  // A read that needs several missing bands (a 128 KiB read of a 32768² image needs about eight
  // 4 MiB bands) gets the helper thread's core too: it takes the bands from the top while this
  // thread takes them from the bottom.
  std::vector<uint8_t> needed;
  const int64_t last = tiling_->bands_touched(offset, end, &needed);
  std::lock_guard<std::mutex> lock(mu_);
  int missing = 0;
  for (int64_t b = 0; b <= last && missing < 2; b++) {
    if (needed[static_cast<size_t>(b)] && state_[static_cast<size_t>(b)] == kMissing) missing++;
  }
  if (missing < 2 || readahead_failed_ || cancelled_) return;
  ahead_from_ = offset;
  ahead_to_ = end;
  if (!start_helper_locked()) return;
  readahead_wanted_.notify_one();
}

bool DecodedCache::start_helper_locked() {
  if (readahead_.joinable()) return true;
  try {
    readahead_ = std::thread([this] { readahead_loop(); });
    return true;
  } catch (const std::system_error&) {
    readahead_failed_ = true;  // reads still decode on demand, on their own thread
    return false;
  }
}

int DecodedCache::ensure(uint64_t offset, uint64_t length, bool backwards) {
  std::vector<uint8_t> needed;
  const int64_t last = tiling_->bands_touched(offset, offset + length, &needed);
  for (int64_t i = 0; i <= last; i++) {
    const int64_t b = backwards ? last - i : i;
    if (!needed[static_cast<size_t>(b)]) continue;
    const auto band = static_cast<uint32_t>(b);
    if (sequential_) {
      std::unique_lock<std::mutex> lock(mu_);
      if (state_[band] == kMissing && !sequential_thread_.joinable()) {
        try {
          sequential_thread_ = std::thread([this] { sequential_loop(); });
        } catch (const std::system_error& e) {
          if (failure_.empty()) failure_ = png_path_ + ": cannot start the decode thread (" + e.what() + ")";
          return EIO;
        }
      }
      changed_.wait(lock, [&] { return cancelled_ || (state_[band] != kMissing && state_[band] != kFilling); });
      if (cancelled_) return EINTR;
      if (state_[band] == kFailed) return EIO;
      continue;
    }
    {
      std::unique_lock<std::mutex> lock(mu_);
      changed_.wait(lock, [&] { return cancelled_ || state_[band] != kFilling; });
      if (cancelled_) return EINTR;
      if (state_[band] == kPresent || state_[band] == kUnused) continue;
      if (state_[band] == kFailed) return EIO;
      state_[band] = kFilling;
    }
    std::unique_ptr<Worker> worker = take_worker();
    Failure f = worker ? fill(band, worker.get())
                       : Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for a band's buffers");
    if (worker) give_back(std::move(worker));
    std::lock_guard<std::mutex> lock(mu_);
    if (f.ok()) {
      state_[band] = kPresent;
      present_++;
      decoded_++;
    } else {
      state_[band] = kFailed;
      if (failure_.empty()) failure_ = f.message;
    }
    changed_.notify_all();
    if (!f.ok()) return EIO;
  }
  return 0;
}

void DecodedCache::note_read(uint64_t offset, uint64_t end) {
  std::lock_guard<std::mutex> lock(mu_);
  // Sequential: this read starts where one ended (FUSE workers may answer a stream's requests
  // slightly out of order, hence the slack).
  const bool sequential = last_end_ != UINT64_MAX && offset <= last_end_ + (uint64_t{1} << 20) &&
                          offset + (uint64_t{1} << 20) >= last_end_;
  last_end_ = end;
  if (!sequential || !readahead_enabled_ || sequential_ || readahead_failed_ || cancelled_ || end >= payload_size_) return;
  // Ask again only once the reader has used up half of what was read ahead of it.
  const bool covered = end >= ahead_start_ && end <= ahead_done_;
  if (covered && ahead_done_ - end > kReadahead / 2) return;
  const uint64_t from = covered ? ahead_done_ : end;
  const uint64_t to = std::min(payload_size_, end + kReadahead);
  if (from >= to) return;
  if (!covered) ahead_start_ = ahead_done_ = end;
  ahead_from_ = from;
  ahead_to_ = to;
  if (!start_helper_locked()) return;
  readahead_wanted_.notify_one();
}

void DecodedCache::readahead_loop() {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    readahead_wanted_.wait(lock, [&] { return cancelled_ || ahead_from_ < ahead_to_; });
    if (cancelled_) return;
    const uint64_t from = ahead_from_, to = ahead_to_;
    ahead_from_ = ahead_to_ = 0;
    lock.unlock();
    // A failed band fails its own readers when they come; readahead just stops there.
    const int rc = ensure(from, to - from, /*backwards=*/true);
    lock.lock();
    if (rc == 0) ahead_done_ = std::max(ahead_done_, to);
  }
}

Failure DecodedCache::fill(uint32_t band, Worker* worker) {
  Failure f = worker->decoder->decode(band, nullptr);
  if (!f.ok()) return Failure::make(f.code, png_path_ + ": " + f.message);
  gather_->gather_staged(band, worker->decoder->row(0), worker->staged.data());
  if (verified_) {
    f = verify(band, worker);
    if (!f.ok()) return f;
  }
  return store(band, worker->staged.data(), &worker->placements);
}

Failure DecodedCache::store(uint32_t band, const uint8_t* staged, std::vector<TilePlacement>* placements) {
  const uint64_t tile_bytes = tiling_->tile_pixels() * 4;
  const TilePlacement* tiles = tiling_->band_tiles(band, placements);
  for (uint32_t tx = 0; tx < tiling_->tiles_per_side(); tx++) {
    const uint64_t begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    if (begin >= payload_size_) continue;  // the encoder's unused pixels
    const size_t n = static_cast<size_t>(std::min(tile_bytes, payload_size_ - begin));
    const int e = PwriteFull(cache_fd_.get(), staged + tx * tile_bytes, n, begin);
    if (e != 0) return CacheFailure(cache_path_, "write " + cache_path_, e);
  }
  // Only now does the entry say the band is there.
  const uint8_t one = 1;
  const int e = PwriteFull(bands_fd_.get(), &one, 1, band);
  if (e != 0) return CacheFailure(cache_path_, "write " + cache_path_ + ".bands", e);
  return Failure::none();
}

void DecodedCache::sequential_loop() {
  Failure f = decode_sequentially();
  std::lock_guard<std::mutex> lock(mu_);
  if (!f.ok() && f.code != "ERR_PIXELRTS_CANCELLED") {
    for (uint8_t& st : state_) {
      if (st == kMissing || st == kFilling) st = kFailed;
    }
    if (failure_.empty()) failure_ = f.message;
  }
  changed_.notify_all();
}

Failure DecodedCache::decode_sequentially() {
  const size_t stride = static_cast<size_t>(png_.stride());
  const size_t band_bytes = stride * tiling_->tile_side();
  const uint64_t tile_bytes = tiling_->tile_pixels() * 4;
  ByteBuffer rows, staged;
  std::vector<uint8_t> input(size_t{1} << 20);
  std::vector<TilePlacement> placements;
  // Slot 0 of `rows` holds the row above the band (all zero above the first).
  if (!rows.allocate(band_bytes + stride) || !staged.allocate(size_t{tiling_->tiles_per_side()} * tile_bytes)) {
    return Failure::make("ERR_PIXELRTS_NO_MEMORY", png_path_ + ": out of memory for a band's buffers");
  }
  std::memset(rows.data(), 0, stride);
  ZlibInflate zs;
  if (!zs.ok()) return Failure::make("ERR_PIXELRTS_NO_MEMORY", png_path_ + ": cannot start zlib's inflate");
  uint64_t in_pos = 0;
  // Feeds zlib the next MiB of image data (each IDAT chunk read CRC-checked).
  auto refill = [&]() -> Failure {
    const uint64_t n = std::min<uint64_t>(input.size(), png_.idat_size() - in_pos);
    Failure f = png_.read_idat(in_pos, in_pos + n, input.data());
    if (!f.ok()) return Failure::make(f.code, png_path_ + ": " + f.message);
    zs->next_in = input.data();
    zs->avail_in = static_cast<uInt>(n);
    in_pos += n;
    return Failure::none();
  };
  auto bad_stream = [&](const std::string& why) {
    return Failure::make("ERR_PIXELRTS_INFLATE", png_path_ + ": PNG: the image data (IDAT) " + why);
  };
  for (uint32_t band = 0; band < tiling_->bands(); band++) {
    {
      std::lock_guard<std::mutex> lock(mu_);
      if (cancelled_) return Failure::make("ERR_PIXELRTS_CANCELLED", "cancelled");
    }
    uint8_t* first = rows.data() + stride;
    zs->next_out = first;
    zs->avail_out = static_cast<uInt>(band_bytes);
    while (zs->avail_out > 0) {
      if (zs->avail_in == 0) {
        if (in_pos == png_.idat_size()) return bad_stream("ends in band " + std::to_string(band) + ", before the scanlines the header implies");
        Failure f = refill();
        if (!f.ok()) return f;
      }
      const int r = inflate(zs.get(), Z_NO_FLUSH);
      if (r == Z_STREAM_END && zs->avail_out > 0) {
        return bad_stream("ends in band " + std::to_string(band) + ", before the scanlines the header implies");
      }
      if (r != Z_OK && r != Z_STREAM_END) {
        return bad_stream("is not a valid zlib stream (" + std::string(zs->msg != nullptr ? zs->msg : "error " + std::to_string(r)) + ")");
      }
    }
    for (uint32_t r = 0; r < tiling_->tile_side(); r++) {
      uint8_t* row = first + size_t{r} * stride;
      if (!RowUnfilter::Apply(row[0], row + 1, row - stride + 1, stride - 1)) {
        return Failure::make("ERR_PIXELRTS_PNG_FILTER", png_path_ + ": PNG: scanline " +
                                                            std::to_string(uint64_t{band} * tiling_->tile_side() + r) +
                                                            " has filter type " + std::to_string(row[0]) +
                                                            ", expected 0 to 4: the image data is corrupt");
      }
    }
    bool wanted;
    {
      std::lock_guard<std::mutex> lock(mu_);
      wanted = state_[band] == kMissing;
    }
    if (wanted) {
      gather_->gather_staged(band, first + 1, staged.data());
      Failure f = store(band, staged.data(), &placements);
      if (!f.ok()) return f;
      std::lock_guard<std::mutex> lock(mu_);
      state_[band] = kPresent;
      present_++;
      decoded_++;
      changed_.notify_all();
    }
    std::memcpy(rows.data(), first + band_bytes - stride, stride);  // the next band's row above
  }
  // The stream must end exactly here; zlib checks its adler-32 as it ends.
  uint8_t extra = 0;
  zs->next_out = &extra;
  zs->avail_out = 1;
  for (;;) {
    const int r = inflate(zs.get(), Z_NO_FLUSH);
    if (r == Z_STREAM_END && zs->avail_out == 1) return Failure::none();
    if (zs->avail_out == 0) return bad_stream("holds more than the scanlines the header implies");
    if ((r == Z_OK || r == Z_BUF_ERROR) && zs->avail_in == 0 && in_pos < png_.idat_size()) {
      Failure f = refill();
      if (!f.ok()) return f;
      continue;
    }
    return bad_stream("does not end as a zlib stream should (" +
                      std::string(zs->msg != nullptr ? zs->msg : "a bad checksum, or cut short") + ")");
  }
}

std::unique_ptr<DecodedCache::Worker> DecodedCache::take_worker() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<Worker> w = std::move(idle_.back());
      idle_.pop_back();
      return w;
    }
  }
  auto w = std::make_unique<Worker>();
  w->decoder = std::make_unique<BandDecoder>(png_, *png_.band_index(), tiling_->tile_side());
  if (!w->staged.allocate(size_t{tiling_->tiles_per_side()} * tiling_->tile_pixels() * 4)) return nullptr;
  return w;
}

void DecodedCache::give_back(std::unique_ptr<Worker> worker) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(worker));
}

void DecodedCache::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  changed_.notify_all();
  readahead_wanted_.notify_all();
}

std::string DecodedCache::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

PayloadSource::Progress DecodedCache::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Progress{present_, needed_, present_ == needed_, decoded_};
}

}  // namespace pixelrts::codec
