#include "codec/background_decode.h"

#include <cerrno>

#include "codec/inflater.h"
#include "codec/stream_decompressor.h"

namespace pixelrts::codec {

namespace {

Failure ArgumentError(const std::string& path, const std::string& what) {
  return Failure::make("ERR_PIXELRTS_ARGUMENT", "startPayload: " + path + ": " + what);
}

}  // namespace

BackgroundDecode::BackgroundDecode(std::string path, Options options)
    : path_(std::move(path)), options_(options) {}

Failure BackgroundDecode::Start(const std::string& path, const Options& options,
                                std::shared_ptr<BackgroundDecode>* out) {
  auto self = std::make_shared<BackgroundDecode>(path, options);
  Failure f = self->file_.open(path);
  if (!f.ok()) return f;
  f = self->png_.parse(self->file_.data(), self->file_.size(), false);
  if (f.ok()) f = self->png_.check_inflatable();
  if (!f.ok()) return Failure::make(f.code, path + ": " + f.message);
  const uint64_t capacity = uint64_t{self->png_.grid()} * self->png_.grid() * 4;
  if (options.stored_size > capacity) {
    return ArgumentError(path, "storedSize " + std::to_string(options.stored_size) + " exceeds the " +
                                   std::to_string(capacity) + " bytes a " + std::to_string(self->png_.grid()) + "x" +
                                   std::to_string(self->png_.grid()) + " image holds: the metadata is wrong");
  }
  if (!options.compressed && options.payload_size != options.stored_size) {
    return ArgumentError(path, "payloadSize " + std::to_string(options.payload_size) + " differs from storedSize " +
                                   std::to_string(options.stored_size) + " for an uncompressed payload");
  }
  if (options.payload_size > kMaxPayload) {
    return Failure::make("ERR_PIXELRTS_TOO_LARGE", path + ": the payload would be " +
                                                       std::to_string(options.payload_size) +
                                                       " bytes, more than the supported " + std::to_string(kMaxPayload));
  }
  if (!self->payload_.allocate(static_cast<size_t>(options.payload_size)) ||
      (options.compressed && !self->stored_.allocate(static_cast<size_t>(options.stored_size)))) {
    return Failure::make("ERR_PIXELRTS_NO_MEMORY", path + ": out of memory for a " +
                                                       std::to_string(options.payload_size) + "-byte payload");
  }
  self->decoder_ = std::make_unique<PngStreamDecoder>(self->png_, options.transposed);
  self->band_ready_.assign(self->decoder_->tiling().bands(), 0);
  try {
    self->thread_ = std::thread([raw = self.get()] { raw->run(); });
  } catch (const std::system_error& e) {
    return Failure::make("ERR_PIXELRTS_IO", path + ": cannot start the decode thread (" + e.what() + ")");
  }
  *out = std::move(self);
  return Failure::none();
}

BackgroundDecode::~BackgroundDecode() {
  cancelled_.store(true);
  if (thread_.joinable()) thread_.join();
}

void BackgroundDecode::run() {
  uint8_t* target = options_.compressed ? stored_.data() : payload_.data();
  Failure f = decoder_->decode(0, options_.stored_size, target, 0, this);
  if (f.ok() && options_.compressed && !cancelled()) {
    Inflater inflater;
    f = StreamDecompressor::Exact(&inflater, stored_.data(), static_cast<size_t>(options_.stored_size),
                                  payload_.data(), static_cast<size_t>(options_.payload_size));
    stored_ = ByteBuffer();
  }
  std::lock_guard<std::mutex> lock(mu_);
  if (!f.ok()) {
    if (f.code != "ERR_PIXELRTS_CANCELLED") {
      failed_ = true;
      failure_ = path_ + ": " + f.message;
    }
  } else if (!cancelled()) {
    finished_ = true;
  }
  ready_.notify_all();
}

void BackgroundDecode::band_done(uint32_t band) {
  std::lock_guard<std::mutex> lock(mu_);
  if (!band_ready_[band]) {
    band_ready_[band] = 1;
    bands_done_++;
  }
  ready_.notify_all();
}

bool BackgroundDecode::range_ready_locked(uint64_t offset, uint64_t length) const {
  std::vector<uint8_t> needed;
  const int64_t last = decoder_->tiling().bands_touched(offset, offset + length, &needed);
  for (int64_t b = 0; b <= last; b++) {
    if (needed[static_cast<size_t>(b)] && !band_ready_[static_cast<size_t>(b)]) return false;
  }
  return true;
}

int BackgroundDecode::wait_ready(uint64_t offset, uint64_t length) {
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (failed_) return EIO;
    if (cancelled()) return EINTR;
    if (finished_ || length == 0) return 0;
    if (!options_.compressed && range_ready_locked(offset, length)) return 0;
    ready_.wait(lock);
  }
}

void BackgroundDecode::cancel() {
  cancelled_.store(true);
  std::lock_guard<std::mutex> lock(mu_);
  ready_.notify_all();
}

std::string BackgroundDecode::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

PayloadSource::Progress BackgroundDecode::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  return Progress{bands_done_, static_cast<uint32_t>(band_ready_.size()), finished_, bands_done_};
}

}  // namespace pixelrts::codec
