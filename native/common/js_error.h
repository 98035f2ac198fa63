// Errors that cross into JavaScript. Native code never lets a C++ exception reach
// Node-API: it records a Failure (a stable ERR_PIXELRTS_* code and a message that says
// what was expected, what was found and what to do) and the binding layer turns it into
// a PixelrtsError, the class lib/native.ts hands over with setErrorClass() as the addon
// loads, so that native errors are the same class as the library's own.
#pragma once

#include <napi.h>

#include <string>

#include "common/addon_data.h"
#include "common/failure.h"

namespace pixelrts {

inline Napi::Error MakeJsError(Napi::Env env, const std::string& code, const std::string& message) {
  AddonData* data = GetAddonData(env);
  if (data != nullptr && !data->error_class.IsEmpty()) {
    Napi::Object err = data->error_class.New({Napi::String::New(env, code), Napi::String::New(env, message)});
    if (!env.IsExceptionPending()) return Napi::Error(env, err);
    // The class threw (it never should): the error is still reported, as a plain Error.
    env.GetAndClearPendingException();
  }
  Napi::Error err = Napi::Error::New(env, message);
  err.Set("code", Napi::String::New(env, code));
  return err;
}

inline Napi::Error MakeJsError(Napi::Env env, const Failure& f) {
  return MakeJsError(env, f.code, f.message);
}

// Throws (as a pending JS exception) and returns undefined, for `return ThrowJs(...)`.
inline Napi::Value ThrowJs(Napi::Env env, const std::string& code, const std::string& message) {
  MakeJsError(env, code, message).ThrowAsJavaScriptException();
  return env.Undefined();
}

inline Napi::Value ThrowJs(Napi::Env env, const Failure& f) { return ThrowJs(env, f.code, f.message); }

}  // namespace pixelrts
