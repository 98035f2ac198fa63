// Binding of the frames concept: the FrameServer class JavaScript sees (lib/frames-binding.ts).
//
// Events leave the server's threads through one thread-safe function; the JS side turns them
// into EventEmitter events. The thread-safe function is referenced while the server is
// (like a listening net.Server it keeps the process alive) until unref(). Threads stop on
// close(), when the object is garbage-collected, and in an environment cleanup hook when
// the process exits with the server still running.
#include <napi.h>

#include <atomic>
#include <memory>

#include "common/addon_data.h"
#include "common/js_error.h"
#include "common/js_events.h"
#include "common/modules.h"
#include "frames/frame_server.h"
#include "frames/frames_module.h"
#include "frames/hxfr_protocol.h"

namespace pixelrts {

namespace {

using frames::FrameServer;
using frames::ServerEvent;

constexpr int kMaxOutstandingFrameEvents = 64;

// An event on its way to JavaScript. Frame events count themselves in `outstanding` until
// delivered, so a JavaScript thread that falls behind sheds frame events, not memory. The
// counter is shared because queued events may be delivered after the wrap is gone.
struct Envelope {
  ServerEvent event;
  std::shared_ptr<std::atomic<int>> outstanding;
};

const char* EventName(ServerEvent::Type t) {
  switch (t) {
    case ServerEvent::Type::kConnection: return "connection";
    case ServerEvent::Type::kClose: return "disconnect";
    case ServerEvent::Type::kFrame: return "frame";
    case ServerEvent::Type::kError: return "error";
    case ServerEvent::Type::kScanout: return "scanout";
    case ServerEvent::Type::kResolve: return "resolve";
  }
  return "?";
}

bool GetUint(const Napi::Object& o, const char* key, uint64_t max, uint64_t* out, std::string* error) {
  Napi::Value v = o.Get(key);
  if (v.IsUndefined()) return true;
  if (!v.IsNumber()) {
    *error = std::string("option ") + key + " must be a number";
    return false;
  }
  const double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0 && d <= static_cast<double>(max)) || d != static_cast<double>(static_cast<uint64_t>(d))) {
    *error = std::string("option ") + key + " must be an integer 0.." + std::to_string(max) + ", found " +
             v.ToString().Utf8Value();
    return false;
  }
  *out = static_cast<uint64_t>(d);
  return true;
}

// Reads {width, height, format, stride, data} into a native frame; false with `error`.
bool ReadFrame(const Napi::Object& o, frames::RawFrame* frame, std::string* error) {
  uint64_t w = 0, h = 0, format = 0, stride = 0;
  if (!GetUint(o, "width", 0xFFFFFFFFu, &w, error) || !GetUint(o, "height", 0xFFFFFFFFu, &h, error) ||
      !GetUint(o, "format", 0xFFFFFFFFu, &format, error) || !GetUint(o, "stride", 0xFFFFFFFFu, &stride, error)) {
    return false;
  }
  Napi::Value data = o.Get("data");
  if (!data.IsTypedArray() || data.As<Napi::TypedArray>().TypedArrayType() != napi_uint8_array) {
    *error = "frame.data must be a Buffer or Uint8Array";
    return false;
  }
  auto bytes = data.As<Napi::Uint8Array>();
  if (!hxfr::ResolvePixelLayout(static_cast<uint32_t>(format), static_cast<uint32_t>(w), static_cast<uint32_t>(h),
                                static_cast<uint32_t>(stride), bytes.ByteLength(), &frame->layout, error)) {
    return false;
  }
  // One copy, so encoding can run on a pool thread while JavaScript reuses its buffer.
  frame->pixels = hxfr::ByteBuffer::Allocate(bytes.ByteLength());
  std::memcpy(frame->pixels.data.get(), bytes.Data(), bytes.ByteLength());
  return true;
}

