// ZlibInflate: RAII owner of one zlib inflate stream (zlib header and adler-32 checked). zlib,
// not libdeflate, where the data must be inflated as it streams past in bounded memory:
// libdeflate inflates whole buffers only.
#pragma once

#include <zlib.h>

namespace pixelrts::codec {

class ZlibInflate {
 public:
  ZlibInflate() { ok_ = inflateInit(&zs_) == Z_OK; }
  ~ZlibInflate() {
    if (ok_) inflateEnd(&zs_);
  }
  ZlibInflate(const ZlibInflate&) = delete;
  ZlibInflate& operator=(const ZlibInflate&) = delete;

  bool ok() const { return ok_; }
  z_stream* get() { return &zs_; }
  z_stream* operator->() { return &zs_; }

 private:
  z_stream zs_{};
  bool ok_ = false;
};

}  // namespace pixelrts::codec
