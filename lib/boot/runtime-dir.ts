/**
 * Private runtime directories for booted VMs: where the FUSE mount, QEMU's sockets and the
 * record of a running VM live, and how they are removed even when pixelrts is killed.
 *
 * Root: `$XDG_RUNTIME_DIR/pixelrts`, else `/run/user/UID/pixelrts`, else
 * `os.tmpdir()/pixelrts-UID`. Every directory is 0700 and owned by the user; a root that is a
 * symlink, belongs to someone else or is readable by others is refused (another user could
 * otherwise plant sockets or a mountpoint there).
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import { readMountTable } from '../fuse/mount-table';

function uid(): number {
  return typeof process.getuid === 'function' ? process.getuid() : 0;
}

/** Creates `dir` 0700 if missing and checks it is a private directory of this user. */
function ensurePrivateDir(dir: string): string {
  try {
    fs.mkdirSync(dir, { mode: 0o700 });
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
      throw new PixelrtsError('ERR_PIXELRTS_RUNTIME_DIR',
        `cannot create the runtime directory ${dir}: ${(err as Error).message}. ` +
        'Set XDG_RUNTIME_DIR to a writable directory of yours.', { cause: err });
    }
  }
  const st = fs.lstatSync(dir);
  if (!st.isDirectory() || st.uid !== uid() || (st.mode & 0o077) !== 0) {
    throw new PixelrtsError('ERR_PIXELRTS_RUNTIME_DIR',
      `the runtime directory ${dir} is not a private directory of this user ` +
      `(expected a directory owned by uid ${uid()} with mode 0700, found ` +
      `${st.isSymbolicLink() ? 'a symlink' : st.isDirectory() ? 'a directory' : 'a file'} owned by uid ${st.uid}, ` +
      `mode ${(st.mode & 0o777).toString(8).padStart(4, '0')}). Remove it, or set XDG_RUNTIME_DIR to a private directory.`);
  }
  return dir;
}

/** The per-user directory that holds one subdirectory per running VM (created 0700 if needed). */
export function runtimeRoot(): string {
  const xdg = process.env.XDG_RUNTIME_DIR;
  if (xdg && path.isAbsolute(xdg) && fs.existsSync(xdg)) return ensurePrivateDir(path.join(xdg, 'pixelrts'));
  const runUser = `/run/user/${uid()}`;
  if (fs.existsSync(runUser)) return ensurePrivateDir(path.join(runUser, 'pixelrts'));
  return ensurePrivateDir(path.join(os.tmpdir(), `pixelrts-${uid()}`));
}

/**
 * The readable part of a VM id for the container at `image`: its file name without
 * `.rts.png` and without a version tail (`alpine-3.19.rts.png` → `alpine`,
 * `demo-6.1.0-56-cloud-amd64-2eb6….rts.png` → `demo`), in safe characters.
 */
export function idBase(image: string): string {
  const stem = path.basename(image).replace(/\.rts\.png$|\.png$/i, '');
  const head = stem.split(/-(?=\d)/)[0];
  const name = (head.length >= 3 ? head : stem).replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '');
  return name.slice(0, 24) || 'vm';
}

/**
 * Creates a fresh private directory `<root>/<name>-<random>` and returns its path. Its name is
 * the VM's id, so `name` should come from idBase().
 */
export function createRuntimeDir(root: string, name: string): string {
  const base = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '').slice(0, 24) || 'vm';
  for (let attempt = 0; ; attempt++) {
    const id = `${base}-${Math.random().toString(16).slice(2, 6)}`;
    const dir = path.join(root, id);
    try {
      fs.mkdirSync(dir, { mode: 0o700 });
      return dir;
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST' || attempt > 20) throw err;
    }
  }
}

/** True when `p` (or anything below it) is a mount point. */
export function hasMountsUnder(p: string): boolean {
  const prefix = p.endsWith('/') ? p : `${p}/`;
  return readMountTable().some(({ mountPoint: m }) => m === p || m.startsWith(prefix));
}

/**
 * Removes a runtime directory and everything in it. Refuses while something is still mounted
 * below it: descending into a live mount would try to delete the mounted files.
 */
export function removeRuntimeDir(dir: string): void {
  if (hasMountsUnder(dir)) {
    throw new PixelrtsError('ERR_PIXELRTS_RUNTIME_DIR',
      `not removing ${dir}: something is still mounted below it. Unmount it with \`fusermount3 -u ${dir}/mnt\` and remove the directory.`);
  }
  fs.rmSync(dir, { recursive: true, force: true });
}

/** A watcher that removes a runtime directory once its owner process is gone. */
export interface CleanupWatcher {
  /** The owner removed the directory itself: let the watcher exit without doing anything. */
  release(): void;
}

/**
 * Starts a small `sh` process that removes `dir` when this process dies, however it dies
 * (SIGKILL included): it blocks reading a pipe whose only writer is this process, so EOF
 * means the owner is gone. It then waits up to 5 s for the FUSE mount below `dir` to
 * disappear (libfuse's auto_unmount does that) and QEMU to close its sockets, and removes the
 * directory with `--one-file-system` so it can never descend into a mount. (vm.ts's janitor
 * does the same for directories launchVm creates itself, which never hold a mount.)
 */
export function startCleanupWatcher(dir: string): CleanupWatcher {
  const script = [
    'read -r _ignored',
    'i=0',
    // mountpoint(1) from util-linux; without it fall back to comparing device numbers.
    'while [ "$i" -lt 50 ]; do',
    '  if [ -d "$1/mnt" ] && { mountpoint -q "$1/mnt" 2>/dev/null || [ "$(stat -c %d "$1/mnt" 2>/dev/null)" != "$(stat -c %d "$1" 2>/dev/null)" ]; }; then',
    '    sleep 0.1; i=$((i+1))',
    '  else break; fi',
    'done',
    'exec rm -rf --one-file-system -- "$1"',
  ].join('\n');
  const child = spawn('/bin/sh', ['-c', script, 'pixelrts-cleanup', dir], {
    stdio: ['pipe', 'ignore', 'ignore'],
    // Its own process group: a Ctrl-C on the terminal must not kill the watcher before the owner.
    detached: true,
  });
  child.on('error', () => { /* no /bin/sh: nothing to watch with; normal teardown still runs */ });
  child.stdin?.on('error', () => { /* the watcher exited early */ });
  child.unref();
  // The pipe must not keep the event loop alive either.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  return {
    release(): void {
      // EOF: the watcher finds the directory already gone and exits.
      child.stdin?.end();
    },
  };
}
