#include "remote/remote_file.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>

#include "common/full_io.h"

namespace pixelrts::remote {

namespace {

Failure IoFailure(const std::string& what, const std::string& path, int err) {
  return Failure::make("ERR_PIXELRTS_IO", "cannot " + what + " " + path + " (" + std::strerror(err) +
                                              "); check that the cache directory is writable and has room, or set "
                                              "XDG_CACHE_HOME elsewhere.");
}

// Opens (creating) `path` read-write and makes it `size` bytes; `fresh` is set when it did not
// have that size, so whatever it held is meaningless.
Failure OpenSized(const std::string& path, uint64_t size, UniqueFd* out, bool* fresh) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0600));
  if (!fd.valid()) return IoFailure("open the cache file", path, errno);
  struct stat st {};
  if (::fstat(fd.get(), &st) != 0) return IoFailure("stat the cache file", path, errno);
  *fresh = static_cast<uint64_t>(st.st_size) != size;
  if (*fresh && (::ftruncate(fd.get(), 0) != 0 || ::ftruncate(fd.get(), static_cast<off_t>(size)) != 0)) {
    return IoFailure("size the cache file", path, errno);
  }
  *out = std::move(fd);
  return Failure::none();
}

}  // namespace

Failure RemoteFile::Open(const Options& options, std::shared_ptr<RemoteFile>* out) {
  if (options.size == 0 || options.size > kMaxSize) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", "openRemote: size must be between 1 and " +
                                                      std::to_string(kMaxSize) + " bytes, not " +
                                                      std::to_string(options.size));
  }
  std::shared_ptr<RemoteFile> file(new RemoteFile());
  file->options_ = options;
  file->size_ = options.size;
  file->validator_ = options.validator;
  if (Failure f = Libcurl::Load(&file->curl_); !f.ok()) return f;

  const uint64_t blocks = (options.size + kBlock - 1) / kBlock;
  bool fresh_data = false, fresh_blocks = false;
  if (Failure f = OpenSized(options.cache_path, options.size, &file->data_fd_, &fresh_data); !f.ok()) return f;
  const std::string blocks_path = options.cache_path + ".blocks";
  if (Failure f = OpenSized(blocks_path, blocks, &file->blocks_fd_, &fresh_blocks); !f.ok()) return f;
  file->state_.assign(blocks, kMissing);
  if (fresh_data && !fresh_blocks) {
    // The data file was made anew: the block map describes bytes that are gone.
    if (::ftruncate(file->blocks_fd_.get(), 0) != 0 || ::ftruncate(file->blocks_fd_.get(), static_cast<off_t>(blocks)) != 0) {
      return IoFailure("reset the block map", blocks_path, errno);
    }
  } else if (!fresh_blocks) {
    if (int err = PreadFull(file->blocks_fd_.get(), file->state_.data(), blocks, 0); err != 0) {
      return IoFailure("read the block map", blocks_path, err == kEndOfFile ? EIO : err);
    }
    for (uint8_t& s : file->state_) {
      if (s != kPresent) s = kMissing;  // a byte that is not 1 is a block never finished
    }
    file->present_ = static_cast<uint64_t>(std::count(file->state_.begin(), file->state_.end(), kPresent));
  }
  *out = std::move(file);
  return Failure::none();
}

RemoteFile::~RemoteFile() { cancel(); }

void RemoteFile::cancel() {
  std::lock_guard<std::mutex> lock(mu_);
  cancelled_ = true;
  changed_.notify_all();
}

std::string RemoteFile::failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_.message;
}

Failure RemoteFile::last_failure() const {
  std::lock_guard<std::mutex> lock(mu_);
  return failure_;
}

PayloadSource::Progress RemoteFile::progress() const {
  std::lock_guard<std::mutex> lock(mu_);
  const auto blocks = static_cast<uint32_t>(state_.size());
  return Progress{static_cast<uint32_t>(present_), blocks, present_ == state_.size(), 0};
}

RemoteFile::Stats RemoteFile::stats() const {
  std::lock_guard<std::mutex> lock(mu_);
  Stats s = stats_;
  s.blocks_present = present_;
  s.blocks = state_.size();
  return s;
}

int RemoteFile::wait_ready(uint64_t offset, uint64_t length) {
  if (length == 0) return 0;
  if (offset > size_ || length > size_ - offset) return EINVAL;
  const uint64_t first = offset / kBlock;
  const uint64_t last = (offset + length - 1) / kBlock;
  const uint64_t max_run = kMaxRequest / kBlock;
  std::unique_lock<std::mutex> lock(mu_);
  for (;;) {
    if (cancelled_) return EINTR;
    if (changed_on_server_) return EIO;
    // Fetch the first missing run, then look again from the start: other readers may have
    // finished (or failed) blocks of this range meanwhile, and their wake-ups came while this
    // thread was not waiting. Only a pass that finds nothing to fetch waits, for runs other
    // readers are fetching.
    bool waiting = false;
    bool fetched = false;
    for (uint64_t b = first; b <= last && !fetched; b++) {
      if (state_[b] == kPresent) continue;
      if (state_[b] == kFilling) {
        waiting = true;
        continue;
      }
      uint64_t e = b;
      while (e + 1 <= last && e + 1 - b < max_run && state_[e + 1] == kMissing) e++;
      for (uint64_t i = b; i <= e; i++) state_[i] = kFilling;
      lock.unlock();
      const int err = fetch_blocks(b, e);
      lock.lock();
      if (err != 0) return err;
      fetched = true;
    }
    if (fetched) continue;
    if (!waiting) return 0;
    // Someone else is fetching a block of this range: wait for it, then look again (it may
    // have failed, and the block is missing again).
    changed_.wait(lock);
  }
}

