#include "codec/png_writer.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>
#include <thread>

#include "codec/band_encoder.h"
#include "codec/big_endian.h"
#include "codec/band_gather.h"
#include "codec/band_index.h"
#include "codec/deflater.h"
#include "codec/hash_tree.h"
#include "codec/hilbert.h"
#include "codec/png_reader.h"
#include "common/sha256.h"

namespace pixelrts::codec {

namespace {

// Decodes UTF-8 (valid, as Node-API produces it) into code points.
std::vector<uint32_t> CodePoints(const std::string& s) {
  std::vector<uint32_t> cps;
  cps.reserve(s.size());
  for (size_t i = 0; i < s.size();) {
    const uint8_t c = static_cast<uint8_t>(s[i]);
    uint32_t cp;
    size_t n;
    if (c < 0x80) { cp = c; n = 1; }
    else if ((c >> 5) == 6) { cp = c & 0x1F; n = 2; }
    else if ((c >> 4) == 14) { cp = c & 0x0F; n = 3; }
    else { cp = c & 0x07; n = 4; }
    for (size_t k = 1; k < n && i + k < s.size(); k++) cp = (cp << 6) | (static_cast<uint8_t>(s[i + k]) & 0x3F);
    cps.push_back(cp);
    i += n;
  }
  return cps;
}

bool ToLatin1(const std::string& utf8, std::string* out) {
  out->clear();
  for (uint32_t cp : CodePoints(utf8)) {
    if (cp > 0xFF) return false;
    out->push_back(static_cast<char>(cp));
  }
  return true;
}

// Builds the chunk sequence into one buffer, computing each CRC as it goes.
class ChunkSink {
 public:
  explicit ChunkSink(uint8_t* out) : out_(out) {}
  void raw(const void* p, size_t n) {
    std::memcpy(out_ + pos_, p, n);
    pos_ += n;
  }
  void chunk(const char* type, const uint8_t* data, size_t n) {
    PutBe32(out_ + pos_, static_cast<uint32_t>(n));
    std::memcpy(out_ + pos_ + 4, type, 4);
    if (n > 0) std::memcpy(out_ + pos_ + 8, data, n);
    PutBe32(out_ + pos_ + 8 + n, libdeflate_crc32(0, out_ + pos_ + 4, n + 4));
    pos_ += n + 12;
  }
  size_t size() const { return pos_; }

