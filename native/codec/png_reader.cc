#include "codec/png_reader.h"

#include <libdeflate.h>

#include <algorithm>
#include <cstring>

#include "codec/big_endian.h"
#include "codec/hash_tree.h"
#include "codec/inflater.h"
#include "common/full_io.h"

namespace pixelrts::codec {

namespace {

constexpr uint8_t kSignature[8] = {0x89, 'P', 'N', 'G', 0x0D, 0x0A, 0x1A, 0x0A};

std::string Hex(const uint8_t* p, size_t n) {
  static const char* kDigits = "0123456789ABCDEF";
  std::string s;
  for (size_t i = 0; i < n; i++) {
    if (i) s += ' ';
    s += kDigits[p[i] >> 4];
    s += kDigits[p[i] & 15];
  }
  return s;
}

std::string Hex32(uint32_t v) {
  uint8_t b[4] = {static_cast<uint8_t>(v >> 24), static_cast<uint8_t>(v >> 16), static_cast<uint8_t>(v >> 8),
                  static_cast<uint8_t>(v)};
  std::string s = Hex(b, 4);
  s.erase(std::remove(s.begin(), s.end(), ' '), s.end());
  return "0x" + s;
}

// A chunk type for messages: the four letters, or their hex when they are not letters.
std::string TypeName(const uint8_t* t) {
  for (int i = 0; i < 4; i++) {
    if (!((t[i] >= 'A' && t[i] <= 'Z') || (t[i] >= 'a' && t[i] <= 'z'))) return "0x" + Hex(t, 4);
  }
  return std::string(reinterpret_cast<const char*>(t), 4);
}

std::string Latin1ToUtf8(const uint8_t* p, size_t n) {
  std::string s;
  s.reserve(n);
  for (size_t i = 0; i < n; i++) {
    if (p[i] < 0x80) {
      s += static_cast<char>(p[i]);
    } else {
      s += static_cast<char>(0xC0 | (p[i] >> 6));
      s += static_cast<char>(0x80 | (p[i] & 0x3F));
    }
  }
  return s;
}

Failure TruncatedAt(size_t offset, size_t size, const std::string& what) {
  return Failure::make("ERR_PIXELRTS_PNG_TRUNCATED", "PNG: " + what + " at byte " + std::to_string(offset) +
                                                         " is cut off (the file has " + std::to_string(size) +
                                                         " bytes): the file is truncated or a chunk length is corrupt");
}

Failure TextTooLarge(const std::string& where) {
  return Failure::make("ERR_PIXELRTS_TOO_LARGE", "PNG: with the " + where + ", the text chunks hold more than the " +
                                                     std::to_string(PngReader::kMaxText >> 20) +
                                                     " MiB of text allowed in all: the file is malformed or hostile");
}

}  // namespace

Failure PngReader::parse(const uint8_t* data, size_t size, bool read_texts) {
  data_ = data;
  fd_ = -1;
  return parse_chunks(size, read_texts, [&](uint64_t pos, size_t /*n*/, const uint8_t** out) {
    *out = data + pos;
    return Failure::none();
  });
}

Failure PngReader::parse_file(int fd, uint64_t size, const std::string& name, bool read_texts) {
  data_ = nullptr;
  fd_ = fd;
  name_ = name;
  std::vector<uint8_t> scratch;
  Failure f = parse_chunks(size, read_texts, [&](uint64_t pos, size_t n, const uint8_t** out) {
    scratch.resize(n);
    Failure r = pread_all(pos, n, scratch.data());
    *out = scratch.data();
    return r;
  });
  return f.ok() ? check_inflatable() : f;
}

bool PngReader::uniform_idat_run(uint64_t pos, uint32_t length, uint64_t size) {
  // Encoders cut the image data into chunks of one size (the last one shorter) with IEND right
  // after: pixelrts 1 MiB, Pillow 64 KiB. Where the file's size fits that, the run is laid out
  // from the first chunk and the last, without reading the thousands of headers between them
  // (8 GiB is 8192 of pixelrts' chunks); read_idat checks each chunk's header when it reads it.
  if (length == 0 || length > kMaxCheckedChunk || size < pos + 12) return false;
  const uint64_t region = size - 12 - pos;  // from this chunk to IEND
  const uint64_t step = uint64_t{length} + 12;
  uint64_t count = region / step;
  uint32_t last = length;
  if (region % step != 0) {
    const uint64_t rest = region % step;
    uint8_t header[8];
    if (rest < 13 || !pread_all(pos + count * step, 8, header).ok() || Be32(header) != rest - 12 ||
        std::memcmp(header + 4, "IDAT", 4) != 0) {
      return false;
    }
    last = static_cast<uint32_t>(rest - 12);
    count++;
  }
  uint8_t iend[8];
  if (!pread_all(size - 12, 8, iend).ok() || Be32(iend) != 0 || std::memcmp(iend + 4, "IEND", 4) != 0) return false;
  idat_.reserve(static_cast<size_t>(count));
  idat_starts_.reserve(static_cast<size_t>(count));
  for (uint64_t k = 0; k < count; k++) {
    const uint32_t n = k + 1 == count ? last : length;
    idat_starts_.push_back(idat_size_);
    idat_.push_back(IdatSpan{static_cast<size_t>(pos + k * step + 8), n});
    idat_size_ += n;
  }
  headers_unread_ = true;
  return true;
}

Failure PngReader::check_inflatable() const {
  // Deflate cannot expand data more than 1032:1 (258 bytes from a code of at least 2 bits): a
  // header claiming more scanlines than the image data could hold is refused before a decoder
  // sizes anything by it.
  if (raw_size() <= idat_size_ * kMaxInflateRatio + 65536) return Failure::none();
  return Failure::make("ERR_PIXELRTS_PNG_TRUNCATED",
                       "PNG: the header claims a " + std::to_string(width_) + "x" + std::to_string(height_) +
                           " image (" + std::to_string(raw_size()) + " bytes of scanlines) but the file holds " +
                           std::to_string(idat_size_) + " bytes of image data, which cannot inflate to that: the "
                           "file is truncated or forged");
}

Failure PngReader::pread_all(uint64_t pos, size_t n, uint8_t* out) const {
  const int err = PreadFull(fd_, out, n, pos);
  if (err == 0) return Failure::none();
  return Failure::make("ERR_PIXELRTS_IO", name_ + ": cannot read " + std::to_string(n) + " bytes at byte " +
                                              std::to_string(pos) + " (" +
                                              (err == kEndOfFile ? std::string("the file is shorter than it was") : std::strerror(err)) + ")");
}

template <typename Bytes>
Failure PngReader::parse_chunks(uint64_t size, bool read_texts, Bytes&& bytes) {
  const uint8_t* head = nullptr;
  if (size < 8 || !bytes(0, 8, &head).ok() || std::memcmp(head, kSignature, 8) != 0) {
    return Failure::make("ERR_PIXELRTS_PNG_SIGNATURE",
                         "not a PNG file: expected the signature 89 50 4E 47 0D 0A 1A 0A, found " +
                             (size == 0 ? std::string("an empty file") : size < 8 || head == nullptr ? std::string("fewer than 8 bytes") : Hex(head, 8)));
  }
  uint64_t pos = 8;
  bool seen_ihdr = false, seen_iend = false, idat_done = false;
  std::vector<uint8_t> band_index_chunk;
  bool has_band_index_chunk = false;
  while (!seen_iend) {
    if (pos == size) {
      return Failure::make("ERR_PIXELRTS_PNG_TRUNCATED", "PNG: the file ends at byte " + std::to_string(size) +
                                                             " without an IEND chunk: the file is truncated");
    }
    if (size - pos < 12) return TruncatedAt(pos, size, "a chunk header");
    const uint8_t* header = nullptr;
    Failure f = bytes(pos, 8, &header);
    if (!f.ok()) return f;
    const uint32_t length = Be32(header);
    uint8_t type[4];
    std::memcpy(type, header + 4, 4);
    const std::string name = TypeName(type);
    if (name.size() != 4) {
      return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: the chunk at byte " + std::to_string(pos) +
                                                         " has an invalid type " + name +
                                                         " (chunk types are four ASCII letters): the file is corrupt");
    }
    if (length > 0x7FFFFFFFu) {
      return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: chunk " + name + " at byte " + std::to_string(pos) +
                                                         " claims " + std::to_string(length) +
                                                         " bytes, more than the 2^31-1 PNG allows: the file is corrupt");
    }
    if (size - pos - 12 < length) {
      return Failure::make("ERR_PIXELRTS_PNG_TRUNCATED",
                           "PNG: chunk " + name + " at byte " + std::to_string(pos) + " claims " + std::to_string(length) +
                               " bytes of data but only " + std::to_string(size - pos - 12) +
                               " remain: the file is truncated or the chunk length is corrupt");
    }
    const bool is_idat = name == "IDAT";
    // A file's image data is read, and its chunks' CRCs checked, only where a decode needs it
    // (read_idat); so is the hash tree (its hashes check the data); everything else is read and
    // checked now.
    const bool is_tree = name == HashTreeLayout::kChunkType;
    const bool deferred = (is_idat || is_tree) && fd_ >= 0;
    const uint8_t* body = nullptr;
    if (!deferred) {
      f = bytes(pos + 8, size_t{length} + 4, &body);
      if (!f.ok()) return f;
      const uint32_t stored_crc = Be32(body + length);
      const uint32_t crc = libdeflate_crc32(libdeflate_crc32(0, type, 4), body, length);
      if (crc != stored_crc) {
        return Failure::make("ERR_PIXELRTS_PNG_CRC", "PNG: chunk " + name + " at byte " + std::to_string(pos) +
                                                         " has CRC " + Hex32(stored_crc) + " but its bytes give " +
                                                         Hex32(crc) + ": the file is corrupt");
      }
    }
    if (!seen_ihdr && name != "IHDR") {
      return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: the first chunk is " + name + ", expected IHDR");
    }
    if (!is_idat && !idat_.empty()) idat_done = true;
    if (name == "IHDR") {
      if (seen_ihdr) return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: a second IHDR chunk at byte " + std::to_string(pos));
      f = parse_ihdr(body, length);
      if (!f.ok()) return f;
      seen_ihdr = true;
    } else if (is_idat) {
      if (idat_done) {
        return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: IDAT chunk at byte " + std::to_string(pos) +
                                                           " follows other chunks after the IDAT run; IDAT chunks must be consecutive");
      }
      if (fd_ >= 0 && idat_.empty() && uniform_idat_run(pos, length, size)) {
        pos = size - 12;  // on to the IEND chunk, read and checked as usual
        continue;
      }
      idat_starts_.push_back(idat_size_);
      idat_.push_back(IdatSpan{static_cast<size_t>(pos + 8), length});
      idat_size_ += length;
    } else if (name == "IEND") {
      seen_iend = true;
    } else if (name == "tEXt" || name == "zTXt" || name == "iTXt") {
      if (read_texts) {
        f = parse_text(name.c_str(), body, length, static_cast<size_t>(pos));
        if (!f.ok()) return f;
      }
    } else if (is_tree) {
      hash_tree_ = HashTreeSpan{pos + 8, length};
    } else if (name == BandIndex::kChunkType) {
      band_index_chunk.assign(body, body + length);
      has_band_index_chunk = true;
    } else if (name == "PLTE") {
      // Allowed as a suggested palette for truecolour images; not used.
    } else if (type[0] >= 'A' && type[0] <= 'Z') {
      return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: unknown critical chunk " + name + " at byte " +
                                                         std::to_string(pos) + ": this reader cannot decode the image");
    }
    pos += uint64_t{length} + 12;
  }
  if (idat_.empty()) return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: no IDAT chunk: the file holds no image data");
  if (has_band_index_chunk) {
    has_band_index_ = BandIndex::Parse(band_index_chunk.data(), band_index_chunk.size(), height_, idat_size_,
                                       &band_index_, &band_index_problem_);
  }
  return Failure::none();
}

