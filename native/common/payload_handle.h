// PayloadHandle: the JavaScript face of a PayloadSource. The codec hands one out for a
// container whose decode runs in the background (startPayload) or for bytes already in memory
// (payloadFromBuffer); the FUSE mount takes it and serves reads from it without calling back
// into JavaScript. The handle only shares ownership: a mount keeps the source alive after the
// JS object is collected.
#pragma once

#include <napi.h>

#include <cstdint>
#include <memory>

#include "common/failure.h"
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
  void Finalize(Napi::Env env) override;

 private:
  // JS: handle.size (bytes), handle.failure (string, empty while fine),
  // handle.waitReady(offset, length) -> errno (0 when ready; blocks: for tests and tools only),
  // handle.waitReadyAsync(offset, length) -> Promise<errno> (waits on the thread pool),
  // handle.view(offset, length) -> Buffer over the payload's own memory (no copy; waits for
  // the range first, so call it once waitReadyAsync resolved 0). A view keeps the source
  // alive, so it stays valid after the handle and any mount are gone. For a source whose bytes
  // are in a file the view is a copy, made into handle.view(offset, length, scratch) when given.
  Napi::Value Size(const Napi::CallbackInfo& info);
  Napi::Value FailureText(const Napi::CallbackInfo& info);
  Napi::Value WaitReady(const Napi::CallbackInfo& info);
  Napi::Value WaitReadyAsync(const Napi::CallbackInfo& info);
  Napi::Value View(const Napi::CallbackInfo& info);

  // Checks that info[0], info[1] are integers naming a range within the payload; else sets
  // `*error` (ERR_PIXELRTS_ARGUMENT or ERR_PIXELRTS_RANGE) and returns false.
  bool RangeArgs(const Napi::CallbackInfo& info, const char* fn, uint64_t* offset, uint64_t* length, Failure* error);

  std::shared_ptr<PayloadSource> source_;
  int64_t accounted_ = 0;  // bytes reported to V8 as external memory
};

}  // namespace pixelrts
