#include "codec/mapped_file.h"

#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <cstring>

#include "common/unique_fd.h"

namespace pixelrts::codec {

MappedFile::~MappedFile() {
  if (data_ != nullptr) munmap(data_, size_);
}

Failure MappedFile::open(const std::string& path) {
  UniqueFd fd(::open(path.c_str(), O_RDONLY | O_CLOEXEC));
  if (fd.get() < 0) {
    const int e = errno;
    return Failure::make(e == ENOENT ? "ERR_PIXELRTS_NOT_FOUND" : "ERR_PIXELRTS_IO",
                         path + ": cannot open (" + std::strerror(e) + ")");
  }
  struct stat st;
  if (fstat(fd.get(), &st) != 0) {
    return Failure::make("ERR_PIXELRTS_IO", path + ": cannot stat (" + std::strerror(errno) + ")");
  }
  if (!S_ISREG(st.st_mode)) {
    return Failure::make("ERR_PIXELRTS_IO", path + ": not a regular file");
  }
  size_ = static_cast<size_t>(st.st_size);
  if (size_ == 0) return Failure::none();
  void* p = mmap(nullptr, size_, PROT_READ, MAP_PRIVATE, fd.get(), 0);
  if (p == MAP_FAILED) {
    size_ = 0;
    return Failure::make("ERR_PIXELRTS_IO", path + ": cannot map the file (" + std::strerror(errno) + ")");
  }
  data_ = static_cast<uint8_t*>(p);
  return Failure::none();
}

}  // namespace pixelrts::codec
