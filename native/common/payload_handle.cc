#include "common/payload_handle.h"

#include <cerrno>
#include <cmath>
#include <cstring>
#include <string>
#include <utility>
#include <vector>

#include "common/addon_data.h"
#include "common/buffer_payload_source.h"
#include "common/js_error.h"

namespace pixelrts {

namespace {

// Pending source for the object being constructed by New(); the constructor takes it.
thread_local std::shared_ptr<PayloadSource> g_pending;

// JS: payloadFromBuffer(buffer) -> PayloadHandle over a copy of the bytes.
Napi::Value PayloadFromBuffer(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 1 || !info[0].IsBuffer()) {
    return ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "payloadFromBuffer: expected a Buffer as the first argument");
  }
  auto buf = info[0].As<Napi::Buffer<uint8_t>>();
  std::vector<uint8_t> bytes(buf.Data(), buf.Data() + buf.Length());
  return PayloadHandle::New(env, std::make_shared<BufferPayloadSource>(std::move(bytes)));
}

// The error for a range that did not become ready: the decode failed (EIO) or was cancelled.
Failure NotReady(const char* fn, int rc, const PayloadSource& source) {
  const std::string why = source.failure();
  if (rc == EINTR) return Failure::make("ERR_PIXELRTS_CANCELLED", std::string(fn) + ": the decode was cancelled");
  return Failure::make("ERR_PIXELRTS_DECODE", std::string(fn) + ": " + (why.empty() ? "the decode failed" : why));
}

// Waits for a range on the libuv thread pool, so the main thread never blocks on a decode.
// Holds the source, so the wait is safe after the JS handle is collected.
class WaitReadyWorker final : public Napi::AsyncWorker {
 public:
  WaitReadyWorker(Napi::Env env, std::shared_ptr<PayloadSource> source, uint64_t offset, uint64_t length)
      : Napi::AsyncWorker(env, "pixelrts:waitReadyAsync"),
        deferred_(Napi::Promise::Deferred::New(env)),
        source_(std::move(source)),
        offset_(offset),
        length_(length) {}

  Napi::Promise promise() const { return deferred_.Promise(); }

 protected:
  void Execute() override { rc_ = source_->wait_ready(offset_, length_); }
  void OnOK() override { deferred_.Resolve(Napi::Number::New(Env(), rc_)); }
  void OnError(const Napi::Error& e) override { deferred_.Reject(e.Value()); }

 private:
  Napi::Promise::Deferred deferred_;
  std::shared_ptr<PayloadSource> source_;
  uint64_t offset_, length_;
  int rc_ = 0;
};

// What an external Buffer made by view() owns: a share of the source whose memory it shows.
using ViewOwner = std::shared_ptr<PayloadSource>;

}  // namespace

void PayloadHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "PayloadHandle", {
      InstanceAccessor<&PayloadHandle::Size>("size"),
      InstanceAccessor<&PayloadHandle::FailureText>("failure"),
      InstanceMethod<&PayloadHandle::WaitReady>("waitReady"),
      InstanceMethod<&PayloadHandle::WaitReadyAsync>("waitReadyAsync"),
      InstanceMethod<&PayloadHandle::View>("view"),
  });
  GetAddonData(env)->payload_handle = Napi::Persistent(ctor);
  exports.Set("PayloadHandle", ctor);
  exports.Set("payloadFromBuffer", Napi::Function::New(env, PayloadFromBuffer, "payloadFromBuffer"));
}

Napi::Object PayloadHandle::New(Napi::Env env, std::shared_ptr<PayloadSource> source) {
  g_pending = std::move(source);
  Napi::Object obj = GetAddonData(env)->payload_handle.New({});
  g_pending.reset();
  return obj;
}

std::shared_ptr<PayloadSource> PayloadHandle::From(Napi::Value value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(GetAddonData(env)->payload_handle.Value())) return nullptr;
  return Unwrap(obj)->source_;
}

PayloadHandle::PayloadHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<PayloadHandle>(info) {
  if (!g_pending) {
    MakeJsError(info.Env(), "ERR_PIXELRTS_ARGUMENT",
                "PayloadHandle cannot be constructed from JavaScript; use payloadFromBuffer() or open()")
        .ThrowAsJavaScriptException();
    return;
  }
  source_ = std::move(g_pending);
  // The payload lives in native memory V8 cannot see: tell it, so that handles nobody
  // references are collected (freeing their decode) before such memory piles up.
  accounted_ = static_cast<int64_t>(source_->size());
  Napi::MemoryManagement::AdjustExternalMemory(info.Env(), accounted_);
}

