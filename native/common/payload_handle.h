// PayloadHandle: the JavaScript face of a PayloadSource. The codec hands one out for a
// container whose decode runs in the background (startPayload) or for bytes already in memory
// (payloadFromBuffer); the FUSE mount takes it and serves reads from it without calling back
// into JavaScript. The handle only shares ownership: a mount keeps the source alive after the
// JS object is collected.
#pragma once

#include <napi.h>

#include <memory>

#include "common/payload_source.h"

namespace pixelrts {

class PayloadHandle : public Napi::ObjectWrap<PayloadHandle> {
 public:
  static void Init(Napi::Env env, Napi::Object exports);

  // Wraps `source` in a new JS PayloadHandle object.
  static Napi::Object New(Napi::Env env, std::shared_ptr<PayloadSource> source);

  // The source behind `value`, or nullptr when `value` is not a PayloadHandle.
  static std::shared_ptr<PayloadSource> From(Napi::Value value);

  explicit PayloadHandle(const Napi::CallbackInfo& info);

 private:
  // JS: handle.size (bytes), handle.failure (string, empty while fine),
  // handle.waitReady(offset, length) -> errno (0 when ready; blocks: for tests and tools only).
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value FailureText(const Napi::CallbackInfo& info);
  Napi::Value WaitReady(const Napi::CallbackInfo& info);

  std::shared_ptr<PayloadSource> source_;
};

}  // namespace pixelrts
