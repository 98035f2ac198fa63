// ParentWatch: ends nbdkit the moment the process that started it (pixelrts serve) is gone,
// whatever state its clients are in. nbdkit's --exit-with-parent sends a SIGTERM, after which
// nbdkit 1.32 waits for connected clients to leave; and a parent-death signal set before exec
// (setpriv --pdeathsig) was seen not to arrive once nbdkit had started its connection threads
// when the parent was Node.js. So the plugin watches the process itself, with a pidfd (Linux
// 5.3) or, where there is none, by polling getppid(), and SIGKILLs its own process: nothing it
// holds needs a clean exit (the exports are read-only, the cow filter's overlay is a deleted
// file, the decoded cache survives SIGKILL by design).
#pragma once

#include <sys/types.h>

#include "common/failure.h"

namespace pixelrts::nbd {

// Starts a detached thread that kills this process when process `pid` exits. `pid` must be
// this process's parent (so a pid reused by another process is not watched instead).
Failure WatchParent(pid_t pid);

}  // namespace pixelrts::nbd
