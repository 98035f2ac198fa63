// libfuse3, loaded with dlopen when a mount starts instead of linked into the addon. libfuse is
// LGPL-2.1: loading the system's shared library keeps it out of the binary pixelrts ships, and
// the addon (codec, frame server, boots without a mount) loads and works on a machine without
// libfuse3 installed; only a mount needs it, and says which package to install when it is absent.
//
// The header still comes from libfuse3-dev at build time, for its types, constants and the
// function signatures below; no libfuse code is compiled in.
#pragma once

#include <fuse3/fuse_lowlevel.h>

#include <memory>

#include "common/failure.h"

namespace pixelrts {

class Libfuse {
 public:
  // The loaded library, shared by every mount that holds it: loaded by the first, closed
  // (dlclose) when the last holder lets go. ERR_PIXELRTS_FUSE_LIBRARY, naming the package to
  // install, when libfuse3.so.3 cannot be loaded or is not libfuse 3.
  static Failure Load(std::shared_ptr<const Libfuse>* out);

  // The library the calling FUSE callback runs under. Callbacks receive only a fuse_req_t, and
  // even reading its userdata takes a libfuse call; every callback runs inside a session that
  // holds the library, so the instance is alive whenever this is called from one.
  static const Libfuse& Current();

  ~Libfuse();
  Libfuse(const Libfuse&) = delete;
  Libfuse& operator=(const Libfuse&) = delete;

  // The functions pixelrts uses, with the header's own signatures.
  decltype(&::fuse_session_new) session_new = nullptr;
  decltype(&::fuse_session_mount) session_mount = nullptr;
  decltype(&::fuse_session_destroy) session_destroy = nullptr;
  decltype(&::fuse_session_fd) session_fd = nullptr;
  decltype(&::fuse_session_receive_buf) session_receive_buf = nullptr;
  decltype(&::fuse_session_process_buf) session_process_buf = nullptr;
  decltype(&::fuse_session_exited) session_exited = nullptr;
  decltype(&::fuse_req_userdata) req_userdata = nullptr;
  decltype(&::fuse_reply_err) reply_err = nullptr;
  decltype(&::fuse_reply_none) reply_none = nullptr;
  decltype(&::fuse_reply_entry) reply_entry = nullptr;
  decltype(&::fuse_reply_attr) reply_attr = nullptr;
  decltype(&::fuse_reply_open) reply_open = nullptr;
  decltype(&::fuse_reply_buf) reply_buf = nullptr;
  decltype(&::fuse_reply_iov) reply_iov = nullptr;
  decltype(&::fuse_reply_data) reply_data = nullptr;
  decltype(&::fuse_reply_statfs) reply_statfs = nullptr;
  decltype(&::fuse_add_direntry) add_direntry = nullptr;
  decltype(&::fuse_add_direntry_plus) add_direntry_plus = nullptr;

 private:
  struct Closer {
    void operator()(void* handle) const;
  };
  explicit Libfuse(void* handle);

  std::unique_ptr<void, Closer> handle_;
};

}  // namespace pixelrts
