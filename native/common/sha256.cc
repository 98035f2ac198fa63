#include "common/sha256.h"

#include <dlfcn.h>

#include <mutex>

namespace pixelrts {

namespace {

// OpenSSL's one-shot digest, by its stable ABI (OpenSSL 1.1 and 3).
using EvpSha256Fn = const void* (*)();
using EvpDigestFn = int (*)(const void* data, size_t count, unsigned char* md, unsigned int* size, const void* type,
                            void* engine);

struct OpenSsl {
  EvpDigestFn digest = nullptr;
  const void* sha256 = nullptr;
};

const OpenSsl& Resolve() {
  static OpenSsl ssl;
  static std::once_flag once;
  std::call_once(once, [] {
    void* self = RTLD_DEFAULT;
    auto digest = reinterpret_cast<EvpDigestFn>(dlsym(self, "EVP_Digest"));
    auto sha256 = reinterpret_cast<EvpSha256Fn>(dlsym(self, "EVP_sha256"));
    if (digest == nullptr || sha256 == nullptr) {
      // Not inside Node: the system's library (kept loaded for the process's life).
      void* lib = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);
      if (lib == nullptr) return;
      digest = reinterpret_cast<EvpDigestFn>(dlsym(lib, "EVP_Digest"));
      sha256 = reinterpret_cast<EvpSha256Fn>(dlsym(lib, "EVP_sha256"));
      if (digest == nullptr || sha256 == nullptr) return;
    }
    ssl.digest = digest;
    ssl.sha256 = sha256();
  });
  return ssl;
}

}  // namespace

bool Sha256::Available() { return Resolve().digest != nullptr && Resolve().sha256 != nullptr; }

void Sha256::Digest(const uint8_t* data, size_t n, uint8_t out[kSize]) {
  const OpenSsl& ssl = Resolve();
  unsigned int size = 0;
  ssl.digest(data, n, out, &size, ssl.sha256, nullptr);
}

}  // namespace pixelrts
