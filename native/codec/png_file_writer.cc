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
#include "codec/hash_tree.h"
#include "codec/hilbert.h"
#include "common/full_io.h"
#include "common/sha256.h"

namespace pixelrts::codec {

namespace {

Failure WriteFailure(const std::string& name, int e) {
  if (e == ENOSPC || e == EDQUOT) {
    return Failure::make("ERR_PIXELRTS_NO_SPACE", "no space left writing " + name +
                                                      "; nothing was written. Free some space there or write elsewhere.");
  }
  return Failure::make("ERR_PIXELRTS_IO", "cannot write " + name + " (" + std::strerror(e) + ")");
}

Failure PwriteAll(int fd, const uint8_t* p, size_t n, uint64_t pos, const std::string& name) {
  const int err = PwriteFull(fd, p, n, pos);
  return err == 0 ? Failure::none() : WriteFailure(name, err);
}

// Writes the file sequentially, cutting the zlib stream into IDAT chunks of PngWriter::kIdatChunk
// bytes as PngWriter::Encode does.
class ChunkedFile {
 public:
  ChunkedFile(int fd, std::string name) : fd_(fd), name_(std::move(name)) { idat_.reserve(PngWriter::kIdatChunk); }

  uint64_t position() const { return pos_; }

  Failure raw(const uint8_t* p, size_t n) {
    const int err = WriteFull(fd_, p, n);
    if (err != 0) return WriteFailure(name_, err);
    pos_ += n;
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

  // Leaves a hole of n bytes, filled later with pwrite.
  Failure skip(uint64_t n) {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return WriteFailure(name_, errno);
    pos_ += n;
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

  // The hash tree's chunk too: its header now, the rest (leaves as bands are encoded, then the
  // band hashes, the root and the CRC) into the hole left for it.
  const bool tree = PngWriter::WantsHashTree(params);
  const HashTreeLayout layout{static_cast<uint32_t>(tiling.tile_pixels() * 4), bands, tiling.tiles_per_side()};
  uint64_t tree_at = 0;  // where the chunk's data starts in the file
  uint32_t tree_crc = 0;
  std::vector<uint8_t> band_hashes;
  if (tree) {
    uint8_t head8[8];
    PutBe32(head8, static_cast<uint32_t>(layout.data_size()));
    std::memcpy(head8 + 4, HashTreeLayout::kChunkType, 4);
    const std::vector<uint8_t> header = layout.Header();
    f = out.raw(head8, 8);
    tree_at = out.position();
    if (f.ok()) f = out.raw(header.data(), header.size());
    if (f.ok()) f = out.skip(layout.data_size() - header.size() + 4);
    if (!f.ok()) return f;
    tree_crc = libdeflate_crc32(libdeflate_crc32(0, head8 + 4, 4), header.data(), header.size());
    band_hashes.resize(size_t{bands} * Sha256::kSize);
  }

  uint8_t zlib_header[2];
  Deflater(params.level).zlib_header(zlib_header);
  f = out.idat(zlib_header, 2);
  if (!f.ok()) return f;

  BandPipeline pipeline(tiling, source, params.level, threads, tree);
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
      if (tree) {
        const std::vector<uint8_t>& leaves = encoded[i].leaves;
        f = PwriteAll(fd, leaves.data(), leaves.size(), tree_at + layout.leaves_offset(first + i), name);
        if (!f.ok()) return f;
        tree_crc = libdeflate_crc32(tree_crc, leaves.data(), leaves.size());
        Sha256::Digest(leaves.data(), leaves.size(), band_hashes.data() + size_t{first + i} * Sha256::kSize);
      }
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
    f = PwriteAll(fd, chunk.data(), chunk.size(), index_at, name);
    if (!f.ok()) return f;
  }
  if (tree) {
    std::vector<uint8_t> rest(band_hashes);
    rest.resize(rest.size() + Sha256::kSize);
    Sha256::Digest(band_hashes.data(), band_hashes.size(), rest.data() + band_hashes.size());  // the root
    tree_crc = libdeflate_crc32(tree_crc, rest.data(), rest.size());
    rest.resize(rest.size() + 4);
    PutBe32(rest.data() + rest.size() - 4, tree_crc);
    f = PwriteAll(fd, rest.data(), rest.size(), tree_at + layout.band_hashes_offset(), name);
    if (!f.ok()) return f;
  }
  return Failure::none();
}

}  // namespace pixelrts::codec
