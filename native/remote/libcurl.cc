#include "remote/libcurl.h"

#include <dlfcn.h>

#include <mutex>
#include <string>

namespace pixelrts::remote {

namespace {

// Sonames of libcurl 7 and 8 (one ABI): Debian's OpenSSL flavour, then its GnuTLS one.
constexpr const char* kSonames[] = {"libcurl.so.4", "libcurl-gnutls.so.4"};

const std::string kInstall =
    "Install libcurl: on Debian/Ubuntu `apt-get install libcurl4`, on Fedora `dnf install libcurl`, on Arch "
    "`pacman -S curl`. Or download the container first (curl -O) and give its path.";

template <typename Fn>
bool Resolve(void* handle, const char* name, Fn* out, std::string* missing) {
  *out = reinterpret_cast<Fn>(dlsym(handle, name));
  if (*out == nullptr && missing->empty()) *missing = name;
  return *out != nullptr;
}

}  // namespace

void Libcurl::Closer::operator()(void* handle) const { dlclose(handle); }

Libcurl::Libcurl(void* handle) : handle_(handle) {}

Libcurl::~Libcurl() = default;

Failure Libcurl::Load(std::shared_ptr<const Libcurl>* out) {
  static std::mutex mutex;
  static std::weak_ptr<const Libcurl> live;
  std::lock_guard<std::mutex> lock(mutex);
  if (auto existing = live.lock()) {
    *out = std::move(existing);
    return Failure::none();
  }
  void* handle = nullptr;
  std::string why;
  for (const char* soname : kSonames) {
    // RTLD_LOCAL: curl's symbols (and its TLS library's) stay out of the global namespace.
    handle = dlopen(soname, RTLD_NOW | RTLD_LOCAL);
    if (handle != nullptr) break;
    const char* e = dlerror();
    if (why.empty() && e != nullptr) why = e;
  }
  if (handle == nullptr) {
    return Failure::make("ERR_PIXELRTS_DEPENDENCY",
                         "reading a container over HTTP needs libcurl, and it could not be loaded (" +
                             (why.empty() ? std::string("unknown reason") : why) + "). " + kInstall);
  }
  std::shared_ptr<Libcurl> lib(new Libcurl(handle));
  std::string missing;
  const bool all = Resolve(handle, "curl_easy_init", &lib->easy_init, &missing) &&
                   Resolve(handle, "curl_easy_setopt", &lib->easy_setopt, &missing) &&
                   Resolve(handle, "curl_easy_perform", &lib->easy_perform, &missing) &&
                   Resolve(handle, "curl_easy_getinfo", &lib->easy_getinfo, &missing) &&
                   Resolve(handle, "curl_easy_cleanup", &lib->easy_cleanup, &missing) &&
                   Resolve(handle, "curl_easy_strerror", &lib->easy_strerror, &missing) &&
                   Resolve(handle, "curl_slist_append", &lib->slist_append, &missing) &&
                   Resolve(handle, "curl_slist_free_all", &lib->slist_free_all, &missing);
  if (!all) {
    return Failure::make("ERR_PIXELRTS_DEPENDENCY",
                         "the libcurl found lacks " + missing + ": it is not libcurl 7 or 8. " + kInstall);
  }
  // curl_global_init runs inside the first curl_easy_init, once; taking the first handle here,
  // under the lock, keeps that from racing between threads of two remote files.
  if (void* first = lib->easy_init()) {
    lib->easy_cleanup(first);
  } else {
    return Failure::make("ERR_PIXELRTS_DEPENDENCY", "libcurl could not start (curl_easy_init failed). " + kInstall);
  }
  live = lib;
  *out = std::move(lib);
  return Failure::none();
}

}  // namespace pixelrts::remote
