#include "net/directory_lock.h"

#include <cerrno>
#include <cstring>

#include <fcntl.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

namespace pixelrts::net {

Failure DirectoryLock::Acquire(const std::string& path, DirectoryLock* out) {
  UniqueFd fd(::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600));
  if (!fd.valid()) {
    return Failure::make("ERR_PIXELRTS_NET_PORT", "cannot open the network's lock file " + path + ": " + std::strerror(errno));
  }
  if (::flock(fd.get(), LOCK_EX | LOCK_NB) != 0) {
    return Failure::make("ERR_PIXELRTS_NET_BUSY", "another switch holds " + path);
  }
  struct stat held {};
  struct stat named {};
  if (::fstat(fd.get(), &held) != 0 || ::stat(path.c_str(), &named) != 0 || held.st_ino != named.st_ino ||
      held.st_dev != named.st_dev) {
    // The switch that held it removed it on its way out: the lock to take is the new file's.
    return Failure::make("ERR_PIXELRTS_NET_BUSY", "the lock file " + path + " was replaced while it was taken");
  }
  out->fd_ = std::move(fd);
  out->path_ = path;
  return Failure::none();
}

void DirectoryLock::RemoveFile() {
  if (fd_.valid()) ::unlink(path_.c_str());
}

}  // namespace pixelrts::net
