// One mounted container from start to end. A supervisor thread owned by this object mounts
// (fusermount3), starts the FUSE session, then waits until either an unmount is requested or
// the kernel ends the session (someone else unmounted it), and tears everything down: source
// cancelled (waking readers blocked on undecoded bytes), mount detached, workers joined,
// /dev/fuse closed, fusermount3 released and reaped. Progress is reported through an event
// sink that must never block: nothing on these threads waits for JavaScript.
#pragma once

#include <condition_variable>
#include <ctime>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <thread>

#include "common/payload_source.h"
#include "fuse/file_tree.h"
#include "fuse/libfuse.h"

namespace pixelrts {

class Mount {
 public:
  struct Config {
    std::string helper;      // fusermount3
    std::string mountpoint;  // absolute path of an empty directory
    std::string fsname;      // source column of the mount table
    timespec mtime;          // atime/mtime/ctime of every inode
    unsigned workers;        // FUSE worker threads
  };

  struct Event {
    enum class Kind { kMounted, kError, kExit };
    Kind kind;
    std::string code;     // kError: ERR_PIXELRTS_*
    std::string message;  // kError: what happened; kExit: why the mount ended
  };

  using EventSink = std::function<void(Event)>;

  // Starts mounting at once on the supervisor thread. `fuse` is held until the mount has ended.
  Mount(Config config, std::shared_ptr<const Libfuse> fuse, std::shared_ptr<const FileTree> tree,
        std::shared_ptr<PayloadSource> source, EventSink sink);
  // Requests an unmount and waits until every thread and descriptor is released.
  ~Mount();
  Mount(const Mount&) = delete;
  Mount& operator=(const Mount&) = delete;

  // Asks the supervisor to unmount; returns at once. Idempotent.
  void request_unmount();
  // request_unmount() and wait for the teardown to finish. Safe from any thread but the
  // supervisor's and the FUSE workers'.
  void shutdown();

 private:
  void supervise();
  std::string mount_options() const;
  void emit(Event::Kind kind, std::string code, std::string message);

  Config config_;
  std::shared_ptr<const Libfuse> fuse_;
  std::shared_ptr<const FileTree> tree_;
  std::shared_ptr<PayloadSource> source_;
  EventSink sink_;

  std::mutex mutex_;
  std::condition_variable wake_;
  bool unmount_requested_ = false;
  bool session_ended_ = false;
  std::mutex join_mutex_;
  std::thread supervisor_;
};

}  // namespace pixelrts
