#include "nbd/parent_watch.h"

#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>
#include <string>
#include <system_error>
#include <thread>

namespace pixelrts::nbd {

namespace {

[[noreturn]] void Die() {
  kill(getpid(), SIGKILL);
  _exit(1);  // not reached
}

void Watch(pid_t pid, int pidfd) {
  if (pidfd >= 0) {
    // Readable once the process has exited.
    pollfd p{pidfd, POLLIN, 0};
    while (poll(&p, 1, -1) < 0 && errno == EINTR) {
    }
    Die();
  }
  while (getppid() == pid) usleep(100 * 1000);
  Die();
}

}  // namespace

Failure WatchParent(pid_t pid) {
  if (getppid() != pid) {
    return Failure::make("ERR_PIXELRTS_ARGUMENT", "parent=" + std::to_string(pid) + ": that is not nbdkit's parent process (" +
                                                      std::to_string(getppid()) + "); give the pid of the process that starts nbdkit");
  }
  int pidfd = -1;
#ifdef SYS_pidfd_open
  pidfd = static_cast<int>(syscall(SYS_pidfd_open, pid, 0));  // -1 (ENOSYS) before Linux 5.3: poll getppid()
#endif
  if (getppid() != pid) Die();  // it went while the pidfd was being opened
  // The thread takes no signals (it inherits the mask it is started with): nbdkit's own
  // threads handle them, and the watch never wakes for anything but its parent.
  sigset_t all, old;
  sigfillset(&all);
  pthread_sigmask(SIG_SETMASK, &all, &old);
  Failure f;
  try {
    std::thread(Watch, pid, pidfd).detach();
  } catch (const std::system_error& e) {
    if (pidfd >= 0) close(pidfd);
    f = Failure::make("ERR_PIXELRTS_INTERNAL", std::string("cannot start the thread that watches the parent process: ") + e.what());
  }
  pthread_sigmask(SIG_SETMASK, &old, nullptr);
  return f;
}

}  // namespace pixelrts::nbd
