// How a native object with threads of its own (a frame server, a display) reports to JavaScript
// and is stopped. Events go through one thread-safe function, which keeps the process alive
// while it is referenced (like a listening socket) until unref(). The owner's threads are
// stopped by close(), by the object's destructor (garbage collection) or by an environment
// cleanup hook when the process exits with the object still running, whichever comes first;
// then the thread-safe function is let go.
#pragma once

#include <napi.h>

#include <functional>
#include <utility>

namespace pixelrts {

class JsEvents {
 public:
  JsEvents() = default;
  ~JsEvents() { Close(); }
  JsEvents(const JsEvents&) = delete;
  JsEvents& operator=(const JsEvents&) = delete;

  // `stop` stops the owner's threads; Close runs it before letting go of `callback`.
  void Open(Napi::Env env, Napi::Function callback, const char* name, std::function<void()> stop) {
    tsfn_ = Napi::ThreadSafeFunction::New(env, callback, name, 0, 1);
    live_ = true;
    stop_ = std::move(stop);
  }

  // Once the owner runs: Close at process exit too.
  void CloseAtExit(Napi::Env env) {
    env_ = env;
    napi_add_env_cleanup_hook(env, &JsEvents::CleanupHook, this);
    hook_added_ = true;
  }

  // From any of the owner's threads (never after `stop` returned): queues `data` for `deliver`
  // on the JS thread. False when it could not be queued; the caller still owns `data` then.
  template <typename Data, typename Deliver>
  bool Post(Data* data, Deliver deliver) {
    return tsfn_.NonBlockingCall(data, deliver) == napi_ok;
  }

  // The owner's ref(), unref() and close() methods, as JavaScript calls them.
  Napi::Value Ref(const Napi::CallbackInfo& info) {
    if (live_) tsfn_.Ref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Unref(const Napi::CallbackInfo& info) {
    if (live_) tsfn_.Unref(info.Env());
    return info.Env().Undefined();
  }
  Napi::Value Close(const Napi::CallbackInfo& info) {
    Close();
    return info.Env().Undefined();
  }

  // Stops the owner's threads, then lets go of the thread-safe function. Idempotent.
  void Close() {
    if (stop_) std::exchange(stop_, nullptr)();
    if (live_) {
      live_ = false;
      tsfn_.Release();
    }
    if (hook_added_) {
      hook_added_ = false;
      napi_remove_env_cleanup_hook(env_, &JsEvents::CleanupHook, this);
    }
  }

 private:
  static void CleanupHook(void* arg) {
    auto* self = static_cast<JsEvents*>(arg);
    self->hook_added_ = false;  // Node removes it as it runs it
    self->Close();
  }

  Napi::ThreadSafeFunction tsfn_;
  bool live_ = false;
  std::function<void()> stop_;
  napi_env env_ = nullptr;
  bool hook_added_ = false;
};

}  // namespace pixelrts
