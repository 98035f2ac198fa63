#include "nbd/payload_opener.h"

#include "codec/background_decode.h"
#include "codec/decoded_cache.h"

namespace pixelrts::nbd {

Failure OpenPayload(const PayloadConfig& config, OpenedPayload* out) {
  if (!config.cache_entry.empty()) {
    if (config.compressed) {
      return Failure::make("ERR_PIXELRTS_ARGUMENT", config.container +
                                                        ": a compressed payload cannot be read through the decoded cache; "
                                                        "leave cache-entry= out");
    }
    std::shared_ptr<codec::DecodedCache> cache;
    Failure f = codec::DecodedCache::Open(config.container, config.cache_entry, config.payload_size, config.transposed, &cache);
    if (!f.ok()) return f;
    out->verified_reads = cache->verified_reads();
    out->source = std::move(cache);
    return Failure::none();
  }
  codec::BackgroundDecode::Options options;
  options.payload_size = config.payload_size;
  options.stored_size = config.stored_size;
  options.compressed = config.compressed;
  options.transposed = config.transposed;
  std::shared_ptr<codec::BackgroundDecode> decode;
  Failure f = codec::BackgroundDecode::Start(config.container, options, &decode);
  if (!f.ok()) return f;
  out->verified_reads = false;
  out->source = std::move(decode);
  return Failure::none();
}

}  // namespace pixelrts::nbd
