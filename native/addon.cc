// The pixelrts native addon: one module object, filled by each concept's Init.
#include <napi.h>

#include "common/addon_data.h"
#include "common/js_error.h"
#include "common/modules.h"
#include "common/payload_handle.h"

namespace {

// JS: setErrorClass(PixelrtsError): the class native errors are made of from now on.
Napi::Value SetErrorClass(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsFunction()) {
    return pixelrts::ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "setErrorClass: expected the PixelrtsError class");
  }
  pixelrts::GetAddonData(env)->error_class = Napi::Persistent(info[0].As<Napi::Function>());
  return env.Undefined();
}

Napi::Object Init(Napi::Env env, Napi::Object exports) {
  env.SetInstanceData(new pixelrts::AddonData());
  exports.Set("abiVersion", Napi::Number::New(env, 1));
  exports.Set("setErrorClass", Napi::Function::New(env, SetErrorClass, "setErrorClass"));
  pixelrts::PayloadHandle::Init(env, exports);
  pixelrts::InitCodec(env, exports);
  pixelrts::InitRemote(env, exports);
  pixelrts::InitFuse(env, exports);
  pixelrts::InitFrames(env, exports);
  pixelrts::InitScreen(env, exports);
  pixelrts::InitNet(env, exports);
  return exports;
}

}  // namespace

NODE_API_MODULE(pixelrts, Init)
