#include "codec/concat_source.h"

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <cerrno>
#include <cstring>

#include "common/full_io.h"

namespace pixelrts::codec {

namespace {

int64_t MtimeNs(const struct stat& st) {
  return int64_t{st.st_mtim.tv_sec} * 1000000000 + st.st_mtim.tv_nsec;
}

}  // namespace

Failure ConcatSource::open(std::vector<Piece> pieces) {
  pieces_ = std::move(pieces);
  starts_.clear();
  fds_.clear();
  total_ = 0;
  for (size_t i = 0; i < pieces_.size(); i++) {
    starts_.push_back(total_);
    total_ += pieces_[i].size;
    if (pieces_[i].data != nullptr) {
      fds_.emplace_back();
      continue;
    }
    const std::string& path = pieces_[i].path;
    fds_.emplace_back(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
    if (!fds_.back().valid()) {
      const int e = errno;
      return Failure::make(e == ENOENT ? "ERR_PIXELRTS_NOT_FOUND" : "ERR_PIXELRTS_IO",
                           "input " + path + ": cannot open it (" + std::strerror(e) + ")");
    }
    Failure f = check_file(i);
    if (!f.ok()) return f;
  }
  return Failure::none();
}

Failure ConcatSource::check_file(size_t i) const {
  const Piece& p = pieces_[i];
  struct stat st;
  if (fstat(fds_[i].get(), &st) != 0) {
    return Failure::make("ERR_PIXELRTS_IO", "input " + p.path + ": cannot stat it (" + std::strerror(errno) + ")");
  }
  if (static_cast<uint64_t>(st.st_size) != p.size || MtimeNs(st) != p.mtime_ns) {
    return Failure::make("ERR_PIXELRTS_INPUT_CHANGED",
                         "input " + p.path + " changed while it was being packed (" + std::to_string(p.size) +
                             " bytes when hashed, " + std::to_string(st.st_size) +
                             " now, or a newer modification time); nothing was written. Convert it again once "
                             "nothing writes to it.");
  }
  return Failure::none();
}

Failure ConcatSource::read(uint64_t offset, uint8_t* dst, size_t n) const {
  // The last piece starting at or before offset (empty pieces share their start with the next).
  size_t i = static_cast<size_t>(std::upper_bound(starts_.begin(), starts_.end(), offset) - starts_.begin()) - 1;
  while (n > 0) {
    while (offset - starts_[i] >= pieces_[i].size) i++;  // skip empty pieces and the one just finished
    const Piece& p = pieces_[i];
    const uint64_t within = offset - starts_[i];
    const size_t take = static_cast<size_t>(std::min<uint64_t>(n, p.size - within));
    if (p.data != nullptr) {
      std::memcpy(dst, p.data + within, take);
    } else {
      const int err = PreadFull(fds_[i].get(), dst, take, within);
      if (err == kEndOfFile) {
        return Failure::make("ERR_PIXELRTS_INPUT_CHANGED", "input " + p.path + " ended before byte " +
                                                               std::to_string(within + take) + " although it had " +
                                                               std::to_string(p.size) +
                                                               " when it was hashed; nothing was written. Convert "
                                                               "it again once nothing writes to it.");
      }
      if (err != 0) {
        return Failure::make("ERR_PIXELRTS_IO", "input " + p.path + ": cannot read at byte " + std::to_string(within) +
                                                    " (" + std::strerror(err) + ")");
      }
    }
    dst += take;
    offset += take;
    n -= take;
  }
  return Failure::none();
}

Failure ConcatSource::verify_unchanged() const {
  for (size_t i = 0; i < pieces_.size(); i++) {
    if (pieces_[i].data != nullptr) continue;
    Failure f = check_file(i);
    if (!f.ok()) return f;
  }
  return Failure::none();
}

}  // namespace pixelrts::codec
