#include "codec/band_gather.h"

#include <algorithm>
#include <cstring>
#include <type_traits>
#include <utility>

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

namespace pixelrts::codec {

namespace {

inline uint32_t Load32(const uint8_t* p) {
  uint32_t v;
  std::memcpy(&v, p, 4);
  return v;
}

inline void Store32(uint8_t* p, uint32_t v) { std::memcpy(p, &v, 4); }

// The four orders a 2×2 block is walked in, as positions 0 = (0,0), 1 = (1,0), 2 = (0,1),
// 3 = (1,1) for the 1st to 4th pixel: the order-1 curve in identity, swap, complement and
// swap+complement orientation.
constexpr int kBlockOrders[4][4] = {{0, 2, 3, 1}, {0, 1, 3, 2}, {3, 1, 0, 2}, {3, 2, 0, 1}};

#if defined(__SSE2__)

// pshufd immediate that puts dword src[k] into lane k.
constexpr int ShuffleImm(int s0, int s1, int s2, int s3) { return s0 | (s1 << 2) | (s2 << 4) | (s3 << 6); }

// Block pixels as loaded (lanes: position 0, 1, 2, 3) → curve order.
template <int O>
constexpr int GatherImm() {
  return ShuffleImm(kBlockOrders[O][0], kBlockOrders[O][1], kBlockOrders[O][2], kBlockOrders[O][3]);
}

// Inverse: lane p takes the curve pixel k with kBlockOrders[O][k] == p.
constexpr int InverseLane(int o, int p) {
  return kBlockOrders[o][0] == p ? 0 : kBlockOrders[o][1] == p ? 1 : kBlockOrders[o][2] == p ? 2 : 3;
}
template <int O>
constexpr int ScatterImm() {
  return ShuffleImm(InverseLane(O, 0), InverseLane(O, 1), InverseLane(O, 2), InverseLane(O, 3));
}

// The four orders an n×n square is walked in: the curve of side n (spec §2 d2xy) in identity,
// swap, complement and swap+complement orientation, as HilbertTiling orients tiles. Pixel i of
// the walk sits at (x, y) = .x[i], .y[i].
template <int N>
struct Walk {
  int x[N * N];
  int y[N * N];
};
template <int N>
constexpr Walk<N> MakeWalk(int o) {
  Walk<N> r{};
  for (int i = 0; i < N * N; i++) {
    int x = 0, y = 0, t = i;
    for (int s = 1; s < N; s <<= 1) {
      const int rx = 1 & (t >> 1), ry = 1 & (t ^ rx);
      if (ry == 0) {
        if (rx == 1) {
          x = s - 1 - x;
          y = s - 1 - y;
        }
        const int tmp = x;
        x = y;
        y = tmp;
      }
      x += s * rx;
      y += s * ry;
      t >>= 2;
    }
    if (o & 1) {
      const int tmp = x;
      x = y;
      y = tmp;
    }
    if (o & 2) {
      x = N - 1 - x;
      y = N - 1 - y;
    }
    r.x[i] = x;
    r.y[i] = y;
  }
  return r;
}
constexpr Walk<4> kOrder16[4] = {MakeWalk<4>(0), MakeWalk<4>(1), MakeWalk<4>(2), MakeWalk<4>(3)};

// Which 2×2 quadrant (0 top-left, 1 top-right, 2 bottom-left, 3 bottom-right) holds pixels
// 4k..4k+3 of the 4×4 walk in orientation o, and in which of the kBlockOrders they are visited.
constexpr int QuadOf(int o, int k) {
  const int x = kOrder16[o].x[4 * k], y = kOrder16[o].y[4 * k];
  return (x / 2) + 2 * (y / 2);
}
constexpr int QuadOrder(int o, int k) {
  const int qx = (QuadOf(o, k) & 1) * 2, qy = (QuadOf(o, k) >> 1) * 2;
  for (int c = 0; c < 4; c++) {
    bool match = true;
    for (int j = 0; j < 4; j++) {
      const int pos = kBlockOrders[c][j];
      match = match && kOrder16[o].x[4 * k + j] == qx + (pos & 1) && kOrder16[o].y[4 * k + j] == qy + (pos >> 1);
    }
    if (match) return c;
  }
  return -1;
}
constexpr int QuadImm(int o, int k) {
  return ShuffleImm(kBlockOrders[QuadOrder(o, k)][0], kBlockOrders[QuadOrder(o, k)][1],
                    kBlockOrders[QuadOrder(o, k)][2], kBlockOrders[QuadOrder(o, k)][3]);
}
static_assert(QuadOrder(0, 0) >= 0 && QuadOrder(1, 1) >= 0 && QuadOrder(2, 2) >= 0 && QuadOrder(3, 3) >= 0,
              "every 2x2 quadrant of a 4x4 walk is one of the four block orders");

// A walk of side N cut into (N/M)² consecutive runs of M² pixels: where run j sits (in units of M
// pixels) and in which of the four M×M walks its pixels are visited (-1: none, which the
// static_asserts below rule out).
template <int N, int M>
struct Runs {
  int x[(N / M) * (N / M)];
  int y[(N / M) * (N / M)];
  int order[(N / M) * (N / M)];
};
template <int N, int M>
constexpr Runs<N, M> MakeRuns(const Walk<N>& walk, const Walk<M>* sub) {
  Runs<N, M> r{};
  for (int j = 0; j < (N / M) * (N / M); j++) {
    int x0 = N, y0 = N;
    for (int k = 0; k < M * M; k++) {
      x0 = walk.x[j * M * M + k] < x0 ? walk.x[j * M * M + k] : x0;
      y0 = walk.y[j * M * M + k] < y0 ? walk.y[j * M * M + k] : y0;
    }
    r.x[j] = x0 / M;
    r.y[j] = y0 / M;
    r.order[j] = -1;
    for (int c = 3; c >= 0; c--) {
      bool match = true;
      for (int k = 0; k < M * M; k++) {
        match = match && walk.x[j * M * M + k] == x0 + sub[c].x[k] && walk.y[j * M * M + k] == y0 + sub[c].y[k];
      }
      if (match) r.order[j] = c;
    }
  }
  return r;
}
template <int N, int M>
constexpr bool AllRunsFound(const Runs<N, M>* runs) {
  for (int o = 0; o < 4; o++) {
    for (int j = 0; j < (N / M) * (N / M); j++) {
      if (runs[o].order[j] < 0) return false;
    }
  }
  return true;
}

// The curve-order tile gather: a 16×16 walk is sixteen 4×4 blocks, a 32×32 tile four 16×16 walks.
constexpr Walk<16> kWalk16[4] = {MakeWalk<16>(0), MakeWalk<16>(1), MakeWalk<16>(2), MakeWalk<16>(3)};
constexpr Walk<32> kWalk32[4] = {MakeWalk<32>(0), MakeWalk<32>(1), MakeWalk<32>(2), MakeWalk<32>(3)};
constexpr Runs<16, 4> kBlocksOf16[4] = {MakeRuns<16, 4>(kWalk16[0], kOrder16), MakeRuns<16, 4>(kWalk16[1], kOrder16),
                                        MakeRuns<16, 4>(kWalk16[2], kOrder16), MakeRuns<16, 4>(kWalk16[3], kOrder16)};
constexpr Runs<32, 16> kQuartersOf32[4] = {MakeRuns<32, 16>(kWalk32[0], kWalk16), MakeRuns<32, 16>(kWalk32[1], kWalk16),
                                           MakeRuns<32, 16>(kWalk32[2], kWalk16), MakeRuns<32, 16>(kWalk32[3], kWalk16)};
static_assert(AllRunsFound(kBlocksOf16), "every 4x4 run of a 16x16 walk is one of the four 4x4 walks");
static_assert(AllRunsFound(kQuartersOf32), "every 16x16 run of a 32x32 walk is one of the four 16x16 walks");

template <bool kStream>
inline void Store(__m128i* d, __m128i v) {
  if constexpr (kStream) {
    _mm_stream_si128(d, v);  // d is 16-byte aligned
  } else {
    _mm_storeu_si128(d, v);
  }
}

// One 4×4 block walked in order O: four 16-byte row loads make the four 2×2 quadrants, each
// shuffled into curve order; 64 contiguous bytes out, non-temporal when kStream.
template <int O, bool kStream>
inline void MoveBlock(const uint8_t* p, size_t stride, uint8_t* out) {
  const __m128i r0 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p));
  const __m128i r1 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + stride));
  const __m128i r2 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 2 * stride));
  const __m128i r3 = _mm_loadu_si128(reinterpret_cast<const __m128i*>(p + 3 * stride));
  const __m128i quad[4] = {_mm_unpacklo_epi64(r0, r1), _mm_unpackhi_epi64(r0, r1), _mm_unpacklo_epi64(r2, r3),
                           _mm_unpackhi_epi64(r2, r3)};
  __m128i* d = reinterpret_cast<__m128i*>(out);
  Store<kStream>(d, _mm_shuffle_epi32(quad[QuadOf(O, 0)], QuadImm(O, 0)));
  Store<kStream>(d + 1, _mm_shuffle_epi32(quad[QuadOf(O, 1)], QuadImm(O, 1)));
  Store<kStream>(d + 2, _mm_shuffle_epi32(quad[QuadOf(O, 2)], QuadImm(O, 2)));
  Store<kStream>(d + 3, _mm_shuffle_epi32(quad[QuadOf(O, 3)], QuadImm(O, 3)));
}