int RemoteFile::fetch_blocks(uint64_t first, uint64_t last) {
  const uint64_t offset = first * kBlock;
  const uint64_t end = std::min((last + 1) * kBlock, size_);
  RangeReply reply;
  Failure f = fetch_range(offset, end - offset, &reply);
  if (f.ok()) {
    // The data is in the file; only now say so.
    const std::vector<uint8_t> marks(last - first + 1, kPresent);
    if (int err = PwriteFull(blocks_fd_.get(), marks.data(), marks.size(), first); err != 0) {
      f = IoFailure("update the block map", options_.cache_path + ".blocks", err);
    }
  }
  std::lock_guard<std::mutex> lock(mu_);
  for (uint64_t i = first; i <= last; i++) state_[i] = f.ok() ? kPresent : kMissing;
  if (f.ok()) {
    present_ += last - first + 1;
  } else {
    failure_ = f;
    if (f.code == "ERR_PIXELRTS_FETCH_CHANGED") changed_on_server_ = true;
  }
  changed_.notify_all();
  if (f.ok()) return 0;
  return cancelled_ ? EINTR : EIO;
}

Failure RemoteFile::fetch_range(uint64_t offset, uint64_t length, RangeReply* reply) {
  const RangeConnection::Sink sink = [this](uint64_t pos, const uint8_t* data, size_t n) {
    return PwriteFull(data_fd_.get(), data, n, pos);
  };
  const std::string where = options_.url + " (bytes " + std::to_string(offset) + "-" +
                            std::to_string(offset + length - 1) + ")";
  uint64_t got = 0;
  uint32_t failures = 0;  // in a row, without a byte of progress
  std::string why;
  for (;;) {
    std::unique_ptr<RangeConnection> connection = take_connection();
    uint64_t delivered = 0;
    const RangeConnection::Outcome outcome =
        connection->fetch(offset + got, length - got, validator_, sink, &delivered, reply, &why);
    give_back(std::move(connection));
    got += delivered;
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.requests++;
      stats_.bytes_fetched += delivered;
      if (cancelled_) return Failure::make("ERR_PIXELRTS_FETCH", where + ": cancelled");
    }
    // Any 206 says how big the file is now and which version it is: a file that shrank would
    // otherwise send short ranges forever.
    const bool etag_pinned = !validator_.empty() && validator_.front() == '"';
    if ((reply->total != 0 && reply->total != size_) || (etag_pinned && !reply->etag.empty() && reply->etag != validator_)) {
        return Failure::make("ERR_PIXELRTS_FETCH_CHANGED",
                           options_.url + " changed on the server while it was being read (now " +
                                 std::to_string(reply->total) + " bytes, ETag " + reply->etag + "; it was " +
                                 std::to_string(size_) + " bytes, " + validator_ +
                                 "). Run the command again to read the new version.");
    }
    if (outcome == RangeConnection::Outcome::kOk) return Failure::none();
    if (outcome == RangeConnection::Outcome::kFatal) {
      const bool changed = why.find("changed on the server") != std::string::npos;
      return Failure::make(changed ? "ERR_PIXELRTS_FETCH_CHANGED" : "ERR_PIXELRTS_FETCH", where + ": " + why + ".");
    }
    if (delivered > 0) {
      failures = 0;  // progress: resume at once
    } else if (++failures > options_.retries) {
      return Failure::make("ERR_PIXELRTS_FETCH", where + ": " + why + " (after " + std::to_string(failures) +
                                                     " attempts); check the URL and the network, then read again.");
    }
    {
      std::lock_guard<std::mutex> lock(mu_);
      stats_.retries++;
    }
    if (failures > 0 && !pause(std::min<uint32_t>(options_.backoff_ms << (failures - 1), 8000))) {
      return Failure::make("ERR_PIXELRTS_FETCH", where + ": cancelled");
    }
  }
}

std::unique_ptr<RangeConnection> RemoteFile::take_connection() {
  {
    std::lock_guard<std::mutex> lock(mu_);
    if (!idle_.empty()) {
      std::unique_ptr<RangeConnection> c = std::move(idle_.back());
      idle_.pop_back();
      return c;
    }
  }
  RangeConnection::Settings settings;
  settings.url = options_.url;
  settings.stall_seconds = options_.stall_seconds;
  settings.connect_timeout_ms = options_.connect_timeout_ms;
  return std::make_unique<RangeConnection>(curl_, settings);
}

void RemoteFile::give_back(std::unique_ptr<RangeConnection> connection) {
  std::lock_guard<std::mutex> lock(mu_);
  idle_.push_back(std::move(connection));
}

bool RemoteFile::pause(uint32_t ms) {
  std::unique_lock<std::mutex> lock(mu_);
  return !changed_.wait_for(lock, std::chrono::milliseconds(ms), [this] { return cancelled_; });
}

}  // namespace pixelrts::remote
