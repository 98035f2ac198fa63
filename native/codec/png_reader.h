// PngReader: walks the chunks of a PixelRTS PNG held in memory and validates everything a
// decode relies on before a byte is inflated: the signature, every chunk's length and CRC,
// IHDR (8-bit RGBA, not interlaced, square, power-of-two side within the size cap), the
// chunk order, and where the IDAT data lies. Text chunks (tEXt, zTXt, iTXt) are decoded on
// request; the band index chunk (band_index.h) is parsed when present and well-formed.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "codec/band_index.h"
#include "common/failure.h"

namespace pixelrts::codec {

struct PngText {
  std::string chunk;    // "tEXt", "zTXt" or "iTXt"
  std::string keyword;  // UTF-8
  std::string text;     // UTF-8 (tEXt/zTXt are Latin-1 in the file)
};

// Where the hash tree chunk's data lies in the file (length 0: there is none).
struct HashTreeSpan {
  uint64_t offset = 0;
  uint32_t length = 0;
};

// Where one IDAT chunk's data lies in the file.
struct IdatSpan {
  size_t offset;
  size_t length;
};

class PngReader {
 public:
  // Largest grid side accepted: 65536² pixels is a 16 GiB stream (a 16 GB disk image fits).
  static constexpr uint32_t kMaxGrid = 65536;
  // Largest text accepted, decompressed, in all the text chunks together.
  static constexpr size_t kMaxText = size_t{256} << 20;

  // The most deflate can expand its input (258 bytes from a 2-bit code, with slack).
  static constexpr uint64_t kMaxInflateRatio = 1040;
  // IDAT chunks up to this size are read whole by read_idat() so their CRC can be checked.
  static constexpr uint32_t kMaxCheckedChunk = uint32_t{16} << 20;

  // Parses `data` (which must outlive the reader). `read_texts`: decode text chunks too.
  Failure parse(const uint8_t* data, size_t size, bool read_texts);

  // Parses the file open on `fd` (which must stay open) of `size` bytes, reading every chunk
  // but the image data: memory and time do not grow with the image. IDAT chunks are read, and
  // their CRCs checked, by read_idat() when a decode needs them. `name` is for messages.
  Failure parse_file(int fd, uint64_t size, const std::string& name, bool read_texts);

  // ERR_PIXELRTS_PNG_TRUNCATED when the image data is too short to inflate to the scanlines the
  // header claims (parse_file checks it; a decoder of a parse()d file calls it before sizing
  // anything by the header, since parse() also serves head-only checks).
  Failure check_inflatable() const;

  uint32_t width() const { return width_; }
  uint32_t height() const { return height_; }
  uint8_t bit_depth() const { return bit_depth_; }
  uint8_t color_type() const { return color_type_; }
  uint8_t interlace() const { return interlace_; }
  uint32_t grid() const { return width_; }

  // Bytes per scanline including the filter byte, and of all scanlines.
  uint64_t stride() const { return uint64_t{width_} * 4 + 1; }
  uint64_t raw_size() const { return stride() * height_; }

  // The bytes parse() was given; nullptr after parse_file().
  const uint8_t* data() const { return data_; }
  const std::vector<IdatSpan>& idat() const { return idat_; }
  uint64_t idat_size() const { return idat_size_; }
  // Copies bytes [begin, end) of the concatenated IDAT data to `out` (after parse()).
  void copy_idat(uint64_t begin, uint64_t end, uint8_t* out) const;
  // The same after parse() or parse_file(); from a file, each IDAT chunk touched is read whole
  // and its CRC checked (chunks up to kMaxCheckedChunk), so corrupt data is an error, never bytes.
  Failure read_idat(uint64_t begin, uint64_t end, uint8_t* out) const;

  const std::vector<PngText>& texts() const { return texts_; }
  const BandIndex* band_index() const { return has_band_index_ ? &band_index_ : nullptr; }
  // The pxHT chunk (hash_tree.h); after parse_file() neither read nor CRC-checked.
  const HashTreeSpan& hash_tree() const { return hash_tree_; }
  // Why a present pxBI chunk is not used (empty when absent or fine).
  const std::string& band_index_problem() const { return band_index_problem_; }

 private:
  Failure parse_ihdr(const uint8_t* p, uint32_t length);
  Failure parse_text(const char* type, const uint8_t* p, uint32_t length, size_t chunk_offset);
  // Walks the chunks; bytes(pos, n, &p) points p at n bytes of the file from pos.
  template <typename Bytes>
  Failure parse_chunks(uint64_t size, bool read_texts, Bytes&& bytes);
  Failure pread_all(uint64_t pos, size_t n, uint8_t* out) const;
  // parse_file at the first IDAT chunk (at pos, `length` bytes): lays out the whole run when the
  // file's size says it is chunks of that length (the last shorter) up to IEND; false otherwise.
  bool uniform_idat_run(uint64_t pos, uint32_t length, uint64_t size);

  const uint8_t* data_ = nullptr;
  int fd_ = -1;
  std::string name_;
  bool headers_unread_ = false;  // the IDAT run was laid out by uniform_idat_run
  uint32_t width_ = 0, height_ = 0;
  uint8_t bit_depth_ = 0, color_type_ = 0, interlace_ = 0;
  std::vector<IdatSpan> idat_;
  std::vector<uint64_t> idat_starts_;  // offset of each span inside the concatenated data
  uint64_t idat_size_ = 0;
  std::vector<PngText> texts_;
  size_t text_bytes_ = 0;  // text decoded so far, against kMaxText
  BandIndex band_index_;
  bool has_band_index_ = false;
  HashTreeSpan hash_tree_;
  std::string band_index_problem_;
};

}  // namespace pixelrts::codec
