// BandEncoder: turns one band of the image (a row of Hilbert tiles, 32 scanlines) into deflate
// data that can be joined to its neighbours, for the band index (band_index.h): the band's
// pixels are scattered from the stream, every scanline gets filter type None, and the band is
// compressed on its own; every band but the last then ends with a full flush (an empty stored
// block) so the next band starts on a byte boundary with an empty history.
//
// BandPipeline runs two encoders, one per core, over a range of bands. The in-memory encoder
// runs it once over every band; the file encoder runs it over a few bands at a time and writes
// them before taking the next, so memory holds only those bands.
#pragma once

#include <cstdint>
#include <memory>
#include <vector>

#include "codec/band_gather.h"
#include "codec/byte_buffer.h"
#include "codec/deflater.h"
#include "codec/hilbert.h"
#include "codec/stream_source.h"
#include "common/failure.h"

namespace pixelrts::codec {

// One encoded band: its deflate bytes, the adler32 of its raw (filtered) scanlines, and its
// leaves of the hash tree (hash_tree.h): one SHA-256 per tile, left to right, when asked for.
struct EncodedBand {
  std::vector<uint8_t> bytes;
  uint32_t adler = 1;
  std::vector<uint8_t> leaves;
};

class BandEncoder {
 public:
  // `leaves`: also hash each tile for the hash tree.
  BandEncoder(const HilbertTiling& tiling, const BandGather& gather, int level, bool leaves);

  // Allocates the buffers (about three bands' worth); false when memory is exhausted.
  bool init();

  // Encodes band `band` of the image from `source`.
  Failure encode(uint32_t band, const StreamSource& source, EncodedBand* out);

 private:
  Failure fill_rows(uint32_t band, const StreamSource& source);
  // SHA-256 of each of the band's tiles (their runs of the stream, zeros past its end).
  void hash_tiles(uint32_t band, const StreamSource& source, std::vector<uint8_t>* leaves);
  // Compresses the filled rows; the size, or 0 when the output could not be cut at the band's
  // end as the band index needs.
  size_t compress(Deflater* deflater, bool last);

  const HilbertTiling& tiling_;
  const BandGather& gather_;
  Deflater deflater_;
  std::unique_ptr<Deflater> stored_;  // level 0, when a band's output at the chosen level cannot be cut
  size_t stride_;
  size_t band_bytes_;
  ByteBuffer rows_;
  bool leaves_;
  ByteBuffer staged_;  // the band's tiles read from a source that is not in memory
  ByteBuffer compressed_;
  size_t capacity_ = 0;
  std::vector<TilePlacement> placements_;  // band_tiles' scratch
};

class BandPipeline {
 public:
  // `threads`: 1 or 2. `leaves`: hash every tile for the hash tree.
  BandPipeline(const HilbertTiling& tiling, const StreamSource& source, int level, int threads, bool leaves);

  // Encodes bands [first, first + count) into out[0, count).
  Failure run(uint32_t first, uint32_t count, std::vector<EncodedBand>* out);

 private:
  const HilbertTiling& tiling_;
  const StreamSource& source_;
  BandGather gather_;
  std::vector<std::unique_ptr<BandEncoder>> encoders_;
  bool ready_ = false;
};

}  // namespace pixelrts::codec
