#include "codec/png_file_writer.h"

#include <libdeflate.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <vector>

#include "codec/band_encoder.h"
#include "codec/band_index.h"
#include "codec/big_endian.h"
#include "codec/deflater.h"
#include "codec/hilbert.h"

namespace pixelrts::codec {

namespace {

Failure WriteFailure(const std::string& name, int e) {
  if (e == ENOSPC || e == EDQUOT) {
    return Failure::make("ERR_PIXELRTS_NO_SPACE", "no space left writing " + name +
                                                      "; nothing was written. Free some space there or write elsewhere.");
  }
  return Failure::make("ERR_PIXELRTS_IO", "cannot write " + name + " (" + std::strerror(e) + ")");
}

// Writes the file sequentially, cutting the zlib stream into IDAT chunks of PngWriter::kIdatChunk
// bytes as PngWriter::Encode does.
class ChunkedFile {
 public:
  ChunkedFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) { idat_.reserve(PngWriter::kIdatChunk); }

  uint64_t position() const { return pos_; }

  Failure raw(const uint8_t* p, size_t n) {
    while (n > 0) {
      const ssize_t w = ::write(fd_, p, n);
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return WriteFailure(name_, errno);
      p += w;
      n -= static_cast<size_t>(w);
      pos_ += static_cast<uint64_t>(w);
    }
    return Failure::none();
  }

  // Appends zlib stream bytes, writing every IDAT chunk that fills up.
  Failure idat(const uint8_t* p, size_t n) {
    while (n > 0) {
      const size_t take = std::min(n, PngWriter::kIdatChunk - idat_.size());
      idat_.insert(idat_.end(), p, p + take);
      p += take;
      n -= take;
      if (idat_.size() == PngWriter::kIdatChunk) {
        Failure f = flush_idat();
        if (!f.ok()) return f;
      }
    }
    return Failure::none();
  }

  Failure flush_idat() {
    if (idat_.empty()) return Failure::none();
    Failure f = chunk("IDAT", idat_.data(), idat_.size());
    idat_.clear();
    return f;
  }

  Failure chunk(const char* type, const uint8_t* data, size_t n) {
    uint8_t head[8];
    PutBe32(head, static_cast<uint32_t>(n));
    std::memcpy(head + 4, type, 4);
    uint8_t crc[4];
    uint32_t c = libdeflate_crc32(0, head + 4, 4);
    if (n > 0) c = libdeflate_crc32(c, data, n);  // libdeflate answers the initial value for a NULL buffer
    PutBe32(crc, c);
    Failure f = raw(head, 8);
    if (f.ok() && n > 0) f = raw(data, n);
    if (f.ok()) f = raw(crc, 4);
    return f;
  }

 private:
  int fd_;
  std::string name_;
  uint64_t pos_ = 0;
  std::vector<uint8_t> idat_;
};

}  // namespace

Failure PngFileWriter::Write(const StreamSource& source, const EncodeParams& params, int fd, const std::string& name,
                             const Progress& progress) {
  Failure f = PngWriter::Validate(source.size(), params);
  if (!f.ok()) return f;
  const uint32_t grid = params.grid == 0 ? PngWriter::DefaultGrid(source.size()) : params.grid;
  HilbertTiling tiling(grid, false);
  const uint32_t bands = tiling.bands();
  const int threads = PngWriter::Threads(params);

  ChunkedFile out(fd, name);
  const std::vector<uint8_t> head = PngWriter::Head(grid, params.texts);
  f = out.raw(head.data(), head.size());
  if (!f.ok()) return f;

  // The band index goes before the image data but its offsets are known only after it:
  // reserve the chunk now (its size depends only on the band count) and fill it in at the end.
  BandIndex index;
  index.rows_per_band = tiling.tile_side();
  index.offsets.assign(size_t{bands} + 1, 0);
  const uint64_t index_at = out.position();
  if (params.band_index) {
    const std::vector<uint8_t> placeholder = index.Serialize();
    f = out.chunk(BandIndex::kChunkType, placeholder.data(), placeholder.size());
    if (!f.ok()) return f;
  }

  uint8_t zlib_header[2];
  Deflater(params.level).zlib_header(zlib_header);
  f = out.idat(zlib_header, 2);
  if (!f.ok()) return f;

  BandPipeline pipeline(tiling, source, params.level, threads);
  const uint64_t band_bytes = (uint64_t{grid} * 4 + 1) * tiling.tile_side();
  const uint32_t batch = static_cast<uint32_t>(threads) * 2;
  std::vector<EncodedBand> encoded;
  uint64_t zpos = 2;
  uint32_t adler = 1;
  for (uint32_t first = 0; first < bands; first += batch) {
    const uint32_t count = std::min(batch, bands - first);
    f = pipeline.run(first, count, &encoded);
    if (!f.ok()) return f;
    for (uint32_t i = 0; i < count; i++) {
      index.offsets[first + i] = zpos;
      f = out.idat(encoded[i].bytes.data(), encoded[i].bytes.size());
      if (!f.ok()) return f;
      zpos += encoded[i].bytes.size();
      adler = Adler32Combine(adler, encoded[i].adler, band_bytes);
    }
    if (progress) progress(source.size() * (first + count) / bands, source.size());
  }
  index.offsets[bands] = zpos;
  uint8_t trailer[4];
  PutBe32(trailer, adler);
  f = out.idat(trailer, 4);
  if (f.ok()) f = out.flush_idat();
  if (f.ok()) f = out.chunk("IEND", nullptr, 0);
  if (!f.ok()) return f;

  if (params.band_index) {
    std::vector<uint8_t> chunk;
    const std::vector<uint8_t> data = index.Serialize();
    PngWriter::AppendChunk(&chunk, BandIndex::kChunkType, data.data(), data.size());
    size_t done = 0;
    while (done < chunk.size()) {
      const ssize_t w = ::pwrite(fd, chunk.data() + done, chunk.size() - done, static_cast<off_t>(index_at + done));
      if (w < 0 && errno == EINTR) continue;
      if (w < 0) return WriteFailure(name, errno);
      done += static_cast<size_t>(w);
    }
  }
  return Failure::none();
}

}  // namespace pixelrts::codec
