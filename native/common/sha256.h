// SHA-256 from the OpenSSL that the running Node.js already carries: Node exports its libcrypto
// symbols to addons (statically linked in official builds, libcrypto.so in distributions'), so
// the addon calls it without linking a second copy or adding a dependency. Outside Node (fuzz
// targets, tools) the system's libcrypto.so.3 is loaded instead. OpenSSL uses the CPU's SHA
// extensions where there are some (about 2 GB/s here).
#pragma once

#include <cstddef>
#include <cstdint>

namespace pixelrts {

class Sha256 {
 public:
  static constexpr size_t kSize = 32;

  // True when an OpenSSL was found (checked once).
  static bool Available();

  // out = SHA-256(data[0, n)). Available() must be true.
  static void Digest(const uint8_t* data, size_t n, uint8_t out[kSize]);
};

}  // namespace pixelrts
