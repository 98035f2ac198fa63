// libcurl, loaded with dlopen when a remote container is first opened instead of linked into
// the addon: the prebuilt binaries then load on machines without it (everything but reading a
// container over HTTP works), and the system's libcurl brings the TLS stack, proxies and HTTP/2
// the user's machine is set up for. Debian's libcurl4 (OpenSSL) is tried first, then the GnuTLS
// flavour; both have the same ABI.
//
// The header comes from libcurl4-openssl-dev at build time, for its types and constants only.
#pragma once

// libcurl before 7.85 (Debian 11's) has only the options 7.85 deprecated; they are the fallback.
#define CURL_DISABLE_DEPRECATION
#include <curl/curl.h>

#include <memory>

#include "common/failure.h"

namespace pixelrts::remote {

class Libcurl {
 public:
  // The loaded library, shared by every remote file that holds it; closed when the last lets
  // go. ERR_PIXELRTS_DEPENDENCY, naming the package to install, when no libcurl can be loaded.
  static Failure Load(std::shared_ptr<const Libcurl>* out);

  ~Libcurl();
  Libcurl(const Libcurl&) = delete;
  Libcurl& operator=(const Libcurl&) = delete;

  decltype(&::curl_easy_init) easy_init = nullptr;
  decltype(&::curl_easy_setopt) easy_setopt = nullptr;
  decltype(&::curl_easy_perform) easy_perform = nullptr;
  decltype(&::curl_easy_getinfo) easy_getinfo = nullptr;
  decltype(&::curl_easy_cleanup) easy_cleanup = nullptr;
  decltype(&::curl_easy_strerror) easy_strerror = nullptr;
  decltype(&::curl_slist_append) slist_append = nullptr;
  decltype(&::curl_slist_free_all) slist_free_all = nullptr;

 private:
  struct Closer {
    void operator()(void* handle) const;
  };
  explicit Libcurl(void* handle);

  std::unique_ptr<void, Closer> handle_;
};

}  // namespace pixelrts::remote
