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

  // The streaming form, for data that passes by in pieces. Available() must be true.
  Sha256();
  ~Sha256();
  Sha256(const Sha256&) = delete;
  Sha256& operator=(const Sha256&) = delete;
  bool ok() const { return ctx_ != nullptr; }
  void Update(const uint8_t* data, size_t n);
  void Final(uint8_t out[kSize]);

 private:
  void* ctx_ = nullptr;  // an EVP_MD_CTX
};

}  // namespace pixelrts