// A 16×16 walk in order C, its sixteen blocks unrolled in curve order with compile-time orders
// and positions: the output is written strictly in address order, so streamed stores fill whole
// cache lines whatever the output's alignment within a line (only the walk's first and last
// line can be partial).
template <int C, bool kStream, int... J>
inline void MoveWalk16(const uint8_t* src, size_t stride, uint8_t* dst, std::integer_sequence<int, J...>) {
  (MoveBlock<kBlocksOf16[C].order[J], kStream>(src + size_t{kBlocksOf16[C].y[J] * 4u} * stride + kBlocksOf16[C].x[J] * 16,
                                                stride, dst + J * 64),
   ...);
}
template <int C, bool kStream>
void MoveWalk16(const uint8_t* src, size_t stride, uint8_t* dst) {
  MoveWalk16<C, kStream>(src, stride, dst, std::make_integer_sequence<int, 16>());
}
using Walk16Fn = void (*)(const uint8_t* src, size_t stride, uint8_t* dst);
constexpr Walk16Fn kWalk16Fns[2][4] = {
    {MoveWalk16<0, false>, MoveWalk16<1, false>, MoveWalk16<2, false>, MoveWalk16<3, false>},
    {MoveWalk16<0, true>, MoveWalk16<1, true>, MoveWalk16<2, true>, MoveWalk16<3, true>}};