 private:
  uint8_t* out_;
  size_t pos_ = 0;
};

// Compresses the image band by band with full flushes; false when that did not work out
// (the caller then writes a plain stream).
bool CompressBanded(const HilbertTiling& tiling, const uint8_t* stream, uint64_t stream_size, int level,
                    int threads, bool hash_tree, ByteBuffer* zstream, size_t* zsize, BandIndex* index,
                    std::vector<uint8_t>* tree) {
  MemorySource source(stream, stream_size);
  BandPipeline pipeline(tiling, source, level, threads, hash_tree);
  std::vector<EncodedBand> bands;
  if (!pipeline.run(0, tiling.bands(), &bands).ok()) return false;
  if (hash_tree) {
    HashTreeLayout layout{static_cast<uint32_t>(tiling.tile_pixels() * 4), tiling.bands(), tiling.tiles_per_side()};
    *tree = layout.Header();
    std::vector<uint8_t> band_hashes(size_t{tiling.bands()} * Sha256::kSize);
    for (uint32_t b = 0; b < tiling.bands(); b++) {
      tree->insert(tree->end(), bands[b].leaves.begin(), bands[b].leaves.end());
      Sha256::Digest(bands[b].leaves.data(), bands[b].leaves.size(), band_hashes.data() + size_t{b} * Sha256::kSize);
    }
    tree->insert(tree->end(), band_hashes.begin(), band_hashes.end());
    tree->resize(tree->size() + Sha256::kSize);
    Sha256::Digest(band_hashes.data(), band_hashes.size(), tree->data() + tree->size() - Sha256::kSize);
  }
  Deflater header_source(level);
  uint64_t total = 2 + 4;
  for (const EncodedBand& b : bands) total += b.bytes.size();
  if (!zstream->allocate(static_cast<size_t>(total))) return false;
  uint8_t* z = zstream->data();
  header_source.zlib_header(z);
  size_t pos = 2;
  uint32_t adler = 1;
  const uint64_t band_bytes = (uint64_t{tiling.grid()} * 4 + 1) * tiling.tile_side();
  index->rows_per_band = tiling.tile_side();
  index->offsets.clear();
  for (const EncodedBand& b : bands) {
    index->offsets.push_back(pos);
    std::memcpy(z + pos, b.bytes.data(), b.bytes.size());
    pos += b.bytes.size();
    adler = Adler32Combine(adler, b.adler, band_bytes);
  }
  index->offsets.push_back(pos);
  PutBe32(z + pos, adler);
  *zsize = pos + 4;
  return true;
}

Failure CompressPlain(const HilbertTiling& tiling, const uint8_t* stream, uint64_t stream_size, int level,
                      ByteBuffer* zstream, size_t* zsize) {
  const size_t stride = size_t{tiling.grid()} * 4 + 1;
  const uint32_t rows = tiling.tile_side();
  const size_t raw_size = stride * tiling.grid();
  ByteBuffer raw;
  Deflater deflater(level);
  if (!deflater.ok() || !raw.allocate(raw_size) || !zstream->allocate(deflater.zlib_bound(raw_size))) {
    return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory encoding a " + std::to_string(tiling.grid()) + "x" +
                                                       std::to_string(tiling.grid()) + " image");
  }
  BandGather gather(tiling, stride);
  for (uint32_t b = 0; b < tiling.bands(); b++) {
    uint8_t* band = raw.data() + size_t{b} * rows * stride;
    for (uint32_t r = 0; r < rows; r++) band[r * stride] = 0;
    gather.scatter(b, band + 1, stream, stream_size);
  }
  *zsize = deflater.zlib(raw.data(), raw_size, zstream->data(), zstream->size());
  if (*zsize == 0) return Failure::make("ERR_PIXELRTS_DEFLATE", "libdeflate could not compress the image data");
  return Failure::none();
}

}  // namespace

uint32_t PngWriter::DefaultGrid(uint64_t stream_size) {
  if (stream_size == 0) return 1;
  uint64_t g = 4;
  while (g * g * 4 < stream_size) g <<= 1;
  return static_cast<uint32_t>(g);
}

Failure PngWriter::Validate(uint64_t stream_size, const EncodeParams& params) {
  const uint64_t g = params.grid == 0 ? DefaultGrid(stream_size) : params.grid;
  if (g == 0 || (g & (g - 1)) != 0) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", "encodePng: grid must be a power of two, got " + std::to_string(g));
  }
  if (g > PngReader::kMaxGrid) {
    return Failure::make("ERR_PIXELRTS_TOO_LARGE", "encodePng: a " + std::to_string(stream_size) +
                                                       "-byte stream needs a " + std::to_string(g) + "x" +
                                                       std::to_string(g) + " grid, larger than the supported " +
                                                       std::to_string(PngReader::kMaxGrid));
  }
  if (g * g * 4 < stream_size) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", "encodePng: a " + std::to_string(g) + "x" + std::to_string(g) +
                                                      " grid holds " + std::to_string(g * g * 4) + " bytes, the stream has " +
                                                      std::to_string(stream_size));
  }
  if (params.level < 0 || params.level > 12) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", "encodePng: level must be 0 to 12, got " + std::to_string(params.level));
  }
  for (const PngTextEntry& t : params.texts) {
    std::string latin1;
    if (!ToLatin1(t.keyword, &latin1) || latin1.empty() || latin1.size() > 79 ||
        latin1.find('\0') != std::string::npos) {
      return Failure::make("ERR_PIXELRTS_ARGUMENT", "encodePng: text keyword \"" + t.keyword +
                                                        "\" must be 1 to 79 Latin-1 characters without NUL");
    }
    if (t.text.find('\0') != std::string::npos) {
      return Failure::make("ERR_PIXELRTS_ARGUMENT", "encodePng: the text of \"" + t.keyword + "\" contains a NUL character");
    }
    if (t.text.size() > 0x7FFFFFFFu - 100) {
      return Failure::make("ERR_PIXELRTS_TOO_LARGE", "encodePng: the text of \"" + t.keyword + "\" exceeds a PNG chunk");
    }
  }
  return Failure::none();
}

