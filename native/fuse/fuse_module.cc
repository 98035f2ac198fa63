// Binding of the fuse concept: `new FuseMount(options, onEvent)` mounts a file table over a
// PayloadHandle and reports 'mounted', 'error' and 'exit' through a thread-safe function.
// Every mount is also known to a per-environment registry, so the end of an environment
// (napi_add_env_cleanup_hook: worker termination, the main thread's normal end), exit()
// (process.exit, uncaught exceptions: an atexit handler) and garbage collection of the handle
// all unmount and join everything before the addon goes away.
#include <napi.h>

#include "common/modules.h"

#if defined(__linux__)

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <memory>
#include <mutex>
#include <string>
#include <system_error>
#include <utility>
#include <vector>

#include "common/js_error.h"
#include "common/payload_handle.h"
#include "fuse/file_tree.h"
#include "fuse/libfuse.h"
#include "fuse/mount.h"

namespace pixelrts {

namespace {

constexpr unsigned kDefaultWorkers = 4;
constexpr unsigned kMaxWorkers = 64;
constexpr double kMaxSafeInteger = 9007199254740991.0;

// Carries Mount events from the supervisor and FUSE threads to the JS callback. Posting never
// blocks; after the N-API function is gone (released, or finalized at environment teardown)
// posts are dropped.
class EventBridge {
 public:
  static std::shared_ptr<EventBridge> Create(Napi::Env env, Napi::Function callback) {
    auto bridge = std::make_shared<EventBridge>();
    // The context keeps the bridge alive until the N-API function is finalized.
    auto* context = new std::shared_ptr<EventBridge>(bridge);
    napi_status status = napi_create_threadsafe_function(
        env, callback, nullptr, Napi::String::New(env, "pixelrts-fuse"), 0, 1, context, Finalize, context, CallJs,
        &bridge->tsfn_);
    if (status != napi_ok) {
      delete context;
      return nullptr;
    }
    return bridge;
  }

  void post(Mount::Event event) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (released_ || finalized_) return;
    auto* data = new Mount::Event(std::move(event));
    if (napi_call_threadsafe_function(tsfn_, data, napi_tsfn_nonblocking) != napi_ok) delete data;
  }

  // The mount whose events these are; its supervisor thread is joined when 'exit' arrives.
  void set_mount(std::weak_ptr<Mount> mount) { mount_ = std::move(mount); }

  // After the last post: lets the function be finalized once its queue is delivered.
  void release() {
    std::lock_guard<std::mutex> lock(mutex_);
    if (released_ || finalized_) return;
    released_ = true;
    napi_release_threadsafe_function(tsfn_, napi_tsfn_release);
  }

  // Whether pending events keep the event loop alive (JS thread only): yes while mounting and
  // unmounting, so `await mount()` / `await m.unmount()` complete; no while mounted, so a
  // mount never holds the process open by itself.
  void keep_alive(napi_env env, bool on) {
    std::lock_guard<std::mutex> lock(mutex_);
    if (finalized_) return;
    if (on) {
      napi_ref_threadsafe_function(env, tsfn_);
    } else {
      napi_unref_threadsafe_function(env, tsfn_);
    }
  }

 private:
  static void CallJs(napi_env env, napi_value js_callback, void* context, void* data) {
    std::unique_ptr<Mount::Event> event(static_cast<Mount::Event*>(data));
    if (env == nullptr || js_callback == nullptr) return;  // teardown: drop (context may be gone)
    EventBridge& bridge = **static_cast<std::shared_ptr<EventBridge>*>(context);
    if (event->kind == Mount::Event::Kind::kMounted) bridge.keep_alive(env, false);
    if (event->kind == Mount::Event::Kind::kExit) {
      // 'exit' is the supervisor's last act: join it now (it is returning), so that when
      // JavaScript learns the mount ended, every thread of it is gone.
      if (auto mount = bridge.mount_.lock()) mount->shutdown();
    }
    const char* kind = event->kind == Mount::Event::Kind::kMounted ? "mounted"
                       : event->kind == Mount::Event::Kind::kError ? "error"
                                                                    : "exit";
    // Raw N-API with every status checked and nothing thrown: while an environment shuts down
    // (process exit, worker termination) queued events still arrive here but JavaScript can no
    // longer run, and node-addon-api's wrappers would turn that failure into a fatal error.
    napi_value args[3];
    napi_value recv;
    if (napi_create_string_utf8(env, kind, NAPI_AUTO_LENGTH, &args[0]) != napi_ok ||
        napi_create_string_utf8(env, event->code.c_str(), event->code.size(), &args[1]) != napi_ok ||
        napi_create_string_utf8(env, event->message.c_str(), event->message.size(), &args[2]) != napi_ok ||
        napi_get_undefined(env, &recv) != napi_ok) {
      return;
    }
    napi_call_function(env, recv, js_callback, 3, args, nullptr);
  }