#endif  // __SSE2__

}  // namespace

BandGather::BandGather(const HilbertTiling& tiling, size_t stride) : tiling_(tiling), stride_(stride) {
  const uint32_t tp = static_cast<uint32_t>(tiling.tile_pixels());
  for (uint8_t o = 0; o < 4; o++) {
    offsets_[o].resize(tp);
    for (uint32_t i = 0; i < tp; i++) {
      offsets_[o][i] = static_cast<uint32_t>(tiling.tile_y(o, i) * stride + tiling.tile_x(o, i) * 4u);
    }
  }
#if defined(__SSE2__)
  // Any surprise in the classification keeps the per-pixel path.
  use_blocks_ = tp % 4 == 0 && classify_blocks();
  // The curve-order path takes tiles of side 16 or 32 whose walks are the ones compiled in.
  const uint32_t side = tiling.tile_side();
  use_walks_ = use_blocks_ && (side == 16 || side == 32);
  for (uint8_t o = 0; o < 4 && use_walks_; o++) {
    for (uint32_t i = 0; i < tp && use_walks_; i++) {
      const int x = side == 16 ? kWalk16[o].x[i] : kWalk32[o].x[i];
      const int y = side == 16 ? kWalk16[o].y[i] : kWalk32[o].y[i];
      use_walks_ = tiling.tile_x(o, i) == x && tiling.tile_y(o, i) == y;
    }
  }
#endif
}

bool BandGather::classify_blocks() {
  // Each order as a key: the positions of its 1st to 4th pixel, two bits each.
  int keys[4];
  for (int c = 0; c < 4; c++) {
    keys[c] = kBlockOrders[c][0] | kBlockOrders[c][1] << 2 | kBlockOrders[c][2] << 4 | kBlockOrders[c][3] << 6;
  }
  const uint32_t tp = static_cast<uint32_t>(tiling_.tile_pixels());
  for (uint8_t o = 0; o < 4; o++) {
    for (auto& group : blocks_[o].by_order) group.reserve(tp / 4);
    for (uint32_t q = 0; q < tp / 4; q++) {
      // The run's four pixels must share one aligned 2×2 square; their positions in it make the key.
      const uint32_t sx = tiling_.tile_x(o, 4 * q) >> 1, sy = tiling_.tile_y(o, 4 * q) >> 1;
      int key = 0;
      for (uint32_t k = 0; k < 4; k++) {
        const uint32_t x = tiling_.tile_x(o, 4 * q + k), y = tiling_.tile_y(o, 4 * q + k);
        if (x >> 1 != sx || y >> 1 != sy) return false;
        key |= static_cast<int>((x & 1) | (y & 1) << 1) << (2 * k);
      }
      const int order = static_cast<int>(std::find(keys, keys + 4, key) - keys);
      if (order == 4) return false;
      blocks_[o].by_order[order].push_back(Block{static_cast<uint32_t>(2 * sy * stride_ + 2 * sx * 4u), q * 16});
    }
  }
  return true;
}