Failure PngReader::parse_ihdr(const uint8_t* p, uint32_t length) {
  if (length != 13) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected 13 bytes, found " + std::to_string(length));
  }
  width_ = Be32(p);
  height_ = Be32(p + 4);
  bit_depth_ = p[8];
  color_type_ = p[9];
  interlace_ = p[12];
  static const char* kColorNames[] = {"greyscale", "?", "RGB", "palette", "greyscale+alpha", "?", "RGBA"};
  if (color_type_ != 6) {
    const char* n = color_type_ < 7 ? kColorNames[color_type_] : "?";
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected colour type 6 (RGBA), found " +
                                                      std::to_string(color_type_) + " (" + n +
                                                      "): PixelRTS images are 8-bit RGBA");
  }
  if (bit_depth_ != 8) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected bit depth 8, found " + std::to_string(bit_depth_) +
                                                      ": PixelRTS images are 8-bit RGBA");
  }
  if (p[10] != 0 || p[11] != 0) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected compression method 0 and filter method 0, found " +
                                                      std::to_string(p[10]) + " and " + std::to_string(p[11]));
  }
  if (interlace_ != 0) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected no interlacing (0), found interlace method " +
                                                      std::to_string(interlace_) +
                                                      (interlace_ == 1 ? " (Adam7)" : "") +
                                                      ": PixelRTS images are not interlaced");
  }
  if (width_ != height_) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected a square image, found " + std::to_string(width_) +
                                                      "x" + std::to_string(height_));
  }
  if (width_ == 0 || (width_ & (width_ - 1)) != 0) {
    return Failure::make("ERR_PIXELRTS_PNG_IHDR", "IHDR: expected the side to be a power of two, found " +
                                                      std::to_string(width_));
  }
  if (width_ > kMaxGrid) {
    return Failure::make("ERR_PIXELRTS_TOO_LARGE", "IHDR: the image is " + std::to_string(width_) + "x" +
                                                       std::to_string(height_) + ", larger than the supported " +
                                                       std::to_string(kMaxGrid) + "x" + std::to_string(kMaxGrid) +
                                                       " (a 16 GiB stream)");
  }
  return Failure::none();
}

