// The pixelrts native addon: one module object, filled by each concept's Init.
#include <napi.h>

#include "common/modules.h"
#include "common/payload_handle.h"

namespace {

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  pixelrts::PayloadHandle::Init(env, exports);
  pixelrts::InitCodec(env, exports);
  pixelrts::InitFuse(env, exports);
  pixelrts::InitFrames(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pixelrts, Init)