class FrameServerWrap : public Napi::ObjectWrap<FrameServerWrap>, public frames::ServerEventSink {
 public:
  std::shared_ptr<FrameServer> server() const { return server_; }

  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "FrameServer",
                       {
                           InstanceMethod<&FrameServerWrap::Addresses>("addresses"),
                           InstanceMethod<&FrameServerWrap::Publish>("publish"),
                           InstanceMethod<&FrameServerWrap::SetResolver>("setResolver"),
                           InstanceMethod<&FrameServerWrap::AnswerResolve>("answerResolve"),
                           InstanceMethod<&FrameServerWrap::SetFrameEvents>("setFrameEvents"),
                           InstanceMethod<&FrameServerWrap::Stats>("stats"),
                           InstanceMethod<&FrameServerWrap::Ref>("ref"),
                           InstanceMethod<&FrameServerWrap::Unref>("unref"),
                           InstanceMethod<&FrameServerWrap::Close>("close"),
                       });
  }

  explicit FrameServerWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FrameServerWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      ThrowJs(env, "ERR_PIXELRTS_FRAMES_OPTIONS", "new FrameServer(options, onEvent): expected an object and a function");
      return;
    }
    Napi::Object o = info[0].As<Napi::Object>();
    frames::ServerOptions options;
    std::string error;
    uint64_t max_clients = options.max_clients, max_frame = options.max_frame_bytes;
    uint64_t budget = options.memory_budget, stall = options.stall_timeout_ms;
    if (!GetUint(o, "maxClients", 65536, &max_clients, &error) ||
        !GetUint(o, "maxFrameBytes", 1ull << 32, &max_frame, &error) ||
        !GetUint(o, "memoryBudget", 1ull << 53, &budget, &error) ||
        !GetUint(o, "stallTimeout", 0x7FFFFFFF, &stall, &error)) {
      ThrowJs(env, "ERR_PIXELRTS_FRAMES_OPTIONS", error);
      return;
    }
    // lib/frames/server.ts checks these with friendlier messages; this guards the native side.
    // A largest frame must fit beside the answers other clients leave unread (a quarter of the
    // budget at most), or its client could wait forever.
    if (max_clients == 0 || max_frame == 0 || stall == 0 || budget / 2 < max_frame) {
      ThrowJs(env, "ERR_PIXELRTS_FRAMES_OPTIONS",
              "maxClients, maxFrameBytes and stallTimeout must be positive and memoryBudget at least twice maxFrameBytes");
      return;
    }
    options.max_clients = static_cast<uint32_t>(max_clients);
    options.max_frame_bytes = max_frame;
    options.memory_budget = budget;
    options.stall_timeout_ms = static_cast<uint32_t>(stall);
    if (o.Get("settingNames").IsObject()) {
      Napi::Object n = o.Get("settingNames").As<Napi::Object>();
      for (auto [key, field] : {std::pair{"maxClients", &frames::SettingNames::max_clients},
                                std::pair{"maxFrameBytes", &frames::SettingNames::max_frame_bytes},
                                std::pair{"stallTimeout", &frames::SettingNames::stall_timeout}}) {
        if (n.Get(key).IsString()) options.names.*field = n.Get(key).As<Napi::String>().Utf8Value();
      }
    }
    if (o.Get("tcp").IsObject()) {
      Napi::Object t = o.Get("tcp").As<Napi::Object>();
      frames::ListenSpec spec;
      spec.kind = frames::ListenSpec::Kind::kTcp;
      spec.host = t.Get("host").ToString().Utf8Value();
      uint64_t port = 0;
      if (!GetUint(t, "port", 65535, &port, &error)) {
        ThrowJs(env, "ERR_PIXELRTS_FRAMES_OPTIONS", "tcp: " + error);
        return;
      }
      spec.port = static_cast<uint32_t>(port);
      options.listen.push_back(spec);
    }
    if (o.Get("unix").IsString()) {
      frames::ListenSpec spec;
      spec.kind = frames::ListenSpec::Kind::kUnix;
      spec.path = o.Get("unix").As<Napi::String>().Utf8Value();
      options.listen.push_back(spec);
    }
    if (o.Get("vsock").IsObject()) {
      Napi::Object v = o.Get("vsock").As<Napi::Object>();
      frames::ListenSpec spec;
      spec.kind = frames::ListenSpec::Kind::kVsock;
      uint64_t port = 0, cid = spec.cid;
      if (!GetUint(v, "port", 0xFFFFFFFFu, &port, &error) || !GetUint(v, "cid", 0xFFFFFFFFu, &cid, &error)) {
        ThrowJs(env, "ERR_PIXELRTS_FRAMES_OPTIONS", "vsock: " + error);
        return;
      }
      spec.port = static_cast<uint32_t>(port);
      spec.cid = static_cast<uint32_t>(cid);
      options.listen.push_back(spec);
    }
    if (o.Get("recordDir").IsString()) options.record_dir = o.Get("recordDir").As<Napi::String>().Utf8Value();

    server_ = std::make_shared<FrameServer>(std::move(options), this);
    events_.Open(env, info[1].As<Napi::Function>(), "pixelrts-frames", [this] { server_->Stop(); });
    if (!server_->Start(&error)) {
      events_.Close();
      const bool vsock = error.find("AF_VSOCK") != std::string::npos;
      const bool record = error.rfind("record: ", 0) == 0;
      ThrowJs(env, record ? "ERR_PIXELRTS_FRAMES_RECORD" : vsock ? "ERR_PIXELRTS_FRAMES_VSOCK" : "ERR_PIXELRTS_FRAMES_LISTEN",
              record ? error.substr(8) : error);
      return;
    }
    events_.CloseAtExit(env);
  }

  ~FrameServerWrap() override { events_.Close(); }

  // --- ServerEventSink (server threads) ---
  void OnEvent(ServerEvent&& event) override {
    auto* e = new Envelope{std::move(event), nullptr};
    if (e->event.type == ServerEvent::Type::kFrame) {
      e->outstanding = outstanding_frames_;
      (*outstanding_frames_)++;
    }
    if (!events_.Post(e, &FrameServerWrap::Deliver)) {
      if (e->outstanding) (*e->outstanding)--;
      delete e;
    }
  }
  bool WantsFrameEvents() const override {
    return frame_events_ && *outstanding_frames_ < kMaxOutstandingFrameEvents;
  }

 private:
  static void Deliver(Napi::Env env, Napi::Function callback, Envelope* envelope) {
    std::unique_ptr<Envelope> owned(envelope);
    if (envelope->outstanding) (*envelope->outstanding)--;
    if (env == nullptr || callback.IsEmpty()) return;
    const ServerEvent* e = &envelope->event;
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", EventName(e->type));
    o.Set("connection", Napi::Number::New(env, static_cast<double>(e->connection)));
    switch (e->type) {
      case ServerEvent::Type::kConnection:
        o.Set("transport", e->transport);
        o.Set("peer", e->peer);
        break;
      case ServerEvent::Type::kClose:
        o.Set("reason", e->reason);
        break;
      case ServerEvent::Type::kError:
        o.Set("code", e->code);
        o.Set("message", e->message);
        break;
      case ServerEvent::Type::kFrame:
        o.Set("scanout", Napi::Number::New(env, static_cast<double>(e->scanout)));
        o.Set("width", e->width);
        o.Set("height", e->height);
        o.Set("encodedWidth", e->encoded_width);
        o.Set("encodedHeight", e->encoded_height);
        o.Set("format", e->format);
        o.Set("bytes", Napi::Number::New(env, static_cast<double>(e->bytes)));
        o.Set("keyframe", e->keyframe);
        o.Set("pts", Napi::BigInt::New(env, e->pts));
        o.Set("encodeMs", e->encode_ms);
        break;
      case ServerEvent::Type::kScanout:
        o.Set("scanout", Napi::Number::New(env, static_cast<double>(e->scanout)));
        o.Set("enabled", e->enabled);
        o.Set("width", e->width);
        o.Set("height", e->height);
        o.Set("refresh", e->refresh);
        break;
      case ServerEvent::Type::kResolve:
        o.Set("token", Napi::Number::New(env, static_cast<double>(e->token)));
        o.Set("resourceId", e->resource_id);
        o.Set("width", e->width);
        o.Set("height", e->height);
        o.Set("format", e->format);
        o.Set("stride", e->stride);
        o.Set("pts", Napi::BigInt::New(env, e->pts));
        break;
    }
    callback.Call({o});
  }

  Napi::Value Addresses(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    Napi::Array list = Napi::Array::New(env);
    uint32_t i = 0;
    for (const auto& l : server_->listeners()) {
      Napi::Object a = Napi::Object::New(env);
      const frames::ListenSpec& s = l->spec();
      a.Set("transport", l->transport());
      switch (s.kind) {
        case frames::ListenSpec::Kind::kTcp:
          a.Set("host", s.host);
          a.Set("port", s.port);
          break;
        case frames::ListenSpec::Kind::kUnix:
          a.Set("path", s.path);
          break;
        case frames::ListenSpec::Kind::kVsock:
          a.Set("cid", s.cid);
          a.Set("port", s.port);
          break;
      }
      list.Set(i++, a);
    }
    return list;
  }

  // publish(scanoutId, pts: bigint, frame) → boolean
  Napi::Value Publish(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsBigInt() || !info[2].IsObject()) {
      return ThrowJs(env, "ERR_PIXELRTS_FRAMES_FRAME", "publish(scanoutId, pts, frame): bad arguments");
    }
    const int64_t id = info[0].As<Napi::Number>().Int64Value();
    if (id < 0 || id > 0xFFFF) {
      return ThrowJs(env, "ERR_PIXELRTS_FRAMES_FRAME",
                     "publish: scanoutId must be 0..65535 (it travels in the 16-bit session_id), found " +
                         std::to_string(id));
    }
    bool lossless = false;
    const int64_t pts = info[1].As<Napi::BigInt>().Int64Value(&lossless);
    frames::RawFrame frame;
    std::string error;
    if (!ReadFrame(info[2].As<Napi::Object>(), &frame, &error)) {
      return ThrowJs(env, "ERR_PIXELRTS_FRAMES_FRAME", "publish: " + error);
    }
    return Napi::Boolean::New(env, server_->Publish(static_cast<uint32_t>(id), pts, std::move(frame)));
  }

  Napi::Value SetResolver(const Napi::CallbackInfo& info) {
    server_->SetResolver(info.Length() > 0 && info[0].ToBoolean().Value());
    return info.Env().Undefined();
  }

  // answerResolve(token, frame | null, errorMessage?) → undefined; throws when `frame` is invalid
  // (the request is then answered with ERROR -2 carrying the reason).
  Napi::Value AnswerResolve(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const uint64_t token = static_cast<uint64_t>(info[0].ToNumber().Int64Value());
    if (info.Length() < 2 || !info[1].IsObject()) {
      const std::string text = info.Length() > 2 && info[2].IsString() ? info[2].As<Napi::String>().Utf8Value() : "";
      server_->AnswerResolve(token, nullptr, text);
      return env.Undefined();
    }
    frames::RawFrame frame;
    std::string error;
    if (!ReadFrame(info[1].As<Napi::Object>(), &frame, &error)) {
      server_->AnswerResolve(token, nullptr, "the host's resolver returned an unusable frame: " + error);
      return ThrowJs(env, "ERR_PIXELRTS_FRAMES_FRAME", "resolver answer: " + error);
    }
    server_->AnswerResolve(token, &frame, "");
    return env.Undefined();
  }

  Napi::Value SetFrameEvents(const Napi::CallbackInfo& info) {
    frame_events_ = info.Length() > 0 && info[0].ToBoolean().Value();
    return info.Env().Undefined();
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const frames::ServerStats s = server_->Stats();
    Napi::Object o = Napi::Object::New(env);
    o.Set("clients", Napi::Number::New(env, static_cast<double>(s.clients)));
    o.Set("connections", Napi::Number::New(env, static_cast<double>(s.connections)));
    o.Set("frames", Napi::Number::New(env, static_cast<double>(s.frames)));
    o.Set("published", Napi::Number::New(env, static_cast<double>(s.published)));
    o.Set("bytesIn", Napi::Number::New(env, static_cast<double>(s.bytes_in)));
    o.Set("bytesOut", Napi::Number::New(env, static_cast<double>(s.bytes_out)));
    o.Set("drops", Napi::Number::New(env, static_cast<double>(s.drops)));
    o.Set("errors", Napi::Number::New(env, static_cast<double>(s.errors)));
    o.Set("downscaled", Napi::Number::New(env, static_cast<double>(s.downscaled)));
    o.Set("encodeMsTotal", s.encode_ms_total);
    o.Set("convertMsTotal", s.convert_ms_total);
    return o;
  }

  Napi::Value Ref(const Napi::CallbackInfo& info) { return events_.Ref(info); }
  Napi::Value Unref(const Napi::CallbackInfo& info) { return events_.Unref(info); }
  Napi::Value Close(const Napi::CallbackInfo& info) { return events_.Close(info); }

  // Shared with native publishers (a display, native/screen), which may outlive this object.
  std::shared_ptr<FrameServer> server_;
  JsEvents events_;
  std::atomic<bool> frame_events_{false};
  const std::shared_ptr<std::atomic<int>> outstanding_frames_ = std::make_shared<std::atomic<int>>(0);
};

}  // namespace

std::shared_ptr<frames::FrameServer> FrameServerFrom(Napi::Value value) {
  AddonData* data = GetAddonData(value.Env());
  if (!value.IsObject() || data == nullptr || data->frame_server.IsEmpty()) return nullptr;
  bool is = false;
  if (napi_instanceof(value.Env(), value, data->frame_server.Value(), &is) != napi_ok || !is) return nullptr;
  FrameServerWrap* wrap = FrameServerWrap::Unwrap(value.As<Napi::Object>());
  return wrap != nullptr ? wrap->server() : nullptr;
}

void InitFrames(Napi::Env env, Napi::Object exports) {
  Napi::Function ctor = FrameServerWrap::Define(env);
  GetAddonData(env)->frame_server = Napi::Persistent(ctor);
  exports.Set("FrameServer", ctor);
}

}  // namespace pixelrts
