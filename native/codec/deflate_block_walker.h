// DeflateBlockWalker: finds where the blocks of a raw deflate stream (RFC 1951) begin and end,
// without producing output. libdeflate compresses whole buffers and marks the last block
// final; to join independently compressed bands into one stream with full flushes between
// them, the encoder must clear that block's BFINAL bit, and only a walk through the Huffman
// codes tells where the last block starts.
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts::codec {

class DeflateBlockWalker {
 public:
  struct Result {
    uint64_t final_header_bit;  // bit offset (LSB-first) of the final block's BFINAL bit
    uint64_t end_bit;           // bit offset just past the final block's end-of-block code
  };

  // Walks `data` up to the end of its final block. False when the stream is invalid or ends
  // early (the encoder then writes the file without a band index).
  static bool Walk(const uint8_t* data, size_t size, Result* result);
};

}  // namespace pixelrts::codec
