#include "common/atomic_file.h"

#include <fcntl.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstdint>
#include <ctime>

#include <cerrno>
#include <cstdio>
#include <cstring>

#include "common/full_io.h"

namespace pixelrts {

namespace {

std::string DirectoryOf(const std::string& path) {
  const size_t slash = path.rfind('/');
  if (slash == std::string::npos) return ".";
  return slash == 0 ? "/" : path.substr(0, slash);
}

// The random part of a temporary name, from the kernel (getrandom, glibc 2.25) rather than
// std::random_device: libstdc++ 12 implements that with arc4random, which, linked into the
// prebuilt addon with libstdc++ (CMakeLists.txt), would make it need glibc 2.36. Before the
// kernel's pool is ready (early boot) the clock stands in; a name already taken fails O_EXCL.
uint32_t RandomBits() {
  uint32_t bits = 0;
  if (getrandom(&bits, sizeof bits, GRND_NONBLOCK) == static_cast<ssize_t>(sizeof bits)) return bits;
  timespec now{};
  clock_gettime(CLOCK_REALTIME, &now);
  return static_cast<uint32_t>(now.tv_nsec) ^ static_cast<uint32_t>(now.tv_sec);
}

// A name beside the target that no other writer picks: .NAME.PID.RANDOM.tmp
std::string TempNameFor(const std::string& target) {
  const size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "" : target.substr(0, slash + 1);
  const std::string base = slash == std::string::npos ? target : target.substr(slash + 1);
  char suffix[32];
  std::snprintf(suffix, sizeof suffix, ".%d.%08x.tmp", static_cast<int>(getpid()), RandomBits());
  return dir + "." + base + suffix;
}

Failure IoFailure(const std::string& what, const std::string& path, int e) {
  std::string hint;
  if (e == ENOSPC || e == EDQUOT) hint = " Free some space there or write elsewhere.";
  if (e == EACCES || e == EPERM || e == EROFS) hint = " Choose a directory you can write to.";
  return Failure::make(e == ENOSPC || e == EDQUOT ? "ERR_PIXELRTS_NO_SPACE" : "ERR_PIXELRTS_IO",
                       "cannot " + what + " " + path + " (" + std::strerror(e) + ")." + hint);
}

}  // namespace

AtomicFile::~AtomicFile() {
  if (!committed_ && !temp_.empty()) ::unlink(temp_.c_str());
}

Failure AtomicFile::create(const std::string& target, mode_t mode) {
  target_ = target;
  const std::string dir = DirectoryOf(target);
#ifdef O_TMPFILE
  fd_.reset(::open(dir.c_str(), O_TMPFILE | O_WRONLY | O_CLOEXEC, mode));
  if (fd_.valid()) return Failure::none();
  const int e = errno;
  // Filesystems without unnamed files answer EOPNOTSUPP (or EISDIR/EINVAL on old kernels);
  // anything else (no such directory, no permission) is the caller's problem to hear about.
  if (e != EOPNOTSUPP && e != EISDIR && e != EINVAL) return IoFailure("create a file in", dir, e);
#endif
  temp_ = TempNameFor(target);
  fd_.reset(::open(temp_.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode));
  if (!fd_.valid()) {
    const int err = errno;
    temp_.clear();
    return IoFailure("create a file in", dir, err);
  }
  return Failure::none();
}

Failure AtomicFile::write(const uint8_t* data, size_t n) {
  const int err = WriteFull(fd_.get(), data, n);
  return err == 0 ? Failure::none() : IoFailure("write", target_, err);
}

Failure AtomicFile::commit(bool durable) {
  if (durable && ::fsync(fd_.get()) != 0) return IoFailure("write", target_, errno);
  if (temp_.empty()) {
    // Give the unnamed file a temporary name, then rename it over the target (linkat cannot
    // replace an existing file).
    const std::string name = TempNameFor(target_);
    const std::string self = "/proc/self/fd/" + std::to_string(fd_.get());
    if (::linkat(AT_FDCWD, self.c_str(), AT_FDCWD, name.c_str(), AT_SYMLINK_FOLLOW) != 0) {
      return IoFailure("name the file written for", target_, errno);
    }
    temp_ = name;
  }
  if (::rename(temp_.c_str(), target_.c_str()) != 0) return IoFailure("rename the file written to", target_, errno);
  committed_ = true;
  fd_.reset();
  if (!durable) return Failure::none();
  UniqueFd dir(::open(DirectoryOf(target_).c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC));
  if (dir.valid()) ::fsync(dir.get());  // the rename is durable; a failure here loses nothing written
  return Failure::none();
}

}  // namespace pixelrts
