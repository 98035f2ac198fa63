// PngWriter: writes a pixel stream as a PixelRTS PNG: G×G 8-bit RGBA, not interlaced, filter
// None on every scanline (binary data gains nothing from the other filters and they cost time),
// libdeflate at the chosen level, text chunks before the image data, IDAT in 1 MiB chunks.
//
// With the band index (default), each band (a row of Hilbert tiles) is compressed on its own,
// on two threads, and the pieces are joined into one zlib stream with a full flush between
// bands, whose offsets go into the pxBI chunk (band_index.h) so decoders can inflate bands in
// parallel. Any reader decodes the file as an ordinary PNG.
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "codec/byte_buffer.h"
#include "common/failure.h"

namespace pixelrts::codec {

struct PngTextEntry {
  std::string keyword;  // UTF-8; must be Latin-1 representable, 1–79 characters
  std::string text;     // UTF-8; tEXt when Latin-1 representable, else iTXt
};

struct EncodeParams {
  uint32_t grid = 0;  // 0: the spec §3 rule
  int level = 6;      // libdeflate 0–12
  std::vector<PngTextEntry> texts;
  bool band_index = true;
  bool hash_tree = true;  // with the band index: the pxHT chunk (hash_tree.h), when SHA-256 is at hand
  int threads = 0;  // 0: both cores when the band index is written
};

class PngWriter {
 public:
  static constexpr size_t kIdatChunk = size_t{1} << 20;

  // Spec §3: 1 for an empty stream, else the smallest power of two ≥ 4 with G²·4 ≥ size.
  static uint32_t DefaultGrid(uint64_t stream_size);

  // Checks the parameters against the stream size (grid, level, text keywords and bytes).
  static Failure Validate(uint64_t stream_size, const EncodeParams& params);

  // Whether the file gets the hash tree: asked for, with the band index, and SHA-256 at hand.
  static bool WantsHashTree(const EncodeParams& params);

  // Encoding threads for `params` (1 or 2).
  static int Threads(const EncodeParams& params);

  // The bytes before the image data: signature, IHDR, the text chunks. Shared with the file
  // encoder (png_file_writer.h), so both write the same file for the same stream.
  static std::vector<uint8_t> Head(uint32_t grid, const std::vector<PngTextEntry>& texts);

  // Appends one chunk (length, type, data, CRC) to `out`.
  static void AppendChunk(std::vector<uint8_t>* out, const char* type, const uint8_t* data, size_t n);

  // Writes the PNG into `out`.
  static Failure Encode(const uint8_t* stream, uint64_t stream_size, const EncodeParams& params, ByteBuffer* out,
                        size_t* out_size);
};

}  // namespace pixelrts::codec