bool PngWriter::WantsHashTree(const EncodeParams& params) {
  return params.band_index && params.hash_tree && Sha256::Available();
}

int PngWriter::Threads(const EncodeParams& params) {
  if (params.threads > 0) return std::min(params.threads, 2);
  return std::thread::hardware_concurrency() >= 2 ? 2 : 1;
}

void PngWriter::AppendChunk(std::vector<uint8_t>* out, const char* type, const uint8_t* data, size_t n) {
  const size_t at = out->size();
  out->resize(at + n + 12);
  ChunkSink sink(out->data() + at);
  sink.chunk(type, data, n);
}

std::vector<uint8_t> PngWriter::Head(uint32_t grid, const std::vector<PngTextEntry>& texts) {
  static const uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};
  std::vector<uint8_t> head(kSignature, kSignature + 8);
  uint8_t ihdr[13];
  PutBe32(ihdr, grid);
  PutBe32(ihdr + 4, grid);
  ihdr[8] = 8;   // bit depth
  ihdr[9] = 6;   // RGBA
  ihdr[10] = 0;  // deflate
  ihdr[11] = 0;  // adaptive filtering (method 0)
  ihdr[12] = 0;  // not interlaced
  AppendChunk(&head, "IHDR", ihdr, 13);
  // Text chunks: tEXt (Latin-1) when possible, else iTXt (UTF-8, uncompressed).
  for (const PngTextEntry& t : texts) {
    std::string keyword, text, data;
    ToLatin1(t.keyword, &keyword);
    const bool latin1 = ToLatin1(t.text, &text);
    data = latin1 ? keyword + '\0' + text : keyword + std::string("\0\0\0\0\0", 5) + t.text;
    AppendChunk(&head, latin1 ? "tEXt" : "iTXt", reinterpret_cast<const uint8_t*>(data.data()), data.size());
  }
  return head;
}

Failure PngWriter::Encode(const uint8_t* stream, uint64_t stream_size, const EncodeParams& params, ByteBuffer* out,
                          size_t* out_size) {
  Failure f = Validate(stream_size, params);
  if (!f.ok()) return f;
  const uint32_t grid = params.grid == 0 ? DefaultGrid(stream_size) : params.grid;
  HilbertTiling tiling(grid, false);

  ByteBuffer zstream;
  size_t zsize = 0;
  BandIndex index;
  std::vector<uint8_t> tree;
  bool banded = false;
  if (params.band_index) {
    banded = CompressBanded(tiling, stream, stream_size, params.level, Threads(params), WantsHashTree(params), &zstream,
                            &zsize, &index, &tree);
  }
  if (!banded) {
    f = CompressPlain(tiling, stream, stream_size, params.level, &zstream, &zsize);
    if (!f.ok()) return f;
  }

  const std::vector<uint8_t> head = Head(grid, params.texts);
  std::vector<uint8_t> index_data;
  if (banded) index_data = index.Serialize();

  size_t total = head.size() + 12;
  if (banded) total += index_data.size() + 12;
  if (!tree.empty()) total += tree.size() + 12;
  const size_t idat_chunks = std::max<size_t>(1, (zsize + kIdatChunk - 1) / kIdatChunk);
  total += zsize + 12 * idat_chunks;
  if (!out->allocate(total)) {
    return Failure::make("ERR_PIXELRTS_NO_MEMORY", "out of memory for a " + std::to_string(total) + "-byte PNG");
  }
  ChunkSink sink(out->data());
  sink.raw(head.data(), head.size());
  if (banded) sink.chunk(BandIndex::kChunkType, index_data.data(), index_data.size());
  if (!tree.empty()) sink.chunk(HashTreeLayout::kChunkType, tree.data(), tree.size());
  for (size_t i = 0; i < idat_chunks; i++) {
    const size_t begin = i * kIdatChunk;
    sink.chunk("IDAT", zstream.data() + begin, std::min(kIdatChunk, zsize - begin));
  }
  sink.chunk("IEND", nullptr, 0);
  *out_size = sink.size();
  return Failure::none();
}

}  // namespace pixelrts::codec