  static void Finalize(napi_env /*env*/, void* data, void* /*hint*/) {
    auto* context = static_cast<std::shared_ptr<EventBridge>*>(data);
    {
      std::lock_guard<std::mutex> lock((*context)->mutex_);
      (*context)->finalized_ = true;
    }
    delete context;
  }

  std::mutex mutex_;
  napi_threadsafe_function tsfn_ = nullptr;
  bool released_ = false;
  bool finalized_ = false;
  std::weak_ptr<Mount> mount_;  // JS thread only
};

// The live mounts of one environment (the main thread or one worker thread).
class Registry {
 public:
  void add(const std::shared_ptr<Mount>& mount) {
    std::lock_guard<std::mutex> lock(mutex_);
    std::vector<std::weak_ptr<Mount>> live;
    for (auto& m : mounts_) {
      if (!m.expired()) live.push_back(std::move(m));
    }
    live.push_back(mount);
    mounts_ = std::move(live);
  }

  // Environment teardown: unmount everything still mounted and wait for it.
  void shutdown_all() {
    std::vector<std::shared_ptr<Mount>> live;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      for (auto& m : mounts_) {
        if (auto s = m.lock()) live.push_back(std::move(s));
      }
      mounts_.clear();
    }
    for (auto& m : live) m->request_unmount();  // all at once, then wait for each
    for (auto& m : live) m->shutdown();
  }

 private:
  std::mutex mutex_;
  std::vector<std::weak_ptr<Mount>> mounts_;
};

bool ReadUint(Napi::Value v, double max, uint64_t* out) {
  if (!v.IsNumber()) return false;
  double d = v.As<Napi::Number>().DoubleValue();
  if (!(d >= 0) || d > max || std::floor(d) != d) return false;
  *out = static_cast<uint64_t>(d);
  return true;
}

std::string ArgError(const std::string& what) { return "new FuseMount(options, onEvent): " + what; }

// Reads options.files into `builder`; an empty string when fine, else the error message.
std::string ReadFiles(Napi::Array files, FileTree::Builder* builder, Failure* failure) {
  for (uint32_t i = 0; i < files.Length(); i++) {
    std::string where = "options.files[" + std::to_string(i) + "]";
    Napi::Value item = files.Get(i);
    if (!item.IsObject()) return ArgError(where + " must be an object, found " + item.ToString().Utf8Value());
    Napi::Object file = item.As<Napi::Object>();
    Napi::Value path = file.Get("path");
    if (!path.IsString()) return ArgError(where + ".path must be a string");
    Napi::Value content = file.Get("content");
    if (content.IsBuffer()) {
      auto buf = content.As<Napi::Buffer<char>>();
      *failure = builder->add_inline_file(path.As<Napi::String>().Utf8Value(), std::string(buf.Data(), buf.Length()));
      if (!failure->ok()) return "";
      continue;
    }
    Napi::Value extents_value = file.Get("extents");
    if (!extents_value.IsArray()) return ArgError(where + " needs `content` (a Buffer) or `extents` ([[offset, length], ...])");
    Napi::Array extents_array = extents_value.As<Napi::Array>();
    std::vector<Extent> extents;
    uint64_t total = 0;
    for (uint32_t k = 0; k < extents_array.Length(); k++) {
      Napi::Value pair = extents_array.Get(k);
      Extent e{};
      if (!pair.IsArray() || pair.As<Napi::Array>().Length() != 2 ||
          !ReadUint(pair.As<Napi::Array>().Get(0u), kMaxSafeInteger, &e.offset) ||
          !ReadUint(pair.As<Napi::Array>().Get(1u), kMaxSafeInteger, &e.length)) {
        return ArgError(where + ".extents[" + std::to_string(k) + "] must be [offset, length] of non-negative integers");
      }
      total += e.length;
      extents.push_back(e);
    }
    Napi::Value size = file.Get("size");
    uint64_t declared = 0;
    if (!size.IsUndefined() && (!ReadUint(size, kMaxSafeInteger, &declared) || declared != total)) {
      return ArgError(where + ".size is " + size.ToString().Utf8Value() + " but its extents hold " +
                      std::to_string(total) + " bytes");
    }
    *failure = builder->add_extent_file(path.As<Napi::String>().Utf8Value(), extents);
    if (!failure->ok()) return "";
  }
  return "";
}

