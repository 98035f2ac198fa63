// The remote part's JavaScript functions: a container file on an HTTP(S) server as a
// PayloadHandle (RemoteFile), which lib/remote mounts as one file for every local reader.
#include <napi.h>

#include <cmath>
#include <memory>
#include <string>

#include "common/js_error.h"
#include "common/modules.h"
#include "common/payload_handle.h"
#include "remote/remote_file.h"

namespace pixelrts {

namespace {

using remote::RemoteFile;

Failure ArgError(const std::string& message) { return Failure::make("ERR_PIXELRTS_ARGUMENT", message); }

// Reads o[key] as an integer in [min, max], or `fallback` when absent; false (with `error` set)
// when it is something else.
bool IntegerOption(const Napi::Object& o, const char* key, double min, double max, double fallback, double* out,
                   Failure* error) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) {
    *out = fallback;
    return true;
  }
  const double d = v.IsNumber() ? v.As<Napi::Number>().DoubleValue() : NAN;
  if (!std::isfinite(d) || std::floor(d) != d || d < min || d > max) {
    *error = ArgError(std::string("openRemote: ") + key + " must be an integer from " + std::to_string(static_cast<uint64_t>(min)) +
                      " to " + std::to_string(static_cast<uint64_t>(max)));
    return false;
  }
  *out = d;
  return true;
}

bool StringOption(const Napi::Object& o, const char* key, bool required, std::string* out, Failure* error) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined() && !required) return true;
  if (!v.IsString()) {
    *error = ArgError(std::string("openRemote: ") + key + " must be a string");
    return false;
  }
  *out = v.As<Napi::String>().Utf8Value();
  return true;
}

// JS: openRemote({ url, cachePath, size, validator?, retries?, stallSeconds?, connectTimeoutMs?,
// backoffMs? }) -> PayloadHandle over the remote file's bytes. Makes no request: the size and
// validator come from the caller (lib/remote asks the server, or reads an earlier open's).
Napi::Value OpenRemote(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsObject()) return ThrowJs(env, ArgError("openRemote: expected an options object"));
  Napi::Object o = info[0].As<Napi::Object>();
  RemoteFile::Options options;
  Failure error;
  double size = 0, retries = 0, stall = 0, connect = 0, backoff = 0;
  const bool ok = StringOption(o, "url", true, &options.url, &error) &&
                  StringOption(o, "cachePath", true, &options.cache_path, &error) &&
                  StringOption(o, "validator", false, &options.validator, &error) &&
                  IntegerOption(o, "size", 1, static_cast<double>(RemoteFile::kMaxSize), 0, &size, &error) &&
                  IntegerOption(o, "retries", 0, 100, 5, &retries, &error) &&
                  IntegerOption(o, "stallSeconds", 1, 3600, 15, &stall, &error) &&
                  IntegerOption(o, "connectTimeoutMs", 1, 600000, 10000, &connect, &error) &&
                  IntegerOption(o, "backoffMs", 1, 60000, 250, &backoff, &error);
  if (!ok) return ThrowJs(env, error);
  if (size == 0) return ThrowJs(env, ArgError("openRemote: size is required"));
  options.size = static_cast<uint64_t>(size);
  options.retries = static_cast<uint32_t>(retries);
  options.stall_seconds = static_cast<long>(stall);
  options.connect_timeout_ms = static_cast<long>(connect);
  options.backoff_ms = static_cast<uint32_t>(backoff);
  std::shared_ptr<RemoteFile> file;
  if (Failure f = RemoteFile::Open(options, &file); !f.ok()) return ThrowJs(env, f);
  return PayloadHandle::New(env, std::move(file));
}

// JS: remoteStats(handle) -> { bytesFetched, requests, retries, blocksPresent, blocks,
// blockSize, failure?: { code, message } }.
Napi::Value RemoteStats(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  auto file = std::dynamic_pointer_cast<RemoteFile>(info.Length() > 0 ? PayloadHandle::From(info[0]) : nullptr);
  if (!file) return ThrowJs(env, ArgError("remoteStats: expected the handle openRemote returned"));
  const RemoteFile::Stats s = file->stats();
  Napi::Object out = Napi::Object::New(env);
  out.Set("bytesFetched", static_cast<double>(s.bytes_fetched));
  out.Set("requests", static_cast<double>(s.requests));
  out.Set("retries", static_cast<double>(s.retries));
  out.Set("blocksPresent", static_cast<double>(s.blocks_present));
  out.Set("blocks", static_cast<double>(s.blocks));
  out.Set("blockSize", static_cast<double>(RemoteFile::kBlock));
  const Failure f = file->last_failure();
  if (!f.ok()) {
    Napi::Object failure = Napi::Object::New(env);
    failure.Set("code", f.code);
    failure.Set("message", f.message);
    out.Set("failure", failure);
  }
  return out;
}

}  // namespace

void InitRemote(Napi::Env env, Napi::Object exports) {
  exports.Set("openRemote", Napi::Function::New(env, OpenRemote, "openRemote"));
  exports.Set("remoteStats", Napi::Function::New(env, RemoteStats, "remoteStats"));
}

}  // namespace pixelrts
