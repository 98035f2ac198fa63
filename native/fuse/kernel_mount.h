// The kernel side of a mount: fusermount3 mounts the directory and hands back the /dev/fuse
// descriptor over a socket. With `auto_unmount` fusermount3 then waits in the background until
// that socket closes and unmounts a mount whose server died, so even SIGKILL of this process
// leaves no dead mount ("Transport endpoint is not connected") behind.
//
// libfuse's own fuse_session_mount() does the same dance but, in 3.14, never closes its end of
// the socket nor reaps fusermount3, so every mount would leak a descriptor and a process until
// exit (and the socket, opened without CLOEXEC, leaks into every child the process spawns). This
// class owns both: the socket (CLOEXEC) and the helper, reaped after an unmount.
#pragma once

#include <sys/types.h>

#include <memory>
#include <string>

#include "common/js_error.h"
#include "common/unique_fd.h"

namespace pixelrts {

class KernelMount {
 public:
  struct Options {
    std::string helper;      // absolute path of fusermount3
    std::string mountpoint;  // absolute path of an existing empty directory
    std::string options;     // -o list, e.g. "ro,auto_unmount,default_permissions,fsname=..."
  };

  // Runs fusermount3 and waits (bounded) for the descriptor. On success *out holds the mount.
  static Failure mount(const Options& options, std::unique_ptr<KernelMount>* out);

  ~KernelMount();
  KernelMount(const KernelMount&) = delete;
  KernelMount& operator=(const KernelMount&) = delete;

  // The /dev/fuse descriptor; the caller takes ownership (the FUSE session closes it).
  UniqueFd take_fuse_fd() { return std::move(fuse_fd_); }

  // Detaches the mount from the file system tree (lazily: files still open keep working until
  // the session stops). Idempotent; a mount already gone is not an error.
  Failure unmount();

 private:
  KernelMount(Options options, UniqueFd control, pid_t helper_pid, UniqueFd fuse_fd);

  Options options_;
  UniqueFd control_;  // our end of fusermount3's socket; closing it releases fusermount3
  pid_t helper_pid_;  // fusermount3, reaped in the destructor
  UniqueFd fuse_fd_;
  bool unmounted_ = false;
};

}  // namespace pixelrts
