// Binding of the net concept: the EthernetSwitch class JavaScript sees (lib/net/binding.ts).
//
// new EthernetSwitch(lockPath) takes the network's lock (or throws ERR_PIXELRTS_NET_BUSY) and
// starts the forwarding thread; addPort/removePort change its ports from the JS thread while
// frames flow; stats() reads its counters; close() stops the thread, unlinks every port's
// socket and the lock file (the lock is still held then). The thread also stops on garbage
// collection and in an environment cleanup hook when the process exits.
#include <napi.h>

#include <memory>
#include <vector>

#include "common/js_error.h"
#include "common/modules.h"
#include "net/directory_lock.h"
#include "net/ethernet_switch.h"

namespace pixelrts {

namespace {

using net::DirectoryLock;
using net::EthernetSwitch;

void StopAtExit(void* arg) { static_cast<EthernetSwitch*>(arg)->Stop(); }

Napi::Object PortStatsObject(Napi::Env env, const net::PortStats& s) {
  Napi::Object o = Napi::Object::New(env);
  o.Set("rxFrames", Napi::Number::New(env, static_cast<double>(s.rx_frames)));
  o.Set("rxBytes", Napi::Number::New(env, static_cast<double>(s.rx_bytes)));
  o.Set("txFrames", Napi::Number::New(env, static_cast<double>(s.tx_frames)));
  o.Set("txBytes", Napi::Number::New(env, static_cast<double>(s.tx_bytes)));
  o.Set("txDropped", Napi::Number::New(env, static_cast<double>(s.tx_dropped)));
  return o;
}

class SwitchWrap : public Napi::ObjectWrap<SwitchWrap> {
 public:
  static Napi::Function Define(Napi::Env env) {
    return DefineClass(env, "EthernetSwitch",
                       {
                           InstanceMethod<&SwitchWrap::AddPort>("addPort"),
                           InstanceMethod<&SwitchWrap::RemovePort>("removePort"),
                           InstanceMethod<&SwitchWrap::Stats>("stats"),
                           InstanceMethod<&SwitchWrap::Close>("close"),
                       });
  }

  explicit SwitchWrap(const Napi::CallbackInfo& info) : Napi::ObjectWrap<SwitchWrap>(info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsString()) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "new EthernetSwitch(lockPath): expected the lock file's path");
      return;
    }
    Failure f = DirectoryLock::Acquire(info[0].As<Napi::String>().Utf8Value(), &lock_);
    if (f.ok()) f = switch_.Start();
    if (!f.ok()) {
      ThrowJs(env, f);
      return;
    }
    env_ = env;
    napi_add_env_cleanup_hook(env, StopAtExit, &switch_);
    hooked_ = true;
  }

  ~SwitchWrap() override {
    if (hooked_) napi_remove_env_cleanup_hook(env_, StopAtExit, &switch_);
    switch_.Stop();
  }

 private:
  Napi::Value AddPort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 3 || !info[0].IsNumber() || !info[1].IsString() || !info[2].IsString()) {
      return ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "addPort(id, path, peerPath): expected a number and two strings");
    }
    if (closed_) return ThrowJs(env, "ERR_PIXELRTS_NET_PORT", "the switch is closed");
    const Failure f = switch_.AddPort(info[0].As<Napi::Number>().Int32Value(), info[1].As<Napi::String>().Utf8Value(),
                                      info[2].As<Napi::String>().Utf8Value());
    if (!f.ok()) return ThrowJs(env, f);
    return env.Undefined();
  }

  Napi::Value RemovePort(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    if (info.Length() < 1 || !info[0].IsNumber()) return ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", "removePort(id): expected a number");
    return Napi::Boolean::New(env, switch_.RemovePort(info[0].As<Napi::Number>().Int32Value()));
  }

  Napi::Value Stats(const Napi::CallbackInfo& info) {
    Napi::Env env = info.Env();
    std::vector<net::PortSnapshot> ports;
    const net::SwitchStats s = switch_.Stats(&ports);
    Napi::Object o = Napi::Object::New(env);
    o.Set("forwarded", Napi::Number::New(env, static_cast<double>(s.forwarded)));
    o.Set("flooded", Napi::Number::New(env, static_cast<double>(s.flooded)));
    o.Set("filtered", Napi::Number::New(env, static_cast<double>(s.filtered)));
    o.Set("runt", Napi::Number::New(env, static_cast<double>(s.runt)));
    o.Set("oversized", Napi::Number::New(env, static_cast<double>(s.oversized)));
    o.Set("badSource", Napi::Number::New(env, static_cast<double>(s.bad_source)));
    o.Set("foreign", Napi::Number::New(env, static_cast<double>(s.foreign)));
    o.Set("learnt", Napi::Number::New(env, static_cast<double>(s.learnt)));
    Napi::Object byPort = Napi::Object::New(env);
    for (const auto& p : ports) byPort.Set(std::to_string(p.id), PortStatsObject(env, p.stats));
    o.Set("ports", byPort);
    return o;
  }

  Napi::Value Close(const Napi::CallbackInfo& info) {
    if (!closed_) {
      closed_ = true;
      switch_.Stop();
      lock_.RemoveFile();
    }
    return info.Env().Undefined();
  }

  DirectoryLock lock_;
  EthernetSwitch switch_;
  napi_env env_ = nullptr;
  bool hooked_ = false;
  bool closed_ = false;
};

}  // namespace

void InitNet(Napi::Env env, Napi::Object exports) { exports.Set("EthernetSwitch", SwitchWrap::Define(env)); }

}  // namespace pixelrts
