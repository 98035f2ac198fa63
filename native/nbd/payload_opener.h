// Opens a container's payload for the nbdkit plugin as the codec's PayloadSource, the way the
// library does for a mount (lib/codec/container.ts): a payload stored uncompressed in a large
// container is decoded band by band on demand into its decoded cache entry (DecodedCache:
// memory bounded, each block checked against the file's hash tree, bands shared with every
// other process that reads the same entry); any other payload is decoded in the background
// into memory (BackgroundDecode).
#pragma once

#include <cstdint>
#include <memory>
#include <string>

#include "common/failure.h"
#include "common/payload_source.h"

namespace pixelrts::nbd {

struct PayloadConfig {
  std::string container;    // the .rts.png
  std::string cache_entry;  // the decoded cache entry's data file; empty: decode in memory
  uint64_t payload_size = 0;
  uint64_t stored_size = 0;  // bytes of pixel stream holding the stored payload
  bool compressed = false;   // the stored payload is zlib or zstd
  bool transposed = false;   // the legacy curve
};

struct OpenedPayload {
  std::shared_ptr<PayloadSource> source;
  // Every byte the source serves was checked against the container's hash tree as it was
  // decoded; when false, files are checked whole against their sha256 before they are served.
  bool verified_reads = false;
};

Failure OpenPayload(const PayloadConfig& config, OpenedPayload* out);

}  // namespace pixelrts::nbd
