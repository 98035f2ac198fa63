#include "codec/png_unfilter.h"

#include <cstdlib>
#include <cstring>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pixelrts::codec {

namespace {

inline uint8_t PaethPredictor(int a, int b, int c) {
  const int pa = std::abs(b - c);
  const int pb = std::abs(a - c);
  const int pc = std::abs(a + b - 2 * c);
  if (pa <= pb && pa <= pc) return static_cast<uint8_t>(a);
  if (pb <= pc) return static_cast<uint8_t>(b);
  return static_cast<uint8_t>(c);
}

#if defined(__SSE2__)

inline __m128i Load4(const uint8_t* p) {
  int32_t v;
  std::memcpy(&v, p, 4);
  return _mm_cvtsi32_si128(v);
}

inline void Store4(uint8_t* p, __m128i v) {
  int32_t x = _mm_cvtsi128_si32(v);
  std::memcpy(p, &x, 4);
}

// Sub: a running sum over pixels; four pixels at a time by a log-step prefix sum.
void SubSse2(uint8_t* row, size_t length) {
  __m128i carry = _mm_setzero_si128();
  size_t i = 0;
  for (; i + 16 <= length; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 4));
    x = _mm_add_epi8(x, _mm_slli_si128(x, 8));
    x = _mm_add_epi8(x, carry);
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + i), x);
    carry = _mm_shuffle_epi32(x, 0xFF);
  }
  for (; i < length; i += 4) {
    __m128i x = _mm_add_epi8(Load4(row + i), carry);
    Store4(row + i, x);
    carry = x;
  }
}

void UpSse2(uint8_t* row, const uint8_t* prev, size_t length) {
  size_t i = 0;
  for (; i + 16 <= length; i += 16) {
    __m128i x = _mm_loadu_si128(reinterpret_cast<const __m128i*>(row + i));
    __m128i b = _mm_loadu_si128(reinterpret_cast<const __m128i*>(prev + i));
    _mm_storeu_si128(reinterpret_cast<__m128i*>(row + i), _mm_add_epi8(x, b));
  }
  for (; i < length; i++) row[i] = static_cast<uint8_t>(row[i] + prev[i]);
}

// Average: floor((left + up) / 2) per byte; pavgb rounds up, so subtract the lost low bit.
void AverageSse2(uint8_t* row, const uint8_t* prev, size_t length) {
  const __m128i one = _mm_set1_epi8(1);
  __m128i a = _mm_setzero_si128();
  for (size_t i = 0; i < length; i += 4) {
    __m128i b = Load4(prev + i);
    __m128i avg = _mm_sub_epi8(_mm_avg_epu8(a, b), _mm_and_si128(_mm_xor_si128(a, b), one));
    a = _mm_add_epi8(Load4(row + i), avg);
    Store4(row + i, a);
  }
}

inline __m128i Abs16(__m128i x) { return _mm_max_epi16(x, _mm_sub_epi16(_mm_setzero_si128(), x)); }

inline __m128i Select(__m128i mask, __m128i yes, __m128i no) {
  return _mm_or_si128(_mm_and_si128(mask, yes), _mm_andnot_si128(mask, no));
}

// Paeth in 16-bit lanes, one pixel per step (each pixel depends on the one to its left).
void PaethSse2(uint8_t* row, const uint8_t* prev, size_t length) {
  const __m128i zero = _mm_setzero_si128();
  __m128i a = zero;  // left, unfiltered
  __m128i c = zero;  // upper left
  for (size_t i = 0; i < length; i += 4) {
    __m128i b = _mm_unpacklo_epi8(Load4(prev + i), zero);
    __m128i bc = _mm_sub_epi16(b, c);
    __m128i ac = _mm_sub_epi16(a, c);
    __m128i pa = Abs16(bc);
    __m128i pb = Abs16(ac);
    __m128i pc = Abs16(_mm_add_epi16(bc, ac));
    __m128i not_a = _mm_or_si128(_mm_cmpgt_epi16(pa, pb), _mm_cmpgt_epi16(pa, pc));
    __m128i b_or_c = Select(_mm_cmpgt_epi16(pb, pc), c, b);
    __m128i pred = Select(not_a, b_or_c, a);
    __m128i x = _mm_add_epi8(Load4(row + i), _mm_packus_epi16(pred, zero));
    Store4(row + i, x);
    a = _mm_unpacklo_epi8(x, zero);
    c = b;
  }
}

#endif  // __SSE2__

}  // namespace

bool RowUnfilter::ApplyScalar(uint8_t filter, uint8_t* row, const uint8_t* prev, size_t length) {
  switch (filter) {
    case 0:
      return true;
    case 1:
      for (size_t i = 4; i < length; i++) row[i] = static_cast<uint8_t>(row[i] + row[i - 4]);
      return true;
    case 2:
      for (size_t i = 0; i < length; i++) row[i] = static_cast<uint8_t>(row[i] + prev[i]);
      return true;
    case 3:
      for (size_t i = 0; i < length; i++) {
        const int left = i >= 4 ? row[i - 4] : 0;
        row[i] = static_cast<uint8_t>(row[i] + ((left + prev[i]) >> 1));
      }
      return true;
    case 4:
      for (size_t i = 0; i < length; i++) {
        const int left = i >= 4 ? row[i - 4] : 0;
        const int upleft = i >= 4 ? prev[i - 4] : 0;
        row[i] = static_cast<uint8_t>(row[i] + PaethPredictor(left, prev[i], upleft));
      }
      return true;
    default:
      return false;
  }
}

bool RowUnfilter::Apply(uint8_t filter, uint8_t* row, const uint8_t* prev, size_t length) {
#if defined(__SSE2__)
  switch (filter) {
    case 0:
      return true;
    case 1:
      SubSse2(row, length);
      return true;
    case 2:
      UpSse2(row, prev, length);
      return true;
    case 3:
      AverageSse2(row, prev, length);
      return true;
    case 4:
      PaethSse2(row, prev, length);
      return true;
    default:
      return false;
  }
#else
  return ApplyScalar(filter, row, prev, length);
#endif
}

}  // namespace pixelrts::codec
