#include "nbd/export_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "common/sha256.h"

namespace pixelrts::nbd {

namespace {

std::string Range(uint64_t offset, uint64_t count) {
  return "[" + std::to_string(offset) + ", " + std::to_string(offset + count) + ")";
}

std::string Hex(const uint8_t* bytes, size_t n) {
  static const char* kHex = "0123456789abcdef";
  std::string out;
  for (size_t i = 0; i < n; i++) {
    out.push_back(kHex[bytes[i] >> 4]);
    out.push_back(kHex[bytes[i] & 15]);
  }
  return out;
}

}  // namespace

ExportReader::ExportReader(std::shared_ptr<PayloadSource> source, const Export* file, bool verified_reads)
    : source_(std::move(source)), file_(file), verified_reads_(verified_reads) {}

template <typename Visit>
int ExportReader::each_piece(uint64_t offset, uint64_t count, std::string* why, Visit&& visit) const {
  const Export& f = *file_;
  if (offset > f.size || count > f.size - offset) {
    *why = "bytes " + Range(offset, count) + " lie outside the " + std::to_string(f.size) + "-byte file";
    return EINVAL;
  }
  if (count == 0) return 0;
  // The extent holding `offset`: the last one starting at or before it.
  size_t i = static_cast<size_t>(std::upper_bound(f.starts.begin(), f.starts.end(), offset) - f.starts.begin()) - 1;
  for (uint64_t pos = offset, end = offset + count; pos < end; i++) {
    const Extent& x = f.extents[i];
    const uint64_t into = pos - f.starts[i];
    const uint64_t n = std::min(end - pos, x.length - into);
    const int rc = source_->wait_ready(x.offset + into, n);
    if (rc != 0) {
      const std::string failure = source_->failure();
      *why = "bytes " + Range(pos, n) + ": " +
             (rc == EINTR ? std::string("the payload was closed (nbdkit is shutting down)")
                          : failure.empty() ? std::string("the payload cannot be decoded") : failure);
      return rc == EINTR ? ESHUTDOWN : EIO;
    }
    const int err = visit(x.offset + into, n, pos - offset);
    if (err != 0) {
      *why = "bytes " + Range(pos, n) + ": cannot read the decoded payload (" + std::strerror(err) + ")";
      return EIO;
    }
    pos += n;
  }
  return 0;
}

int ExportReader::read(uint8_t* buf, uint64_t offset, uint64_t count, std::string* why) const {
  return each_piece(offset, count, why, [&](uint64_t at, uint64_t n, uint64_t into) {
    return CopyOut(*source_, at, buf + into, static_cast<size_t>(n));
  });
}

int ExportReader::prefetch(uint64_t offset, uint64_t count, std::string* why) const {
  return each_piece(offset, count, why, [](uint64_t, uint64_t, uint64_t) { return 0; });
}

Failure ExportReader::check() {
  if (verified_reads_ || file_->sha256.empty()) return Failure::none();
  std::lock_guard<std::mutex> lock(check_mu_);
  if (checked_) return check_result_;
  check_result_ = [&]() -> Failure {
    if (!Sha256::Available()) {
      return Failure::make("ERR_PIXELRTS_DEPENDENCY",
                           "no SHA-256 to check \"" + file_->name + "\" with: OpenSSL's libcrypto.so.3 was not found "
                           "(Debian package libssl3)");
    }
    Sha256 hash;
    if (!hash.ok()) return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory hashing \"" + file_->name + "\"");
    constexpr uint64_t kStep = uint64_t{4} << 20;
    std::vector<uint8_t> buffer(static_cast<size_t>(std::min<uint64_t>(kStep, file_->size)));
    for (uint64_t done = 0; done < file_->size;) {
      const uint64_t n = std::min(kStep, file_->size - done);
      std::string why;
      if (read(buffer.data(), done, n, &why) != 0) {
        return Failure::make("ERR_PIXELRTS_DECODE", "\"" + file_->name + "\" " + why);
      }
      hash.Update(buffer.data(), static_cast<size_t>(n));
      done += n;
    }
    uint8_t digest[Sha256::kSize];
    hash.Final(digest);
    const std::string found = Hex(digest, sizeof digest);
    if (found == file_->sha256) return Failure::none();
    return Failure::make("ERR_PIXELRTS_HASH", "\"" + file_->name + "\" sha256 does not match: expected " + file_->sha256 +
                                                  ", found " + found +
                                                  ". The container is corrupt or was modified after it was written; "
                                                  "re-create it from its sources.");
  }();
  checked_ = true;
  return check_result_;
}

}  // namespace pixelrts::nbd
