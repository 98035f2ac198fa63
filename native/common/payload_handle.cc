#include "common/payload_handle.h"

#include <utility>
#include <vector>

#include "common/buffer_payload_source.h"
#include "common/js_error.h"

namespace pixelrts {

namespace {

// The constructor, kept per addon instance (worker threads load their own instance).
struct PayloadHandleData {
  Napi::FunctionReference constructor;
};

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

}  // namespace

void PayloadHandle::Init(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = DefineClass(env, "PayloadHandle", {
      InstanceAccessor<&PayloadHandle::Size>("size"),
      InstanceAccessor<&PayloadHandle::FailureText>("failure"),
      InstanceMethod<&PayloadHandle::WaitReady>("waitReady"),
  });
  auto* data = new PayloadHandleData{Napi::Persistent(ctor)};
  env.SetInstanceData<PayloadHandleData>(data);
  exports.Set("PayloadHandle", ctor);
  exports.Set("payloadFromBuffer", Napi::Function::New(env, PayloadFromBuffer, "payloadFromBuffer"));
}

Napi::Object PayloadHandle::New(Napi::Env env, std::shared_ptr<PayloadSource> source) {
  g_pending = std::move(source);
  Napi::Object obj = env.GetInstanceData<PayloadHandleData>()->constructor.New({});
  g_pending.reset();
  return obj;
}

std::shared_ptr<PayloadSource> PayloadHandle::From(Napi::Value value) {
  Napi::Env env = value.Env();
  if (!value.IsObject()) return nullptr;
  Napi::Object obj = value.As<Napi::Object>();
  if (!obj.InstanceOf(env.GetInstanceData<PayloadHandleData>()->constructor.Value())) return nullptr;
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
}

Napi::Value PayloadHandle::Size(const Napi::CallbackInfo& info) {
  return Napi::Number::New(info.Env(), static_cast<double>(source_->size()));
}

Napi::Value PayloadHandle::FailureText(const Napi::CallbackInfo& info) {
  return Napi::String::New(info.Env(), source_->failure());
}

Napi::Value PayloadHandle::WaitReady(const Napi::CallbackInfo& info) {
  Napi::Env env = info.Env();
  if (info.Length() < 2 || !info[0].IsNumber() || !info[1].IsNumber()) {
    return ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "waitReady(offset, length): expected two numbers");
  }
  double off = info[0].As<Napi::Number>().DoubleValue();
  double len = info[1].As<Napi::Number>().DoubleValue();
  double size = static_cast<double>(source_->size());
  if (off < 0 || len < 0 || off + len > size) {
    return ThrowJs(env, "ERR_PIXELRTS_RANGE", "waitReady: range [" + std::to_string(off) + ", +" +
                   std::to_string(len) + ") lies outside the payload of " + std::to_string(size) + " bytes");
  }
  int rc = source_->wait_ready(static_cast<uint64_t>(off), static_cast<uint64_t>(len));
  return Napi::Number::New(env, rc);
}

}  // namespace pixelrts
