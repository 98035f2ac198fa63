#include "codec/deflate_block_walker.h"

#include <cstring>
#include <memory>
#include <new>

namespace pixelrts::codec {

namespace {

constexpr int kMaxCodeBits = 15;

// LSB-first bit reader that fails (instead of reading zeros) past the end of the data.
class BitReader {
 public:
  BitReader(const uint8_t* data, size_t size) : data_(data), size_(size) {}

  uint64_t position() const { return next_byte_ * 8 - count_; }

  // Makes at least `n` (≤ 56) bits available; false at the end of the data.
  bool ensure(unsigned n) {
    while (count_ < n) {
      if (next_byte_ >= size_) return false;
      buffer_ |= uint64_t{data_[next_byte_++]} << count_;
      count_ += 8;
    }
    return true;
  }
  // Fills the buffer as far as the data allows (for table lookups that may over-peek). Away
  // from the end, one 8-byte load: the bits it leaves above count_ are exactly those of the
  // next bytes, so OR-ing them in again on the next refill changes nothing.
  void fill() {
#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
    if (count_ <= 56 && size_ - next_byte_ >= 8) {
      uint64_t word;
      std::memcpy(&word, data_ + next_byte_, 8);
      buffer_ |= word << count_;
      const unsigned take = (63 - count_) / 8;
      next_byte_ += take;
      count_ += take * 8;
      return;
    }
#endif
    while (count_ <= 56 && next_byte_ < size_) {
      buffer_ |= uint64_t{data_[next_byte_++]} << count_;
      count_ += 8;
    }
  }
  unsigned available() const { return count_; }
  uint32_t peek(unsigned n) const { return static_cast<uint32_t>(buffer_ & ((uint64_t{1} << n) - 1)); }
  void skip(unsigned n) {
    buffer_ >>= n;
    count_ -= n;
  }
  bool read(unsigned n, uint32_t* v) {
    if (!ensure(n)) return false;
    *v = peek(n);
    skip(n);
    return true;
  }
  // Drops the bits up to the next byte boundary and hands out the byte position.
  size_t align_to_byte() {
    skip(count_ % 8);
    size_t pos = next_byte_ - count_ / 8;
    buffer_ = 0;
    count_ = 0;
    next_byte_ = pos;
    return pos;
  }
  bool skip_bytes(size_t pos, size_t n) {
    if (pos > size_ || n > size_ - pos) return false;
    next_byte_ = pos + n;
    return true;
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  const uint8_t* data_;
  size_t size_;
  size_t next_byte_ = 0;
  uint64_t buffer_ = 0;
  unsigned count_ = 0;
};

// Canonical Huffman decoding through a table indexed by the next kPrimaryBits stream bits
// (4 KiB, stays in L1), with second-level tables for the rare longer codes.
class HuffmanTable {
 public:
  // False for an over-subscribed code. Incomplete codes are allowed; their holes fail on use.
  // `extra` (optional) gives each symbol's extra bits, so that one lookup tells how many bits
  // the whole symbol takes; symbols at or above `valid` (deflate's unused 286/287, 30/31) are
  // marked invalid.
  bool build(const uint8_t* lengths, unsigned count, const uint8_t* extra = nullptr, unsigned valid = 0xFFFF) {
    unsigned bl_count[kMaxCodeBits + 1] = {};
    max_len_ = 1;
    for (unsigned i = 0; i < count; i++) {
      bl_count[lengths[i]]++;
      if (lengths[i] > max_len_) max_len_ = lengths[i];
    }
    bl_count[0] = 0;
    int left = 1;
    for (unsigned len = 1; len <= kMaxCodeBits; len++) {
      left = left * 2 - static_cast<int>(bl_count[len]);
      if (left < 0) return false;
    }
    unsigned next_code[kMaxCodeBits + 2] = {};
    unsigned code = 0;
    for (unsigned len = 1; len <= kMaxCodeBits; len++) {
      code = (code + bl_count[len - 1]) << 1;
      next_code[len] = code;
    }
    primary_bits_ = max_len_ < kPrimaryBits ? max_len_ : kPrimaryBits;
    const unsigned primary = 1u << primary_bits_;
    const unsigned sub_bits = max_len_ - primary_bits_;
    std::memset(entries_, 0, primary * sizeof(entries_[0]));
    unsigned used = primary;
    for (unsigned sym = 0; sym < count; sym++) {
      const unsigned len = lengths[sym];
      if (len == 0) continue;
      const unsigned c = next_code[len]++;
      unsigned rev = 0;  // deflate sends Huffman codes most significant bit first
      for (unsigned b = 0; b < len; b++) rev |= ((c >> b) & 1u) << (len - 1 - b);
      const unsigned total = sym >= valid ? 0 : len + (extra != nullptr ? extra[sym] : 0);
      const uint32_t entry = static_cast<uint32_t>(total | (len << kLenShift) | (sym << kValueShift));
      if (len <= primary_bits_) {
        for (unsigned i = rev; i < primary; i += 1u << len) entries_[i] = entry;
        continue;
      }
      const unsigned prefix = rev & (primary - 1);
      if ((entries_[prefix] & kLink) == 0) {
        entries_[prefix] = kLink | (used << kValueShift);
        std::memset(entries_ + used, 0, (size_t{1} << sub_bits) * sizeof(entries_[0]));
        used += 1u << sub_bits;
      }
      uint32_t* sub = entries_ + (entries_[prefix] >> kValueShift);
      for (unsigned i = rev >> primary_bits_; i < (1u << sub_bits); i += 1u << (len - primary_bits_)) sub[i] = entry;
    }
    return true;
  }