class FuseMountHandle : public Napi::ObjectWrap<FuseMountHandle> {
 public:
  static Napi::Function Define(Napi::Env env, std::shared_ptr<Registry>* registry) {
    return DefineClass(env, "FuseMount", {InstanceMethod<&FuseMountHandle::Unmount>("unmount")}, registry);
  }

  explicit FuseMountHandle(const Napi::CallbackInfo& info) : Napi::ObjectWrap<FuseMountHandle>(info) {
    Napi::Env env = info.Env();
    registry_ = *static_cast<std::shared_ptr<Registry>*>(info.Data());
    if (info.Length() < 2 || !info[0].IsObject() || !info[1].IsFunction()) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("expected an options object and an event callback"));
      return;
    }
    Napi::Object options = info[0].As<Napi::Object>();
    Mount::Config config;
    Napi::Value mountpoint = options.Get("mountpoint");
    Napi::Value helper = options.Get("helper");
    Napi::Value fsname = options.Get("fsname");
    if (!mountpoint.IsString() || !helper.IsString()) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("options.mountpoint and options.helper (fusermount3) must be strings"));
      return;
    }
    config.mountpoint = mountpoint.As<Napi::String>().Utf8Value();
    config.helper = helper.As<Napi::String>().Utf8Value();
    config.fsname = fsname.IsString() ? fsname.As<Napi::String>().Utf8Value() : "pixelrts";

    Napi::Value mtime = options.Get("mtimeMs");
    double ms = mtime.IsNumber() ? mtime.As<Napi::Number>().DoubleValue() : 0;
    if (!(ms >= 0) || ms > kMaxSafeInteger) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("options.mtimeMs must be a non-negative number"));
      return;
    }
    double secs = std::floor(ms / 1000);
    config.mtime.tv_sec = static_cast<time_t>(secs);
    config.mtime.tv_nsec = static_cast<long>(std::llround((ms - secs * 1000) * 1e6)) % 1000000000L;

    uint64_t workers = kDefaultWorkers;
    Napi::Value workers_value = options.Get("workers");
    if (!workers_value.IsUndefined() && (!ReadUint(workers_value, kMaxWorkers, &workers) || workers == 0)) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("options.workers must be an integer from 1 to 64"));
      return;
    }
    config.workers = static_cast<unsigned>(workers);

    std::shared_ptr<PayloadSource> source = PayloadHandle::From(options.Get("payload"));
    if (!source) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("options.payload must be a PayloadHandle (from a container or payloadFromBuffer)"));
      return;
    }
    Napi::Value files = options.Get("files");
    if (!files.IsArray()) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", ArgError("options.files must be an array"));
      return;
    }
    FileTree::Builder builder(source->size());
    Failure failure;
    std::string arg_error = ReadFiles(files.As<Napi::Array>(), &builder, &failure);
    if (!arg_error.empty()) {
      ThrowJs(env, "ERR_PIXELRTS_ARGUMENT", arg_error);
      return;
    }
    if (!failure.ok()) {
      ThrowJs(env, failure);
      return;
    }

    // Loaded here, on the JS thread, so a missing libfuse3 is thrown at once with the package
    // to install, like the checks before it, rather than reported later as an event.
    std::shared_ptr<const Libfuse> fuse;
    failure = Libfuse::Load(&fuse);
    if (!failure.ok()) {
      ThrowJs(env, failure);
      return;
    }

    bridge_ = EventBridge::Create(env, info[1].As<Napi::Function>());
    if (!bridge_) {
      ThrowJs(env, "ERR_PIXELRTS_FUSE_SESSION", "could not create the event channel for the mount");
      return;
    }
    auto bridge = bridge_;
    try {
      mount_ = std::make_shared<Mount>(std::move(config), std::move(fuse), builder.build(), std::move(source),
                                       [bridge](Mount::Event e) {
                                         bool last = e.kind == Mount::Event::Kind::kExit;
                                         bridge->post(std::move(e));
                                         if (last) bridge->release();
                                       });
    } catch (const std::system_error& e) {
      bridge_->release();
      ThrowJs(env, "ERR_PIXELRTS_FUSE_SESSION", std::string("could not start the mount's thread: ") + e.what());
      return;
    }
    bridge_->set_mount(mount_);
    registry_->add(mount_);
  }

  // Collected without unmount(): unmount now rather than leave a mount nobody can reach.
  ~FuseMountHandle() override {
    if (mount_) mount_->shutdown();
  }

 private:
  // JS: handle.unmount(); completion arrives as the 'exit' event.
  Napi::Value Unmount(const Napi::CallbackInfo& info) {
    if (mount_) {
      bridge_->keep_alive(info.Env(), true);
      mount_->request_unmount();
    }
    return info.Env().Undefined();
  }

  std::shared_ptr<Registry> registry_;
  std::shared_ptr<EventBridge> bridge_;
  std::shared_ptr<Mount> mount_;
};

}  // namespace