Failure PngReader::parse_text(const char* type, const uint8_t* p, uint32_t length, size_t chunk_offset) {
  const std::string where = std::string(type) + " chunk at byte " + std::to_string(chunk_offset);
  auto bad = [&](const std::string& why) {
    return Failure::make("ERR_PIXELRTS_PNG_TEXT", "PNG: " + where + " is malformed: " + why);
  };
  const uint8_t* end = p + length;
  const uint8_t* nul = static_cast<const uint8_t*>(std::memchr(p, 0, length));
  if (nul == nullptr) return bad("no NUL byte ends its keyword");
  if (nul == p || nul - p > 79) return bad("its keyword is " + std::to_string(nul - p) + " bytes, expected 1 to 79");
  PngText t;
  t.chunk = type;
  t.keyword = Latin1ToUtf8(p, static_cast<size_t>(nul - p));
  const uint8_t* rest = nul + 1;
  bool compressed = false;
  bool utf8 = false;
  if (t.chunk == "zTXt") {
    if (rest >= end) return bad("it ends before the compression method");
    if (*rest != 0) return bad("compression method " + std::to_string(*rest) + ", expected 0 (zlib)");
    rest++;
    compressed = true;
  } else if (t.chunk == "iTXt") {
    if (end - rest < 2) return bad("it ends before the compression flag");
    if (rest[0] > 1) return bad("compression flag " + std::to_string(rest[0]) + ", expected 0 or 1");
    compressed = rest[0] == 1;
    if (compressed && rest[1] != 0) return bad("compression method " + std::to_string(rest[1]) + ", expected 0 (zlib)");
    rest += 2;
    for (int field = 0; field < 2; field++) {  // language tag, translated keyword
      const uint8_t* z = static_cast<const uint8_t*>(std::memchr(rest, 0, static_cast<size_t>(end - rest)));
      if (z == nullptr) return bad("no NUL byte ends its language tag or translated keyword");
      rest = z + 1;
    }
    utf8 = true;
  }
  const size_t n = static_cast<size_t>(end - rest);
  // The cap holds for all the text chunks together: many chunks each under it would otherwise
  // add up to any size (eight 256 MiB zTXt chunks in a 2 MB file).
  const size_t budget = kMaxText - text_bytes_;
  size_t produced = n;
  if (!compressed) {
    if (n > budget) return TextTooLarge(where);
    t.text = utf8 ? std::string(reinterpret_cast<const char*>(rest), n) : Latin1ToUtf8(rest, n);
  } else {
    Inflater inflater;
    ByteBuffer out;
    Failure f = inflater.zlib_bounded(rest, n, budget, &out, &produced, "PNG: the text of the " + where);
    if (!f.ok()) return f.code == "ERR_PIXELRTS_TOO_LARGE" && budget < kMaxText ? TextTooLarge(where) : f;
    t.text = utf8 ? std::string(reinterpret_cast<const char*>(out.data()), produced) : Latin1ToUtf8(out.data(), produced);
  }
  text_bytes_ += produced;
  texts_.push_back(std::move(t));
  return Failure::none();
}