  // Skips the next symbol and its extra bits when at least kMaxCodeBits + 13 bits are
  // available; the symbol, or -1 for an unused or invalid code.
  int skip_symbol(BitReader* in) const {
    uint32_t e = entries_[in->peek(primary_bits_)];
    if (e & kLink) e = entries_[(e >> kValueShift) + (in->peek(max_len_) >> primary_bits_)];
    // The low bits are the shift count itself: no extraction on the bit buffer's critical path.
    const unsigned total = e & kTotalMask;
    if (total == 0) return -1;
    in->skip(total);
    return static_cast<int>(e >> kValueShift);
  }

  // The next symbol, or -1 for an unused code or the end of the data.
  int decode(BitReader* in) const {
    in->fill();
    uint32_t e = entries_[in->peek(primary_bits_)];
    if (e & kLink) e = entries_[(e >> kValueShift) + (in->peek(max_len_) >> primary_bits_)];
    const unsigned len = (e >> kLenShift) & 0x1F;
    if (len == 0 || len > in->available()) return -1;
    in->skip(len);
    return static_cast<int>(e >> kValueShift);
  }

 private:
  static constexpr unsigned kPrimaryBits = 10;
  // An entry: bits 0..5 the code length plus the symbol's extra bits (0: invalid or link),
  // bits 8..12 the code length, bit 15 a link to a second-level table, bits 16..31 the symbol
  // or the second-level table's index.
  static constexpr uint32_t kTotalMask = 0x3F;
  static constexpr unsigned kLenShift = 8;
  static constexpr uint32_t kLink = 1u << 15;
  static constexpr unsigned kValueShift = 16;
  unsigned max_len_ = 1;
  unsigned primary_bits_ = 1;
  // Primary table plus at most one 2^(15-10)-entry table per primary slot.
  uint32_t entries_[(1u << kPrimaryBits) + (1u << kPrimaryBits) * (1u << (kMaxCodeBits - kPrimaryBits))];
};

constexpr uint8_t kCodeLengthOrder[19] = {16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15};

// Extra bits per litlen symbol (0..287) and per distance symbol (0..31), for the tables.
struct ExtraBits {
  uint8_t litlen[288] = {};
  uint8_t dist[32] = {};
  constexpr ExtraBits() {
    for (int sym = 265; sym < 285; sym++) litlen[sym] = static_cast<uint8_t>((sym - 261) / 4);
    for (int d = 4; d < 30; d++) dist[d] = static_cast<uint8_t>((d - 2) / 2);
  }
};
constexpr ExtraBits kExtraBits;

unsigned LengthExtraBits(int sym) {
  const int i = sym - 257;
  if (i < 8 || i == 28) return 0;
  return static_cast<unsigned>((i - 4) / 4);
}

unsigned DistanceExtraBits(int sym) { return sym < 4 ? 0 : static_cast<unsigned>((sym - 2) / 2); }

bool ReadDynamicTables(BitReader* in, HuffmanTable* litlen, HuffmanTable* dist, HuffmanTable* scratch) {
  uint32_t hlit, hdist, hclen;
  if (!in->read(5, &hlit) || !in->read(5, &hdist) || !in->read(4, &hclen)) return false;
  hlit += 257;
  hdist += 1;
  hclen += 4;
  if (hlit > 286 || hdist > 30) return false;
  uint8_t cl_lengths[19] = {};
  for (uint32_t i = 0; i < hclen; i++) {
    uint32_t v;
    if (!in->read(3, &v)) return false;
    cl_lengths[kCodeLengthOrder[i]] = static_cast<uint8_t>(v);
  }
  if (!scratch->build(cl_lengths, 19)) return false;
  uint8_t lengths[286 + 30] = {};
  uint32_t n = 0;
  while (n < hlit + hdist) {
    int sym = scratch->decode(in);
    if (sym < 0) return false;
    if (sym < 16) {
      lengths[n++] = static_cast<uint8_t>(sym);
      continue;
    }
    uint32_t repeat;
    uint8_t value = 0;
    if (sym == 16) {
      if (n == 0 || !in->read(2, &repeat)) return false;
      value = lengths[n - 1];
      repeat += 3;
    } else if (sym == 17) {
      if (!in->read(3, &repeat)) return false;
      repeat += 3;
    } else {
      if (!in->read(7, &repeat)) return false;
      repeat += 11;
    }
    if (n + repeat > hlit + hdist) return false;
    while (repeat-- > 0) lengths[n++] = value;
  }
  if (lengths[256] == 0) return false;  // no end-of-block code
  return litlen->build(lengths, hlit, kExtraBits.litlen, 286) && dist->build(lengths + hlit, hdist, kExtraBits.dist, 30);
}

}  // namespace

bool DeflateBlockWalker::Walk(const uint8_t* data, size_t size, Result* result) {
  // The tables are 132 KiB each at most: on the heap, not on a worker thread's stack.
  struct Tables {
    HuffmanTable litlen, dist, scratch;
  };
  std::unique_ptr<Tables> t(new (std::nothrow) Tables);
  if (!t) return false;
  BitReader in(data, size);
  for (;;) {
    const uint64_t header_bit = in.position();
    uint32_t bfinal, btype;
    if (!in.read(1, &bfinal) || !in.read(2, &btype)) return false;
    if (btype == 0) {
      const size_t pos = in.align_to_byte();
      if (pos > size || size - pos < 4) return false;
      const unsigned len = data[pos] | (data[pos + 1] << 8);
      const unsigned nlen = data[pos + 2] | (data[pos + 3] << 8);
      if ((len ^ 0xFFFFu) != nlen || !in.skip_bytes(pos + 4, len)) return false;
    } else {
      if (btype == 1) {
        uint8_t lengths[288 + 32];
        std::memset(lengths, 8, 144);
        std::memset(lengths + 144, 9, 112);
        std::memset(lengths + 256, 7, 24);
        std::memset(lengths + 280, 8, 8);
        std::memset(lengths + 288, 5, 32);
        if (!t->litlen.build(lengths, 288, kExtraBits.litlen, 286) || !t->dist.build(lengths + 288, 32, kExtraBits.dist, 30)) {
          return false;
        }
      } else if (btype == 2) {
        if (!ReadDynamicTables(&in, &t->litlen, &t->dist, &t->scratch)) return false;
      } else {
        return false;
      }
      bool end_of_block = false;
      while (!end_of_block) {
        in.fill();
        if (in.available() >= 48) {
          // While a whole length/distance pair (15 + 5 + 15 + 13 bits) is buffered, one table
          // lookup per symbol skips its code and extra bits together, with no refill.
          do {
            const int sym = t->litlen.skip_symbol(&in);
            if (sym < 256) {
              if (sym < 0) return false;
              continue;
            }
            if (sym == 256) {
              end_of_block = true;
              break;
            }
            if (t->dist.skip_symbol(&in) < 0) return false;
          } while (in.available() >= 48);
          continue;
        }
        // Near the end of the data: symbol by symbol, checking every read.
        const int sym = t->litlen.decode(&in);
        if (sym < 0 || sym > 285) return false;
        if (sym < 256) continue;
        if (sym == 256) break;
        uint32_t extra;
        if (!in.read(LengthExtraBits(sym), &extra)) return false;
        const int d = t->dist.decode(&in);
        if (d < 0 || d >= 30 || !in.read(DistanceExtraBits(d), &extra)) return false;
      }
    }
    if (bfinal) {
      result->final_header_bit = header_bit;
      result->end_bit = in.position();
      return true;
    }
  }
}

}  // namespace pixelrts::codec
