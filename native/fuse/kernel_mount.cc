// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/kernel_mount.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mount.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <utility>
#include <vector>

namespace pixelrts {

namespace {

// fusermount3 usually answers in milliseconds; this bounds a helper stuck on a broken path.
constexpr int kHelperTimeoutMs = 15000;
// The descriptor number fusermount3 finds its socket on (named in _FUSE_COMMFD).
constexpr int kChildControlFd = 3;

std::string Errno(int err) { return std::strerror(err); }

Failure MountFailure(const std::string& mountpoint, const std::string& detail) {
  return Failure::make("ERR_PIXELRTS_FUSE_MOUNT", "could not mount a FUSE file system at " + mountpoint + ": " + detail);
}

// Moves `fd` to a number above the standard streams and fusermount3's socket number, so a
// dup2 in the child always copies (and so clears CLOEXEC) instead of being a no-op.
UniqueFd AboveChildFds(UniqueFd fd) {
  if (fd.get() > kChildControlFd) return fd;
  return UniqueFd(fcntl(fd.get(), F_DUPFD_CLOEXEC, kChildControlFd + 1));
}

// A pipe whose write end becomes the child's stderr, to quote the helper's complaint.
struct StderrPipe {
  UniqueFd read_end;
  UniqueFd write_end;
};

bool MakeStderrPipe(StderrPipe* p) {
  int fds[2];
  if (pipe2(fds, O_CLOEXEC) != 0) return false;
  p->read_end.reset(fds[0]);
  p->write_end = AboveChildFds(UniqueFd(fds[1]));
  return p->write_end.valid();
}

// What the helper wrote to stderr (after it exited), trimmed, at most 4 KiB.
std::string ReadAll(int fd) {
  std::string out;
  char buf[512];
  while (out.size() < 4096) {
    ssize_t n = read(fd, buf, sizeof buf);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    out.append(buf, static_cast<size_t>(n));
  }
  while (!out.empty() && (out.back() == '\n' || out.back() == ' ')) out.pop_back();
  return out;
}

// Waits for `pid`; returns a readable exit description ("" for a clean exit 0).
std::string Reap(pid_t pid) {
  int status = 0;
  pid_t r;
  do {
    r = waitpid(pid, &status, 0);
  } while (r < 0 && errno == EINTR);
  if (r < 0) return "";  // already reaped elsewhere (SIGCHLD ignored): nothing to report
  if (WIFEXITED(status)) return WEXITSTATUS(status) == 0 ? "" : "exit code " + std::to_string(WEXITSTATUS(status));
  if (WIFSIGNALED(status)) return "signal " + std::to_string(WTERMSIG(status));
  return "";
}

// posix_spawn (vfork semantics, safe in a threaded process) with a clean signal state, stdin and
// stdout on /dev/null, stderr on `stderr_fd`, and `control_fd` (if >= 0) as descriptor 3.
int Spawn(const std::vector<std::string>& args, int control_fd, int stderr_fd, pid_t* pid) {
  posix_spawn_file_actions_t actions;
  posix_spawnattr_t attr;
  posix_spawn_file_actions_init(&actions);
  posix_spawnattr_init(&attr);
  posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0);
  posix_spawn_file_actions_addopen(&actions, 1, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_adddup2(&actions, stderr_fd, 2);
  if (control_fd >= 0) posix_spawn_file_actions_adddup2(&actions, control_fd, kChildControlFd);

  // The calling thread may block signals (Node's threads do); fusermount3 must start with
  // default dispositions and nothing blocked.
  sigset_t empty, all;
  sigemptyset(&empty);
  sigfillset(&all);
  posix_spawnattr_setsigmask(&attr, &empty);
  posix_spawnattr_setsigdefault(&attr, &all);
  posix_spawnattr_setflags(&attr, POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF);

  std::vector<char*> argv;
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  // A fixed environment: reading `environ` here would race with process.env writes in JS.
  std::string commfd = "_FUSE_COMMFD=" + std::to_string(kChildControlFd);
  std::string path = "PATH=/usr/sbin:/usr/bin:/sbin:/bin";
  char* envp[] = {const_cast<char*>(commfd.c_str()), const_cast<char*>(path.c_str()), nullptr};

  int rc = posix_spawn(pid, args[0].c_str(), &actions, &attr, argv.data(), envp);
  posix_spawn_file_actions_destroy(&actions);
  posix_spawnattr_destroy(&attr);
  return rc;
}

// Receives the /dev/fuse descriptor fusermount3 sends (SCM_RIGHTS), CLOEXEC from the start.
// Returns -1 with *err set (0 when fusermount3 closed the socket without sending one).
int ReceiveFd(int sock, int* err) {
  char byte;
  iovec iov{&byte, 1};
  alignas(cmsghdr) char control[CMSG_SPACE(sizeof(int))];
  msghdr msg{};
  msg.msg_iov = &iov;
  msg.msg_iovlen = 1;
  msg.msg_control = control;
  msg.msg_controllen = sizeof control;
  ssize_t n;
  do {
    n = recvmsg(sock, &msg, MSG_CMSG_CLOEXEC);
  } while (n < 0 && errno == EINTR);
  if (n <= 0) {
    *err = n == 0 ? 0 : errno;
    return -1;
  }
  cmsghdr* cmsg = CMSG_FIRSTHDR(&msg);
  if (cmsg == nullptr || cmsg->cmsg_level != SOL_SOCKET || cmsg->cmsg_type != SCM_RIGHTS ||
      cmsg->cmsg_len != CMSG_LEN(sizeof(int))) {
    *err = EPROTO;
    return -1;
  }
  int fd;
  std::memcpy(&fd, CMSG_DATA(cmsg), sizeof fd);
  return fd;
}

// Waits until `fd` is readable or the helper took too long.
bool WaitReadable(int fd, int timeout_ms) {
  pollfd p{fd, POLLIN, 0};
  int r;
  do {
    r = poll(&p, 1, timeout_ms);
  } while (r < 0 && errno == EINTR);
  return r > 0;
}

}  // namespace

Failure KernelMount::mount(const Options& options, std::unique_ptr<KernelMount>* out) {
  int sv[2];
  if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0) {
    return MountFailure(options.mountpoint, "socketpair: " + Errno(errno));
  }
  UniqueFd control(sv[0]);
  UniqueFd child_end = AboveChildFds(UniqueFd(sv[1]));
  StderrPipe err_pipe;
  if (!child_end.valid() || !MakeStderrPipe(&err_pipe)) {
    return MountFailure(options.mountpoint, "could not create descriptors: " + Errno(errno));
  }