Failure PngReader::read_idat(uint64_t begin, uint64_t end, uint8_t* out) const {
  if (fd_ < 0) {
    copy_idat(begin, end, out);
    return Failure::none();
  }
  size_t i = static_cast<size_t>(std::upper_bound(idat_starts_.begin(), idat_starts_.end(), begin) - idat_starts_.begin()) - 1;
  std::vector<uint8_t> chunk;
  while (begin < end) {
    const IdatSpan& span = idat_[i];
    const uint64_t in_span = begin - idat_starts_[i];
    const uint64_t n = std::min<uint64_t>(span.length - in_span, end - begin);
    if (span.length <= kMaxCheckedChunk) {
      // The whole chunk with its header, so both can be checked: a damaged file never yields
      // wrong bytes, and a run laid out without reading its headers is confirmed as it is read.
      chunk.resize(span.length + 12);
      Failure f = pread_all(span.offset - 8, chunk.size(), chunk.data());
      if (!f.ok()) return f;
      const uint8_t* body = chunk.data() + 8;
      if (headers_unread_ && (Be32(chunk.data()) != span.length || std::memcmp(chunk.data() + 4, "IDAT", 4) != 0)) {
        return Failure::make("ERR_PIXELRTS_PNG_CHUNK", "PNG: " + name_ + ": the chunk at byte " +
                                                           std::to_string(span.offset - 8) + " is not the " +
                                                           std::to_string(span.length) +
                                                           "-byte IDAT chunk the image data's layout implies: the file is corrupt");
      }
      const uint32_t crc = libdeflate_crc32(0, chunk.data() + 4, span.length + 4);
      if (crc != Be32(body + span.length)) {
        return Failure::make("ERR_PIXELRTS_PNG_CRC", "PNG: " + name_ + ": chunk IDAT at byte " +
                                                         std::to_string(span.offset - 8) + " has CRC " +
                                                         Hex32(Be32(body + span.length)) +
                                                         " but its bytes give " + Hex32(crc) + ": the file is corrupt");
      }
      std::memcpy(out, body + in_span, static_cast<size_t>(n));
    } else {
      Failure f = pread_all(span.offset + in_span, static_cast<size_t>(n), out);
      if (!f.ok()) return f;
    }
    out += n;
    begin += n;
    i++;
  }
  return Failure::none();
}

void PngReader::copy_idat(uint64_t begin, uint64_t end, uint8_t* out) const {
  size_t i = static_cast<size_t>(std::upper_bound(idat_starts_.begin(), idat_starts_.end(), begin) - idat_starts_.begin()) - 1;
  while (begin < end) {
    const uint64_t in_span = begin - idat_starts_[i];
    const uint64_t n = std::min<uint64_t>(idat_[i].length - in_span, end - begin);
    std::memcpy(out, data_ + idat_[i].offset + in_span, n);
    out += n;
    begin += n;
    i++;
  }
}

}  // namespace pixelrts::codec
