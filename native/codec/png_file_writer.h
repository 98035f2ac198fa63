// PngFileWriter: writes a PixelRTS PNG straight into a file, band by band, from a StreamSource
// read on demand. Memory holds a few bands at a time (a band is 32 scanlines: 8 MiB for the
// largest 65536×65536 image), never the stream or the image, so a disk image of any size packs
// in bounded memory. The file is byte for byte what PngWriter::Encode writes for the same
// stream and parameters: the band index's chunk is reserved before the image data and filled
// in once every band's offset is known.
#pragma once

#include <cstdint>
#include <functional>
#include <string>

#include "codec/png_writer.h"
#include "codec/stream_source.h"
#include "common/failure.h"

namespace pixelrts::codec {

class PngFileWriter {
 public:
  // Told the stream bytes done and the total after each few bands (on the encoding thread).
  using Progress = std::function<void(uint64_t done, uint64_t total)>;

  // Writes the PNG to `fd` (an empty file, positioned at 0); `name` is what errors call it.
  // Files written this way always have the band index unless params.band_index is false.
  static Failure Write(const StreamSource& source, const EncodeParams& params, int fd, const std::string& name,
                       const Progress& progress);
};

}  // namespace pixelrts::codec