void BandGather::gather_tile_blocks(uint8_t orientation, const uint8_t* src, uint8_t* dst) const {
#if defined(__SSE2__)
  const BlockGroups& g = blocks_[orientation];
  auto run = [&](auto order_tag, const std::vector<Block>& blocks) {
    constexpr int O = decltype(order_tag)::value;
    for (const Block& b : blocks) {
      const uint8_t* p = src + b.src;
      __m128i top = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p));
      __m128i bottom = _mm_loadl_epi64(reinterpret_cast<const __m128i*>(p + stride_));
      __m128i v = _mm_shuffle_epi32(_mm_unpacklo_epi64(top, bottom), GatherImm<O>());
      _mm_storeu_si128(reinterpret_cast<__m128i*>(dst + b.dst), v);
    }
  };
  run(std::integral_constant<int, 0>(), g.by_order[0]);
  run(std::integral_constant<int, 1>(), g.by_order[1]);
  run(std::integral_constant<int, 2>(), g.by_order[2]);
  run(std::integral_constant<int, 3>(), g.by_order[3]);
#else
  (void)orientation, (void)src, (void)dst;
#endif
}

void BandGather::gather(uint32_t band, const uint8_t* rows, uint64_t win_begin, uint64_t win_end, uint8_t* out,
                        bool prefetch_ahead) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tp = tiling_.tile_pixels();
  const uint64_t tile_bytes = tp * 4;
  thread_local std::vector<TilePlacement> scratch;
  const TilePlacement* tiles = tiling_.band_tiles(band, &scratch);
  const size_t band_bytes = stride_ * side;
  const uint8_t* next_band = rows + band_bytes;
  const size_t prefetch_share = (band_bytes / tiling_.tiles_per_side() + 63) & ~size_t{63};
  const bool prefetch_next_band = prefetch_ahead && band + 1 < tiling_.bands();
#if defined(__SSE2__)
  bool streamed = false;
#endif
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    const uint64_t t_begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    const uint64_t t_end = t_begin + tile_bytes;
    if (t_end <= win_begin || t_begin >= win_end) continue;
    const uint8_t* src = rows + size_t{tx} * side * 4;
    const uint32_t* off = offsets_[tiles[tx].orientation].data();
    if (t_begin >= win_begin && t_end <= win_end) {
      uint8_t* dst = out + (t_begin - win_begin);
#if defined(__SSE2__)
      // Read the next band ahead, in address order and a tile's share at a time: the
      // hardware prefetcher does not follow the 32 short strided runs a tile reads.
      if (prefetch_next_band) {
        const uint8_t* ahead = next_band + size_t{tx} * prefetch_share;
        for (size_t i = 0; i < prefetch_share; i += 64) _mm_prefetch(reinterpret_cast<const char*>(ahead + i), _MM_HINT_T0);
      }
      streamed = gather_tile(tiles[tx].orientation, src, dst) || streamed;
#else
      gather_tile(tiles[tx].orientation, src, dst);
#endif
      continue;
    }
    // Tile cut by the window: byte by byte over the overlap.
    const uint64_t lo = std::max(t_begin, win_begin);
    const uint64_t hi = std::min(t_end, win_end);
    for (uint64_t pos = lo; pos < hi; pos++) {
      const uint64_t rel = pos - t_begin;
      out[pos - win_begin] = src[off[rel >> 2] + (rel & 3)];
    }
  }
#if defined(__SSE2__)
  if (streamed) _mm_sfence();  // make the streamed stores visible before anyone reads `out`
#endif
}

void BandGather::scatter_tile_blocks(uint8_t orientation, uint8_t* dst, const uint8_t* src) const {
#if defined(__SSE2__)
  const BlockGroups& g = blocks_[orientation];
  auto run = [&](auto order_tag, const std::vector<Block>& blocks) {
    constexpr int O = decltype(order_tag)::value;
    for (const Block& b : blocks) {
      __m128i v = _mm_shuffle_epi32(_mm_loadu_si128(reinterpret_cast<const __m128i*>(src + b.dst)), ScatterImm<O>());
      uint8_t* p = dst + b.src;
      _mm_storel_epi64(reinterpret_cast<__m128i*>(p), v);
      _mm_storel_epi64(reinterpret_cast<__m128i*>(p + stride_), _mm_unpackhi_epi64(v, v));
    }
  };
  run(std::integral_constant<int, 0>(), g.by_order[0]);
  run(std::integral_constant<int, 1>(), g.by_order[1]);
  run(std::integral_constant<int, 2>(), g.by_order[2]);
  run(std::integral_constant<int, 3>(), g.by_order[3]);
#else
  (void)orientation, (void)dst, (void)src;
#endif
}

