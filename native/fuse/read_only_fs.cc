// FUSE mounts exist on Linux only (libfuse3); elsewhere this file compiles to nothing.
#if defined(__linux__)

#include "fuse/read_only_fs.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/statvfs.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <vector>

namespace pixelrts {

namespace {

using Node = FileTree::Node;

// Every function here runs as a FUSE callback, inside a session that holds the library.
const Libfuse& Lib() { return Libfuse::Current(); }

using Kind = FileTree::Kind;

// Nothing on a mount ever changes, so the kernel may cache entries, negative lookups and
// attributes for as long as it likes; a day is "forever" for a mount.
constexpr double kCacheSeconds = 86400.0;
// Largest read the kernel sends (libfuse derives max_pages from max_write), and the st_blksize
// reported so tools like cp and cat read in pieces of that size.
constexpr unsigned kMaxIo = 1u << 20;

// Every operation that would change something. The mount is read-only (MS_RDONLY), so the VFS
// already refuses most of these before they reach us; this answers the rest the same way.
template <typename... Args>
void ReadOnly(fuse_req_t req, Args...) {
  Lib().reply_err(req, EROFS);
}

// Operations with nothing to do on a read-only, memory-backed file system.
template <typename... Args>
void Nothing(fuse_req_t req, Args...) {
  Lib().reply_err(req, 0);
}

}  // namespace

ReadOnlyFs::ReadOnlyFs(std::shared_ptr<const FileTree> tree, std::shared_ptr<PayloadSource> source, timespec mtime,
                       std::function<void(const std::string&)> on_read_error)
    : tree_(std::move(tree)),
      source_(std::move(source)),
      mtime_(mtime),
      uid_(getuid()),
      gid_(getgid()),
      on_read_error_(std::move(on_read_error)) {}

const fuse_lowlevel_ops& ReadOnlyFs::operations() {
  static const fuse_lowlevel_ops ops = [] {
    fuse_lowlevel_ops o{};
    o.init = Init;
    o.lookup = Lookup;
    o.forget = Forget;
    o.forget_multi = ForgetMulti;
    o.getattr = GetAttr;
    o.readlink = ReadLink;
    o.open = Open;
    o.read = Read;
    o.flush = Nothing;
    o.release = Nothing;
    o.fsync = Nothing;
    o.opendir = OpenDir;
    o.readdir = ReadDir;
    o.readdirplus = ReadDirPlus;
    o.releasedir = Nothing;
    o.fsyncdir = Nothing;
    o.statfs = StatFs;
    o.getxattr = GetXattr;
    o.listxattr = ListXattr;
    o.access = Access;
    o.setattr = ReadOnly;
    o.mknod = ReadOnly;
    o.mkdir = ReadOnly;
    o.unlink = ReadOnly;
    o.rmdir = ReadOnly;
    o.symlink = ReadOnly;
    o.rename = ReadOnly;
    o.link = ReadOnly;
    o.write = ReadOnly;
    o.create = ReadOnly;
    o.setxattr = ReadOnly;
    o.removexattr = ReadOnly;
    o.fallocate = ReadOnly;
    o.copy_file_range = ReadOnly;
    // Not set, on purpose: write_buf (setting it turns on splice reads), locking (left to the
    // kernel, which then locks locally), lseek (the kernel's generic seek is right for files
    // without holes), ioctl, poll and bmap (ENOSYS, which the kernel remembers).
    return o;
  }();
  return ops;
}

void ReadOnlyFs::Init(void* /*userdata*/, fuse_conn_info* conn) {
  // The bytes never change: no cache invalidation on attribute checks, no write paths, no
  // splice (replies go out with writev straight from the payload), locks stay in the kernel.
  conn->want &= ~(FUSE_CAP_AUTO_INVAL_DATA | FUSE_CAP_SPLICE_READ | FUSE_CAP_SPLICE_WRITE | FUSE_CAP_SPLICE_MOVE |
                  FUSE_CAP_POSIX_LOCKS | FUSE_CAP_FLOCK_LOCKS | FUSE_CAP_WRITEBACK_CACHE |
                  FUSE_CAP_HANDLE_KILLPRIV | FUSE_CAP_ATOMIC_O_TRUNC);
  // Let the kernel send readahead requests in parallel with the reads that triggered them.
  if (conn->capable & FUSE_CAP_ASYNC_READ) conn->want |= FUSE_CAP_ASYNC_READ;
  // libfuse sizes max_pages (and so the largest READ the kernel sends) from max_write.
  conn->max_write = kMaxIo;
  // The kernel offers its readahead window; libfuse keeps the smaller of this and the offer.
  conn->max_readahead = kMaxIo;
}

struct stat ReadOnlyFs::attributes(const Node& node) const {
  struct stat st;
  std::memset(&st, 0, sizeof st);
  st.st_ino = node.ino;
  st.st_mode = node.kind == Kind::kDirectory ? (S_IFDIR | 0555) : (S_IFREG | 0444);
  st.st_nlink = node.nlink;
  st.st_uid = uid_;
  st.st_gid = gid_;
  st.st_size = static_cast<off_t>(node.size);
  st.st_blksize = kMaxIo;
  st.st_blocks = static_cast<blkcnt_t>((node.size + 511) / 512);
  st.st_atim = mtime_;
  st.st_mtim = mtime_;
  st.st_ctim = mtime_;
  return st;
}

fuse_entry_param ReadOnlyFs::entry(const Node& node) const {
  fuse_entry_param e;
  std::memset(&e, 0, sizeof e);
  e.ino = node.ino;
  e.generation = 1;
  e.attr = attributes(node);
  e.attr_timeout = kCacheSeconds;
  e.entry_timeout = kCacheSeconds;
  return e;
}

void ReadOnlyFs::Lookup(fuse_req_t req, fuse_ino_t parent, const char* name) {
  ReadOnlyFs& fs = self(req);
  const Node* dir = fs.tree_->find(parent);
  if (dir == nullptr) return (void)Lib().reply_err(req, ESTALE);  // an inode this mount never issued
  if (dir->kind != Kind::kDirectory) return (void)Lib().reply_err(req, ENOTDIR);
  if (std::strlen(name) > NAME_MAX) return (void)Lib().reply_err(req, ENAMETOOLONG);
  const Node* child = fs.tree_->lookup(*dir, name);
  if (child == nullptr) {
    // A negative entry (ino 0) with a timeout: the kernel caches "no such file" too.
    fuse_entry_param e;
    std::memset(&e, 0, sizeof e);
    e.entry_timeout = kCacheSeconds;
    return (void)Lib().reply_entry(req, &e);
  }
  fuse_entry_param e = fs.entry(*child);
  Lib().reply_entry(req, &e);
}

// Inodes live as long as the mount (the table is fixed), so lookup counts need no bookkeeping.
void ReadOnlyFs::Forget(fuse_req_t req, fuse_ino_t /*ino*/, uint64_t /*nlookup*/) { Lib().reply_none(req); }

void ReadOnlyFs::ForgetMulti(fuse_req_t req, size_t /*count*/, fuse_forget_data* /*forgets*/) {
  Lib().reply_none(req);
}

void ReadOnlyFs::GetAttr(fuse_req_t req, fuse_ino_t ino, fuse_file_info* /*fi*/) {
  ReadOnlyFs& fs = self(req);
  const Node* node = fs.tree_->find(ino);
  if (node == nullptr) return (void)Lib().reply_err(req, ESTALE);
  struct stat st = fs.attributes(*node);
  Lib().reply_attr(req, &st, kCacheSeconds);
}

// There are no symbolic links; readlink(2) of anything else is EINVAL.
void ReadOnlyFs::ReadLink(fuse_req_t req, fuse_ino_t /*ino*/) { Lib().reply_err(req, EINVAL); }

void ReadOnlyFs::Open(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ReadOnlyFs& fs = self(req);
  const Node* node = fs.tree_->find(ino);
  if (node == nullptr) return (void)Lib().reply_err(req, ESTALE);
  if (node->kind == Kind::kDirectory) return (void)Lib().reply_err(req, EISDIR);
  if ((fi->flags & O_ACCMODE) != O_RDONLY || (fi->flags & O_TRUNC) != 0) return (void)Lib().reply_err(req, EROFS);
  fi->keep_cache = 1;  // the page cache stays valid from one open to the next: the bytes never change
  fi->noflush = 1;     // nothing to flush on close
  Lib().reply_open(req, fi);
}

void ReadOnlyFs::Read(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* /*fi*/) {
  ReadOnlyFs& fs = self(req);
  const Node* node = fs.tree_->find(ino);
  if (node == nullptr) return (void)Lib().reply_err(req, ESTALE);
  if (node->kind == Kind::kDirectory) return (void)Lib().reply_err(req, EISDIR);
  if (offset < 0) return (void)Lib().reply_err(req, EINVAL);
  uint64_t off = static_cast<uint64_t>(offset);
  if (off >= node->size || size == 0) return (void)Lib().reply_buf(req, nullptr, 0);
  uint64_t n = std::min<uint64_t>(size, node->size - off);
  if (node->kind == Kind::kInlineFile) return (void)Lib().reply_buf(req, node->content.data() + off, n);
  fs.read_extents(req, *node, off, n);
}

void ReadOnlyFs::read_extents(fuse_req_t req, const Node& node, uint64_t offset, uint64_t size) {
  // One iovec per extent touched, pointing into the payload: the reply is a single writev to
  // /dev/fuse with no copy in between. Reused per thread to keep allocation off the hot path.
  if (source_->data() == nullptr) return read_extents_from_file(req, node, offset, size);
  thread_local std::vector<iovec> iov;
  iov.clear();
  size_t i = static_cast<size_t>(std::upper_bound(node.starts.begin(), node.starts.end(), offset) - node.starts.begin()) - 1;
  uint64_t pos = offset;
  uint64_t left = size;
  while (left > 0) {
    const Extent& e = node.extents[i];
    uint64_t within = pos - node.starts[i];
    uint64_t take = std::min(left, e.length - within);
    // Waits for exactly these bytes, not for the whole payload to decode.
    int rc = source_->wait_ready(e.offset + within, take);
    if (rc != 0) {
      if (rc == EIO) report_failure();
      return (void)Lib().reply_err(req, rc);
    }
    iov.push_back(iovec{const_cast<uint8_t*>(source_->data() + e.offset + within), static_cast<size_t>(take)});
    pos += take;
    left -= take;
    i++;
  }
  // libfuse adds one iovec for the reply header; writev takes at most IOV_MAX. Only a file cut
  // into hundreds of scattered tiny extents gets here: gather it into one buffer instead.
  if (iov.size() < IOV_MAX) return (void)Lib().reply_iov(req, iov.data(), static_cast<int>(iov.size()));
  std::vector<char> flat;
  flat.reserve(size);
  for (const iovec& v : iov) flat.insert(flat.end(), static_cast<char*>(v.iov_base), static_cast<char*>(v.iov_base) + v.iov_len);
  Lib().reply_buf(req, flat.data(), flat.size());
}

void ReadOnlyFs::read_extents_from_file(fuse_req_t req, const Node& node, uint64_t offset, uint64_t size) {
  // The bytes are in the decoded cache's file: one fuse_buf per extent, each naming the file
  // and a position, so libfuse splices them from the page cache into the reply where the
  // kernel allows it (and reads them otherwise) without a copy in this process.
  const int fd = source_->backing_fd();
  thread_local std::vector<uint8_t> storage;
  size_t i = static_cast<size_t>(std::upper_bound(node.starts.begin(), node.starts.end(), offset) - node.starts.begin()) - 1;
  const size_t last = static_cast<size_t>(std::upper_bound(node.starts.begin(), node.starts.end(), offset + size - 1) - node.starts.begin()) - 1;
  const size_t count = last - i + 1;
  storage.assign(sizeof(fuse_bufvec) + (count - 1) * sizeof(fuse_buf), 0);
  auto* bufv = reinterpret_cast<fuse_bufvec*>(storage.data());
  bufv->count = count;
  bufv->idx = 0;
  bufv->off = 0;
  uint64_t pos = offset;
  uint64_t left = size;
  for (size_t k = 0; k < count; k++, i++) {
    const Extent& e = node.extents[i];
    const uint64_t within = pos - node.starts[i];
    const uint64_t take = std::min(left, e.length - within);
    const int rc = source_->wait_ready(e.offset + within, take);
    if (rc != 0) {
      if (rc == EIO) report_failure();
      return (void)Lib().reply_err(req, rc);
    }
    fuse_buf& b = bufv->buf[k];
    b.size = static_cast<size_t>(take);
    b.flags = static_cast<fuse_buf_flags>(FUSE_BUF_IS_FD | FUSE_BUF_FD_SEEK);
    b.fd = fd;
    b.pos = static_cast<off_t>(e.offset + within);
    pos += take;
    left -= take;
  }
  Lib().reply_data(req, bufv, FUSE_BUF_SPLICE_MOVE);
}

void ReadOnlyFs::report_failure() {
  if (failure_reported_.exchange(true)) return;
  std::string why = source_->failure();
  if (on_read_error_) on_read_error_(why.empty() ? "the payload could not be decoded" : why);
}

void ReadOnlyFs::OpenDir(fuse_req_t req, fuse_ino_t ino, fuse_file_info* fi) {
  ReadOnlyFs& fs = self(req);
  const Node* node = fs.tree_->find(ino);
  if (node == nullptr) return (void)Lib().reply_err(req, ESTALE);
  if (node->kind != Kind::kDirectory) return (void)Lib().reply_err(req, ENOTDIR);
  fi->cache_readdir = 1;  // listings never change either
  fi->keep_cache = 1;
  Lib().reply_open(req, fi);
}

void ReadOnlyFs::ReadDir(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* /*fi*/) {
  self(req).readdir_common(req, ino, size, offset, false);
}

void ReadOnlyFs::ReadDirPlus(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, fuse_file_info* /*fi*/) {
  self(req).readdir_common(req, ino, size, offset, true);
}

void ReadOnlyFs::readdir_common(fuse_req_t req, fuse_ino_t ino, size_t size, off_t offset, bool plus) {
  const Node* dir = tree_->find(ino);
  if (dir == nullptr) return (void)Lib().reply_err(req, ESTALE);
  if (dir->kind != Kind::kDirectory) return (void)Lib().reply_err(req, ENOTDIR);
  if (offset < 0) return (void)Lib().reply_err(req, EINVAL);
  // Entry k is ".", "..", then the children in name order; an entry's offset is k + 1, the
  // position to continue from, so a listing read in several calls never repeats or skips.
  std::vector<char> buf(size);
  size_t used = 0;
  uint64_t count = dir->children.size() + 2;
  for (uint64_t k = static_cast<uint64_t>(offset); k < count; k++) {
    const char* name;
    const Node* node;
    if (k == 0) {
      name = ".";
      node = dir;
    } else if (k == 1) {
      name = "..";
      node = tree_->find(dir->parent);
    } else {
      name = dir->children[k - 2].first.c_str();
      node = tree_->find(dir->children[k - 2].second);
    }
    size_t len;
    off_t next = static_cast<off_t>(k + 1);
    if (plus) {
      fuse_entry_param e = entry(*node);
      len = Lib().add_direntry_plus(req, buf.data() + used, size - used, name, &e, next);
    } else {
      struct stat st = attributes(*node);
      len = Lib().add_direntry(req, buf.data() + used, size - used, name, &st, next);
    }
    if (len > size - used) break;  // did not fit: the kernel asks again from offset k
    used += len;
  }
  Lib().reply_buf(req, buf.data(), used);
}

void ReadOnlyFs::StatFs(fuse_req_t req, fuse_ino_t /*ino*/) {
  ReadOnlyFs& fs = self(req);
  struct statvfs st;
  std::memset(&st, 0, sizeof st);
  st.f_bsize = 4096;
  st.f_frsize = 4096;
  st.f_blocks = (fs.tree_->total_bytes() + 4095) / 4096;  // bytes of all files, none free
  st.f_files = fs.tree_->node_count();
  st.f_namemax = NAME_MAX;
  st.f_flag = ST_RDONLY;
  Lib().reply_statfs(req, &st);
}

// No extended attributes. ENOSYS (rather than ENODATA per name) tells the kernel once that the
// file system has none; it then answers getxattr/listxattr itself with ENOTSUP (EOPNOTSUPP)
// and stops asking, so `ls -l` probing security.* and ACLs costs no round trips.
void ReadOnlyFs::GetXattr(fuse_req_t req, fuse_ino_t /*ino*/, const char* /*name*/, size_t /*size*/) {
  Lib().reply_err(req, ENOSYS);
}

void ReadOnlyFs::ListXattr(fuse_req_t req, fuse_ino_t /*ino*/, size_t /*size*/) { Lib().reply_err(req, ENOSYS); }

// With default_permissions the kernel checks modes itself and only asks here for access(2)
// when that option is off; answer the same way: nothing is writable.
void ReadOnlyFs::Access(fuse_req_t req, fuse_ino_t ino, int mask) {
  if (self(req).tree_->find(ino) == nullptr) return (void)Lib().reply_err(req, ESTALE);
  Lib().reply_err(req, (mask & W_OK) != 0 ? EROFS : 0);
}

}  // namespace pixelrts

#endif  // __linux__
