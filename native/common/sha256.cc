#include "common/sha256.h"

#include <dlfcn.h>

#include <mutex>

namespace pixelrts {

namespace {

// OpenSSL's one-shot digest, by its stable ABI (OpenSSL 1.1 and 3).
using EvpSha256Fn = const void* (*)();
using EvpDigestFn = int (*)(const void* data, size_t count, unsigned char* md, unsigned int* size, const void* type,
                            void* engine);

using CtxNewFn = void* (*)();
using CtxFreeFn = void (*)(void*);
using DigestInitFn = int (*)(void* ctx, const void* type, void* engine);
using DigestUpdateFn = int (*)(void* ctx, const void* data, size_t n);
using DigestFinalFn = int (*)(void* ctx, unsigned char* md, unsigned int* size);

struct OpenSsl {
  EvpDigestFn digest = nullptr;
  const void* sha256 = nullptr;
  CtxNewFn ctx_new = nullptr;
  CtxFreeFn ctx_free = nullptr;
  DigestInitFn init = nullptr;
  DigestUpdateFn update = nullptr;
  DigestFinalFn final = nullptr;
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
    void* from = dlsym(self, "EVP_Digest") != nullptr ? self : dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL | RTLD_NOLOAD);
    ssl.ctx_new = reinterpret_cast<CtxNewFn>(dlsym(from, "EVP_MD_CTX_new"));
    ssl.ctx_free = reinterpret_cast<CtxFreeFn>(dlsym(from, "EVP_MD_CTX_free"));
    ssl.init = reinterpret_cast<DigestInitFn>(dlsym(from, "EVP_DigestInit_ex"));
    ssl.update = reinterpret_cast<DigestUpdateFn>(dlsym(from, "EVP_DigestUpdate"));
    ssl.final = reinterpret_cast<DigestFinalFn>(dlsym(from, "EVP_DigestFinal_ex"));
    if (!ssl.ctx_new || !ssl.ctx_free || !ssl.init || !ssl.update || !ssl.final) return;
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

Sha256::Sha256() {
  const OpenSsl& ssl = Resolve();
  if (ssl.ctx_new == nullptr) return;
  ctx_ = ssl.ctx_new();
  if (ctx_ != nullptr && ssl.init(ctx_, ssl.sha256, nullptr) != 1) {
    ssl.ctx_free(ctx_);
    ctx_ = nullptr;
  }
}

Sha256::~Sha256() {
  if (ctx_ != nullptr) Resolve().ctx_free(ctx_);
}

void Sha256::Update(const uint8_t* data, size_t n) { Resolve().update(ctx_, data, n); }

void Sha256::Final(uint8_t out[kSize]) {
  unsigned int size = 0;
  Resolve().final(ctx_, out, &size);
}

}  // namespace pixelrts