void BandGather::scatter(uint32_t band, uint8_t* rows, const uint8_t* stream, uint64_t stream_size) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tp = tiling_.tile_pixels();
  const uint64_t tile_bytes = tp * 4;
  thread_local std::vector<TilePlacement> scratch;
  const TilePlacement* tiles = tiling_.band_tiles(band, &scratch);
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    const uint64_t t_begin = uint64_t{tiles[tx].curve_tile} * tile_bytes;
    uint8_t* dst = rows + size_t{tx} * side * 4;
    const uint32_t* off = offsets_[tiles[tx].orientation].data();
    if (t_begin + tile_bytes <= stream_size) {
      scatter_tile(tiles[tx].orientation, dst, stream + t_begin);
    } else if (t_begin >= stream_size) {
      for (uint32_t y = 0; y < side; y++) std::memset(dst + y * stride_, 0, size_t{side} * 4);
    } else {
      for (uint64_t rel = 0; rel < tile_bytes; rel++) {
        const uint64_t pos = t_begin + rel;
        dst[off[rel >> 2] + (rel & 3)] = pos < stream_size ? stream[pos] : 0;
      }
    }
  }
}

bool BandGather::gather_tile(uint8_t orientation, const uint8_t* src, uint8_t* dst) const {
#if defined(__SSE2__)
  if (use_walks_) {
    // Curve order, so the output is written in address order: with a 16-byte aligned output,
    // non-temporal stores fill whole cache lines without reading them first.
    const bool stream = (reinterpret_cast<uintptr_t>(dst) & 15) == 0;
    const Walk16Fn* fns = kWalk16Fns[stream ? 1 : 0];
    if (tiling_.tile_side() == 16) {
      fns[orientation](src, stride_, dst);
    } else {
      const Runs<32, 16>& quarters = kQuartersOf32[orientation];
      for (int q = 0; q < 4; q++) {
        fns[quarters.order[q]](src + size_t{quarters.y[q] * 16u} * stride_ + quarters.x[q] * 64, stride_, dst + q * 1024);
      }
    }
    return stream;
  }
#endif
  if (use_blocks_) {
    gather_tile_blocks(orientation, src, dst);
  } else {
    const uint32_t* off = offsets_[orientation].data();
    const uint64_t tp = tiling_.tile_pixels();
    for (uint64_t i = 0; i < tp; i++) Store32(dst + 4 * i, Load32(src + off[i]));
  }
  return false;
}

void BandGather::gather_staged(uint32_t band, const uint8_t* rows, uint8_t* staged) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tile_bytes = tiling_.tile_pixels() * 4;
  thread_local std::vector<TilePlacement> scratch;
  const TilePlacement* tiles = tiling_.band_tiles(band, &scratch);
  bool streamed = false;
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    streamed = gather_tile(tiles[tx].orientation, rows + size_t{tx} * side * 4, staged + tx * tile_bytes) || streamed;
  }
#if defined(__SSE2__)
  if (streamed) _mm_sfence();
#else
  (void)streamed;
#endif
}

void BandGather::scatter_tile(uint8_t orientation, uint8_t* dst, const uint8_t* src) const {
  if (use_blocks_) {
    scatter_tile_blocks(orientation, dst, src);
    return;
  }
  const uint32_t* off = offsets_[orientation].data();
  const uint64_t tp = tiling_.tile_pixels();
  for (uint64_t i = 0; i < tp; i++) Store32(dst + off[i], Load32(src + 4 * i));
}

void BandGather::scatter_staged(uint32_t band, uint8_t* rows, const uint8_t* staged) const {
  const uint32_t side = tiling_.tile_side();
  const uint64_t tile_bytes = tiling_.tile_pixels() * 4;
  thread_local std::vector<TilePlacement> scratch;
  const TilePlacement* tiles = tiling_.band_tiles(band, &scratch);
  for (uint32_t tx = 0; tx < tiling_.tiles_per_side(); tx++) {
    scatter_tile(tiles[tx].orientation, rows + size_t{tx} * side * 4, staged + tx * tile_bytes);
  }
}

}  // namespace pixelrts::codec