  pid_t pid = -1;
  int rc = Spawn({options.helper, "-o", options.options, "--", options.mountpoint}, child_end.get(),
                 err_pipe.write_end.get(), &pid);
  child_end.reset();
  err_pipe.write_end.reset();
  if (rc != 0) {
    return Failure::make("ERR_PIXELRTS_FUSE_HELPER", "could not run " + options.helper + ": " + Errno(rc) +
                                                         "; install the Debian package fuse3 (apt-get install fuse3)");
  }

  if (!WaitReadable(control.get(), kHelperTimeoutMs)) {
    kill(pid, SIGKILL);
    Reap(pid);
    return MountFailure(options.mountpoint, options.helper + " did not answer within " +
                                                std::to_string(kHelperTimeoutMs / 1000) + " s");
  }
  int err = 0;
  UniqueFd fuse_fd(ReceiveFd(control.get(), &err));
  if (!fuse_fd.valid()) {
    // fusermount3 gave up: it has exited (or exits now that we close our end); quote it.
    control.reset();
    std::string said = ReadAll(err_pipe.read_end.get());
    std::string exit = Reap(pid);
    std::string detail = !said.empty() ? said : err != 0 ? "receiving the descriptor: " + Errno(err)
                                                         : options.helper + " failed without a message";
    if (!exit.empty()) detail += " (" + options.helper + " " + exit + ")";
    return MountFailure(options.mountpoint, detail);
  }
  out->reset(new KernelMount(options, std::move(control), pid, std::move(fuse_fd)));
  return Failure::none();
}

KernelMount::KernelMount(Options options, UniqueFd control, pid_t helper_pid, UniqueFd fuse_fd)
    : options_(std::move(options)), control_(std::move(control)), helper_pid_(helper_pid), fuse_fd_(std::move(fuse_fd)) {}

KernelMount::~KernelMount() {
  // fusermount3 wakes on the closed socket, sees the mount gone (or, if the session died
  // without an unmount, its directory answering ENOTCONN and unmounts it), and exits.
  control_.reset();
  Reap(helper_pid_);
}

Failure KernelMount::unmount() {
  if (unmounted_) return Failure::none();
  unmounted_ = true;
  if (umount2(options_.mountpoint.c_str(), MNT_DETACH | UMOUNT_NOFOLLOW) == 0) return Failure::none();
  int err = errno;
  if (err == EINVAL || err == ENOENT) return Failure::none();  // not mounted any more
  if (err != EPERM) {
    return Failure::make("ERR_PIXELRTS_FUSE_UNMOUNT", "could not unmount " + options_.mountpoint + ": " + Errno(err));
  }
  // Not root: fusermount3 is setuid and unmounts what this user mounted.
  StderrPipe err_pipe;
  if (!MakeStderrPipe(&err_pipe)) {
    return Failure::make("ERR_PIXELRTS_FUSE_UNMOUNT", "could not unmount " + options_.mountpoint + ": " + Errno(errno));
  }
  pid_t pid = -1;
  int rc = Spawn({options_.helper, "-u", "-z", "--", options_.mountpoint}, -1, err_pipe.write_end.get(), &pid);
  err_pipe.write_end.reset();
  if (rc != 0) {
    return Failure::make("ERR_PIXELRTS_FUSE_UNMOUNT", "could not run " + options_.helper + ": " + Errno(rc));
  }
  std::string said = ReadAll(err_pipe.read_end.get());
  std::string exit = Reap(pid);
  if (exit.empty()) return Failure::none();
  return Failure::make("ERR_PIXELRTS_FUSE_UNMOUNT", "could not unmount " + options_.mountpoint + ": " +
                                                        (said.empty() ? options_.helper + " " + exit : said));
}

}  // namespace pixelrts

#endif  // __linux__