// Every environment's registry, for the exit handler. Deliberately never destroyed: exit()
// runs static destructors, and the handler must still find the list after they ran.
std::mutex& RegistriesMutex() {
  static std::mutex* m = new std::mutex;
  return *m;
}

std::vector<std::shared_ptr<Registry>>& Registries() {
  static auto* all = new std::vector<std::shared_ptr<Registry>>;
  return *all;
}

// process.exit() and an uncaught exception end the process through exit() without running the
// main environment's cleanup hooks, so the addon also unmounts from an exit handler.
void UnmountAllAtExit() {
  std::vector<std::shared_ptr<Registry>> all;
  {
    std::lock_guard<std::mutex> lock(RegistriesMutex());
    all = Registries();
  }
  for (auto& r : all) r->shutdown_all();
}

void InitFuse(Napi::Env env, Napi::Object exports) {
  static std::once_flag exit_handler;
  std::call_once(exit_handler, [] { std::atexit(UnmountAllAtExit); });
  auto* registry = new std::shared_ptr<Registry>(std::make_shared<Registry>());
  {
    std::lock_guard<std::mutex> lock(RegistriesMutex());
    Registries().push_back(*registry);
  }
  // Environment teardown (the main thread's normal end, a worker thread's end or termination).
  napi_add_env_cleanup_hook(
      env,
      [](void* arg) {
        auto* r = static_cast<std::shared_ptr<Registry>*>(arg);
        (*r)->shutdown_all();
        {
          std::lock_guard<std::mutex> lock(RegistriesMutex());
          auto& all = Registries();
          all.erase(std::remove(all.begin(), all.end(), *r), all.end());
        }
        delete r;
      },
      registry);
  exports.Set("FuseMount", FuseMountHandle::Define(env, registry));
}

}  // namespace pixelrts

#else  // !__linux__

namespace pixelrts {

// No FUSE here: lib/mount.ts reports ERR_PIXELRTS_FUSE_UNSUPPORTED when FuseMount is absent.
void InitFuse(Napi::Env /*env*/, Napi::Object /*exports*/) {}

}  // namespace pixelrts

#endif  // __linux__
