// Inflater: RAII owner of a libdeflate decompressor (one per thread; not thread-safe), with
// the outcomes turned into Failures that say which data was bad and how.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

#include "codec/byte_buffer.h"
#include "common/failure.h"

struct libdeflate_decompressor;

namespace pixelrts::codec {

class Inflater {
 public:
  Inflater();
  ~Inflater();
  Inflater(const Inflater&) = delete;
  Inflater& operator=(const Inflater&) = delete;

  // False when libdeflate could not allocate its state.
  bool ok() const { return d_ != nullptr; }

  // Inflates the zlib stream `in` into exactly `out_size` bytes at `out`; a stream holding more
  // or fewer bytes is an error. `what` names the data in messages (e.g. "IDAT of x.png").
  // Bytes after the end of the zlib stream are ignored.
  Failure zlib_exact(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_size, const std::string& what);

  // Inflates the raw deflate stream `in` into at most `out_capacity` bytes; sets *produced and
  // *consumed (input bytes up to the end of the final block). Returns false (without a message)
  // when the data is invalid or does not fit: callers that use this on hints fall back.
  bool raw(const uint8_t* in, size_t in_size, uint8_t* out, size_t out_capacity, size_t* consumed,
           size_t* produced);

  // Inflates a whole zlib stream of unknown output size, growing the output up to max_out
  // bytes. `in` must hold exactly the stream (trailing bytes are an error).
  Failure zlib_bounded(const uint8_t* in, size_t in_size, size_t max_out, ByteBuffer* out, size_t* produced,
                       const std::string& what);

 private:
  libdeflate_decompressor* d_;
};

}  // namespace pixelrts::codec
