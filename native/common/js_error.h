// Errors that cross into JavaScript. Native code never lets a C++ exception reach
// Node-API: it records a Failure (a stable ERR_PIXELRTS_* code and a message that says
// what was expected, what was found and what to do) and the binding layer turns it into
// a JS Error with `code` set.
#pragma once

#include <napi.h>

#include <string>

#include "common/failure.h"

namespace pixelrts {

inline Napi::Error MakeJsError(Napi::Env env, const std::string& code, const std::string& message) {
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
