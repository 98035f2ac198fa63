// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/mount.h"

#include <fcntl.h>
#include <pthread.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <utility>

#include "fuse/fuse_session.h"
#include "fuse/kernel_mount.h"
#include "fuse/read_only_fs.h"
#include "common/unique_fd.h"

namespace pixelrts {

namespace {

// fusermount3 splits -o at commas; fsname may escape them (and backslashes) with a backslash.
std::string EscapeOption(const std::string& value) {
  std::string out;
  for (char c : value) {
    if (c == ',' || c == '\\') out += '\\';
    out += c;
  }
  return out;
}

// The kernel starts a FUSE mount with the default readahead window (128 KiB) and libfuse can
// only lower it, so a sequential reader gets 128 KiB requests. Raising the window of this
// mount's own backing device to 1 MiB (what a request can carry) makes readahead arrive in
// 1 MiB requests. Needs root (sysfs); without it the default stays, which is only slower.
void WidenReadahead(const std::string& mountpoint) {
  struct stat st;
  if (stat(mountpoint.c_str(), &st) != 0) return;
  std::string knob = "/sys/class/bdi/" + std::to_string(major(st.st_dev)) + ":" + std::to_string(minor(st.st_dev)) +
                     "/read_ahead_kb";
  UniqueFd fd(open(knob.c_str(), O_WRONLY | O_CLOEXEC));
  if (!fd.valid()) return;
  static const char kOneMiB[] = "1024";
  ssize_t ignored = write(fd.get(), kOneMiB, sizeof kOneMiB - 1);
  (void)ignored;
}

}  // namespace

Mount::Mount(Config config, std::shared_ptr<const Libfuse> fuse, std::shared_ptr<const FileTree> tree,
             std::shared_ptr<PayloadSource> source, EventSink sink)
    : config_(std::move(config)),
      fuse_(std::move(fuse)),
      tree_(std::move(tree)),
      source_(std::move(source)),
      sink_(std::move(sink)) {
  supervisor_ = std::thread([this] { supervise(); });
}

Mount::~Mount() { shutdown(); }

void Mount::request_unmount() {
  std::lock_guard<std::mutex> lock(mutex_);
  unmount_requested_ = true;
  wake_.notify_all();
}

void Mount::shutdown() {
  request_unmount();
  std::lock_guard<std::mutex> lock(join_mutex_);
  if (supervisor_.joinable()) supervisor_.join();
}

std::string Mount::mount_options() const {
  // ro: the VFS refuses writes before they reach us. auto_unmount: fusermount3 unmounts if this
  // process dies. default_permissions: the kernel checks the 0444/0555 modes itself.
  return "ro,auto_unmount,default_permissions,subtype=pixelrts,fsname=" + EscapeOption(config_.fsname);
}

void Mount::emit(Event::Kind kind, std::string code, std::string message) {
  sink_(Event{kind, std::move(code), std::move(message)});
}

void Mount::supervise() {
  pthread_setname_np(pthread_self(), "pixelrts-mount");
  std::unique_ptr<KernelMount> kernel_mount;
  Failure f = KernelMount::mount({config_.helper, config_.mountpoint, mount_options()}, &kernel_mount);
  if (!f.ok()) {
    emit(Event::Kind::kError, f.code, f.message);
    emit(Event::Kind::kExit, "", "not mounted");
    return;
  }

  // Declared before the session so it outlives the workers that use it.
  ReadOnlyFs fs(tree_, source_, config_.mtime, [this](const std::string& why) {
    emit(Event::Kind::kError, "ERR_PIXELRTS_FUSE_READ",
         "reads from " + config_.mountpoint + " fail with EIO: the container's payload could not be decoded: " + why);
  });
  std::unique_ptr<FuseSession> session;
  f = FuseSession::start(fuse_, ReadOnlyFs::operations(), &fs, kernel_mount->take_fuse_fd(), config_.workers,
                         [this] {
                           std::lock_guard<std::mutex> lock(mutex_);
                           session_ended_ = true;
                           wake_.notify_all();
                         },
                         &session);
  if (!f.ok()) {
    kernel_mount->unmount();
    kernel_mount.reset();
    emit(Event::Kind::kError, f.code, f.message);
    emit(Event::Kind::kExit, "", "not mounted");
    return;
  }
  WidenReadahead(config_.mountpoint);
  emit(Event::Kind::kMounted, "", "");

  bool external;
  {
    std::unique_lock<std::mutex> lock(mutex_);
    wake_.wait(lock, [this] { return unmount_requested_ || session_ended_; });
    external = !unmount_requested_;
  }

  // Readers blocked on bytes not decoded yet wake with EINTR; the decode stops.
  source_->cancel();
  Failure unmounted = external ? Failure::none() : kernel_mount->unmount();
  session.reset();       // joins the workers, closes /dev/fuse
  kernel_mount.reset();  // releases and reaps fusermount3
  if (!unmounted.ok()) emit(Event::Kind::kError, unmounted.code, unmounted.message);
  emit(Event::Kind::kExit, "", external ? "unmounted outside pixelrts (umount or fusermount3 -u)" : "unmounted");
}

}  // namespace pixelrts

#endif  // __linux__