void PayloadHandle::Finalize(Napi::Env env) {
  if (accounted_ != 0) Napi::MemoryManagement::AdjustExternalMemory(env, -accounted_);
}

Napi::Value PayloadHandle::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(source_->size()));
}

Napi::Value PayloadHandle::FailureText(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), source_->failure());
}

bool PayloadHandle::RangeArgs(const Napi::CallbackInfo& info, const char* fn, uint64_t* offset, uint64_t* length,
                              Failure* error) {
  // Integers up to 2^53 are exact in a double; sizes beyond that cannot occur.
  auto integer = [](const Napi::Value& v, double* out) {
    if (!v.IsNumber()) return false;
    *out = v.As<Napi::Number>().DoubleValue();
    return std::isfinite(*out) && *out >= 0 && *out <= 9007199254740991.0 && std::floor(*out) == *out;
  };
  double off = 0, len = 0;
  if (info.Length() < 2 || !integer(info[0], &off) || !integer(info[1], &len)) {
    *error = Failure::make("ERR_PIXELRTS_ARGUMENT",
                           std::string(fn) + "(offset, length): expected two non-negative integers");
    return false;
  }
  const uint64_t size = source_->size();
  *offset = static_cast<uint64_t>(off);
  *length = static_cast<uint64_t>(len);
  if (*offset > size || *length > size - *offset) {
    *error = Failure::make("ERR_PIXELRTS_RANGE", std::string(fn) + ": range [" + std::to_string(*offset) + ", " +
                                                     std::to_string(*offset + *length) + ") lies outside the " +
                                                     std::to_string(size) + "-byte payload");
    return false;
  }
  return true;
}

Napi::Value PayloadHandle::WaitReady(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t off = 0, len = 0;
  Failure error;
  if (!RangeArgs(info, "waitReady", &off, &len, &error)) return ThrowJs(env, error);
  return Napi::Number::New(env, source_->wait_ready(off, len));
}

Napi::Value PayloadHandle::WaitReadyAsync(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t off = 0, len = 0;
  Failure error;
  if (!RangeArgs(info, "waitReadyAsync", &off, &len, &error)) {
    auto deferred = Napi::Promise::Deferred::New(env);
    deferred.Reject(MakeJsError(env, error).Value());
    return deferred.Promise();
  }
  auto* worker = new WaitReadyWorker(env, source_, off, len);
  Napi::Promise p = worker->promise();
  worker->Queue();
  return p;
}

Napi::Value PayloadHandle::View(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  uint64_t off = 0, len = 0;
  Failure error;
  if (!RangeArgs(info, "view", &off, &len, &error)) return ThrowJs(env, error);
  // Bytes are only valid once the range is ready; after waitReadyAsync resolved 0 this returns at once.
  const int rc = source_->wait_ready(off, len);
  if (rc != 0) return ThrowJs(env, NotReady("view", rc, *source_));
  if (len == 0) return Napi::Buffer<uint8_t>::New(env, 0);
  if (source_->data() == nullptr) {
    // The bytes are in a file (the decoded cache): a copy is the view, into `scratch` when the
    // caller lends one large enough (a loop over a whole payload then allocates nothing).
    Napi::Buffer<uint8_t> copy;
    if (info.Length() > 2 && info[2].IsBuffer() && info[2].As<Napi::Buffer<uint8_t>>().Length() >= len) {
      Napi::Buffer<uint8_t> scratch = info[2].As<Napi::Buffer<uint8_t>>();
      copy = Napi::Buffer<uint8_t>::New(env, scratch.Data(), static_cast<size_t>(len),
                                        [](Napi::Env, uint8_t*, Napi::Reference<Napi::Buffer<uint8_t>>* ref) { delete ref; },
                                        new Napi::Reference<Napi::Buffer<uint8_t>>(Napi::Persistent(scratch)));
    } else {
      copy = Napi::Buffer<uint8_t>::New(env, static_cast<size_t>(len));
    }
    const int err = CopyOut(*source_, off, copy.Data(), static_cast<size_t>(len));
    if (err != 0) {
      return ThrowJs(env, "ERR_PIXELRTS_IO", std::string("view: cannot read the decoded payload (") + std::strerror(err) + ")");
    }
    return copy;
  }
  auto* owner = new ViewOwner(source_);
  // The payload memory is never written again once ready; the finalizer drops the share.
  uint8_t* data = const_cast<uint8_t*>(source_->data() + off);
  return Napi::Buffer<uint8_t>::New(env, data, static_cast<size_t>(len),
                                    [](Napi::Env, uint8_t*, ViewOwner* hint) { delete hint; }, owner);
}

}  // namespace pixelrts
