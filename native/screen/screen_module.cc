// Binding of the screen concept: the Display class JavaScript sees (lib/screen/binding.ts).
//
// new Display(frameServer, socketPath, scanout, onEvent) connects at once (or throws
// ERR_PIXELRTS_DISPLAY_CONNECT) and runs its RFB client on a native thread that publishes to
// the frame server itself; onEvent gets only the rare events (ready, resize, error, close)
// through a thread-safe function. The thread stops on close(), on garbage collection and in an
// environment cleanup hook when the process exits.
#include <napi.h>

#include <memory>

#include "common/js_error.h"
#include "common/js_events.h"
#include "common/modules.h"
#include "frames/frames_module.h"
#include "screen/display.h"

namespace pixelrts {

namespace {

using screen::DisplayEvent;

const char* EventName(DisplayEvent::Type t) {
  switch (t) {
    case DisplayEvent::Type::kReady: return "ready";
    case DisplayEvent::Type::kResize: return "resize";
    case DisplayEvent::Type::kError: return "error";
    case DisplayEvent::Type::kClose: return "close";
  }
  return "?";
}

class DisplayWrap : public Napi::ObjectWrap<DisplayWrap>, public screen::DisplayEventSink {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "Display",
                       {
                           InstanceMethod<&DisplayWrap::Stats>("stats"),
                           InstanceMethod<&DisplayWrap::Nudge>("nudge"),
                           InstanceMethod<&DisplayWrap::Ref>("ref"),
                           InstanceMethod<&DisplayWrap::Unref>("unref"),
                           InstanceMethod<&DisplayWrap::Close>("close"),
                       });
  }

  explicit DisplayWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<DisplayWrap>(info) {
    Napi::Env env = info.Env();
    std::shared_ptr<frames::FrameServer> server = info.Length() > 0 ? FrameServerFrom(info[0]) : nullptr;
    if (!server || info.Length() < 4 || !info[1].IsString() || !info[2].IsNumber() || !info[3].IsFunction()) {
      ThrowJs(env, "ERR_PIXELRTS_DISPLAY_OPTIONS",
              "new Display(frameServer, socketPath, scanout, onEvent): expected a FrameServer, a string, a number and a function");
      return;
    }
    const int64_t scanout = info[2].As<Napi::Number>().Int64Value();
    if (scanout < 0 || scanout > 0xFFFF) {
      ThrowJs(env, "ERR_PIXELRTS_DISPLAY_OPTIONS", "scanout must be 0..65535, found " + std::to_string(scanout));
      return;
    }
    display_ = std::make_unique<screen::Display>(std::move(server), static_cast<uint32_t>(scanout), this);
    events_.Open(env, info[3].As<Napi::Function>(), "pixelrts-display", [this] { display_->Stop(); });
    const Failure f = display_->Start(info[1].As<Napi::String>().Utf8Value());
    if (!f.ok()) {
      events_.Close();
      ThrowJs(env, f);
      return;
    }
    events_.CloseAtExit(env);
  }

  ~DisplayWrap() override { events_.Close(); }

  void OnDisplayEvent(DisplayEvent&& event) override {
    auto* e = new DisplayEvent(std::move(event));
    if (!events_.Post(e, &DisplayWrap::Deliver)) delete e;
  }

 private:
  static void Deliver(Napi::Env env, Napi::Function callback, DisplayEvent* event) {
    std::unique_ptr<DisplayEvent> owned(event);
    if (env == nullptr || callback.IsEmpty()) return;
    Napi::Object o = Napi::Object::New(env);
    o.Set("type", EventName(event->type));
    switch (event->type) {
      case DisplayEvent::Type::kReady:
        o.Set("name", event->name);
        [[fallthrough]];
      case DisplayEvent::Type::kResize:
        o.Set("width", event->width);
        o.Set("height", event->height);
        break;
      case DisplayEvent::Type::kError:
        o.Set("code", event->code);
        o.Set("message", event->message);
        break;
      case DisplayEvent::Type::kClose:
        o.Set("reason", event->reason);
        break;
    }
    callback.Call({o});
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    const screen::DisplayStats s = display_->Stats();
    Napi::Object o = Napi::Object::New(env);
    const auto num = [&](const char* key, uint64_t v) { o.Set(key, Napi::Number::New(env, static_cast<double>(v))); };
    num("updates", s.updates);
    num("rects", s.rects);
    num("damagedPixels", s.damaged_pixels);
    num("published", s.published);
    num("resizes", s.resizes);
    num("bytesIn", s.bytes_in);
    num("width", s.width);
    num("height", s.height);
    return o;
  }

  Napi::Value Nudge(const Napi::CallbackInfo& info) { return Napi::Boolean::New(info.Env(), display_->Nudge()); }

  Napi::Value Ref(const Napi::CallbackInfo& info) { return events_.Ref(info); }
  Napi::Value Unref(const Napi::CallbackInfo& info) { return events_.Unref(info); }
  Napi::Value Close(const Napi::CallbackInfo& info) { return events_.Close(info); }

  std::unique_ptr<screen::Display> display_;
  JsEvents events_;
};

}  // namespace

void InitScreen(Napi::Env env, Napi::Object exports) { exports.Set("Display", DisplayWrap::Define(env)); }

}  // namespace pixelrts
