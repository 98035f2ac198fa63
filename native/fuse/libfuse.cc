// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/libfuse.h"

#include <dlfcn.h>

#include <atomic>
#include <mutex>
#include <string>

namespace pixelrts {

namespace {

// The soname of every libfuse 3.x: the ABI pixelrts is written against.
constexpr const char* kSoname = "libfuse3.so.3";
// The version node the functions used here were introduced with. A link against libfuse3.so
// binds each to its default version, which is this one today; naming it keeps that binding if a
// later libfuse adds a new default with another signature (libfuse versions symbols for that).
constexpr const char* kVersion = "FUSE_3.0";

const std::string kInstall =
    "Install libfuse 3: on Debian/Ubuntu `apt-get install fuse3` (the library is the package libfuse3-3), on Fedora "
    "`dnf install fuse3`, on Arch `pacman -S fuse3`. Everything but mounting works without it.";

// The one live instance, for Current(). Load() hands out the live instance while one exists,
// so at most one is alive at a time.
std::atomic<const Libfuse*> g_current{nullptr};

void* Symbol(void* handle, const char* name) {
#if defined(__GLIBC__)
  return dlvsym(handle, name, kVersion);
#else
  // musl has no symbol versioning (and no dlvsym): the one definition is the one.
  return dlsym(handle, name);
#endif
}

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(Symbol(handle, name));
  if (*out == nullptr && missing->empty()) *missing = name;
  return *out != nullptr;
}

}  // namespace

void Libfuse::Closer::operator()(void* handle) const { dlclose(handle); }

Libfuse::Libfuse(void* handle) : handle_(handle) {}

Libfuse::~Libfuse() {
  const Libfuse* self = this;
  g_current.compare_exchange_strong(self, nullptr);
}

const Libfuse& Libfuse::Current() { return *g_current.load(std::memory_order_acquire); }

Failure Libfuse::Load(std::shared_ptr<const Libfuse>* out) {
  static std::mutex mutex;
  static std::weak_ptr<const Libfuse> live;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = live.lock()) {
    *out = std::move(existing);
    return Failure::none();
  }

  // RTLD_LOCAL: libfuse's symbols stay out of the global namespace, where they could stand in
  // for another module's own copy.
  void* handle = dlopen(kSoname, RTLD_NOW | RTLD_LOCAL);
  if (handle == nullptr) {
    const char* why = dlerror();
    return Failure::make("ERR_PIXELRTS_FUSE_LIBRARY", std::string("FUSE mounts need libfuse 3, and ") + kSoname +
                                                          " could not be loaded (" + (why ? why : "unknown reason") +
                                                          "). " + kInstall);
  }
  std::shared_ptr<Libfuse> lib(new Libfuse(handle));
  std::string missing;
  bool all = Resolve(handle, "fuse_session_new", &lib->session_new, &missing) &&
             Resolve(handle, "fuse_session_mount", &lib->session_mount, &missing) &&
             Resolve(handle, "fuse_session_destroy", &lib->session_destroy, &missing) &&
             Resolve(handle, "fuse_session_fd", &lib->session_fd, &missing) &&
             Resolve(handle, "fuse_session_receive_buf", &lib->session_receive_buf, &missing) &&
             Resolve(handle, "fuse_session_process_buf", &lib->session_process_buf, &missing) &&
             Resolve(handle, "fuse_session_exited", &lib->session_exited, &missing) &&
             Resolve(handle, "fuse_req_userdata", &lib->req_userdata, &missing) &&
             Resolve(handle, "fuse_reply_err", &lib->reply_err, &missing) &&
             Resolve(handle, "fuse_reply_none", &lib->reply_none, &missing) &&
             Resolve(handle, "fuse_reply_entry", &lib->reply_entry, &missing) &&
             Resolve(handle, "fuse_reply_attr", &lib->reply_attr, &missing) &&
             Resolve(handle, "fuse_reply_open", &lib->reply_open, &missing) &&
             Resolve(handle, "fuse_reply_buf", &lib->reply_buf, &missing) &&
             Resolve(handle, "fuse_reply_iov", &lib->reply_iov, &missing) &&
             Resolve(handle, "fuse_reply_data", &lib->reply_data, &missing) &&
             Resolve(handle, "fuse_reply_statfs", &lib->reply_statfs, &missing) &&
             Resolve(handle, "fuse_add_direntry", &lib->add_direntry, &missing) &&
             Resolve(handle, "fuse_add_direntry_plus", &lib->add_direntry_plus, &missing);
  if (!all) {
    return Failure::make("ERR_PIXELRTS_FUSE_LIBRARY", std::string("the ") + kSoname + " found lacks " + missing + "@" +
                                                          kVersion + ", so it is not a working libfuse 3. " + kInstall);
  }
  g_current.store(lib.get(), std::memory_order_release);
  live = lib;
  *out = std::move(lib);
  return Failure::none();
}

}  // namespace pixelrts

#endif  // __linux__
