// The file system a mount serves: libfuse low-level operations over a FileTree whose files are
// extents of a PayloadSource (or inline bytes). Every operation answers from native memory on
// the FUSE worker thread that received it; nothing here calls into JavaScript. A read waits
// only for the payload bytes it returns (PayloadSource::wait_ready), so a file near the start
// of a container is readable while the rest still decodes.
#pragma once

#include <atomic>
#include <ctime>
#include <functional>
#include <memory>
#include <string>

#include "common/payload_source.h"
#include "fuse/file_tree.h"
#include "fuse/libfuse.h"

namespace pixelrts {

class ReadOnlyFs {
 public:
  // `on_read_error` is called (once) with the decode's failure message when a read fails
  // because the payload could not be decoded; it must not block.
  ReadOnlyFs(std::shared_ptr<const FileTree> tree, std::shared_ptr<PayloadSource> source, timespec mtime,
             std::function<void(const std::string&)> on_read_error);

  // The operation table; userdata for fuse_session_new must be this object.
  static const fuse_lowlevel_ops& operations();

  PayloadSource& source() { return *source_; }

 private:
  static ReadOnlyFs& self(fuse_req_t req) { return *static_cast<ReadOnlyFs*>(Libfuse::Current().req_userdata(req)); }

  struct stat attributes(const FileTree::Node& node) const;
  fuse_entry_param entry(const FileTree::Node& node) const;
  // Replies to a read of [offset, offset + size) of an extent file, zero copy from the payload.
  void read_extents(fuse_req_t req, const FileTree::Node& node, uint64_t offset, uint64_t size);
  // The same for a source whose bytes are in a file (PayloadSource::backing_fd()).
  void read_extents_from_file(fuse_req_t req, const FileTree::Node& node, uint64_t offset, uint64_t size);
  void readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, bool plus);
  void report_failure();

  static void Init(void* userdata, fuse_conn_info* conn);
  static void Lookup(fuse_req_t req, fuse_ino_t parent, const char* name);
  static void Forget(fuse_req_t req, fuse_ino_t ino, uint64_t nlookup);
  static void ForgetMulti(fuse_req_t req, size_t count, fuse_forget_data* forgets);
  static void GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void ReadLink(fuse_req_t req, fuse_ino_t ino);
  static void Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
  static void Flush(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void Release(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void Fsync(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  static void OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
  static void ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* fi);
  static void ReleaseDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi);
  static void FsyncDir(fuse_req_t req, fuse_ino_t ino, int datasync, fuse_file_info* fi);
  static void StatFs(fuse_req_t req, fuse_ino_t ino);
  static void GetXattr(fuse_req_t req, fuse_ino_t ino, const char* name, size_t size);
  static void ListXattr(fuse_req_t req, fuse_ino_t ino, size_t size);
  static void Access(fuse_req_t req, fuse_ino_t ino, int mask);

  std::shared_ptr<const FileTree> tree_;
  std::shared_ptr<PayloadSource> source_;
  timespec mtime_;
  uid_t uid_;
  gid_t gid_;
  std::function<void(const std::string&)> on_read_error_;
  std::atomic<bool> failure_reported_{false};
};

}  // namespace pixelrts
