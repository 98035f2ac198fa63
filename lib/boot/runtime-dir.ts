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

/** A new runtime directory and the watcher that removes it if its owner dies (see below). */
export interface WatchedDir {
  dir: string;
  watcher: CleanupWatcher;
}

/**
 * Creates a fresh private directory `<root>/<name>-<random>` and returns it with its cleanup
 * watcher. The watcher makes the directory itself, so there is no moment, however short, when
 * the directory exists and nobody would remove it if this process were SIGKILLed. Its name is
 * the VM's id, so `name` should come from idBase().
 */
export async function createRuntimeDir(root: string, name: string): Promise<WatchedDir> {
  const base = name.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '').slice(0, 24) || 'vm';
  for (let attempt = 0; ; attempt++) {
    const dir = path.join(root, `${base}-${Math.random().toString(16).slice(2, 6)}`);
    const { watcher, created } = spawnWatcher(dir, true);
    const outcome = await created;
    if (outcome === 'created') return { dir, watcher };
    if (outcome === 'exists' && attempt < 20) continue;
    if (outcome === 'no-shell') {
      // No /bin/sh to watch with: the directory is made here, and normal teardown removes it.
      fs.mkdirSync(dir, { mode: 0o700 });
      return { dir, watcher };
    }
    throw new PixelrtsError('ERR_PIXELRTS_RUNTIME_DIR', `cannot create the runtime directory ${dir}: ${outcome}. ` +
      'Set XDG_RUNTIME_DIR to a writable directory of yours.');
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
  /**
   * Another process has taken the directory over (with a watcher of its own): exit, and never
   * remove it.
   */
  disown(): void;
}

/**
 * Starts a small `sh` process that removes `dir` when this process dies, however it dies
 * (SIGKILL included): it blocks reading a pipe whose only writer is this process, so EOF
 * means the owner is gone. It then waits up to 5 s for the FUSE mount below `dir` to
 * disappear (libfuse's auto_unmount does that) and QEMU to close its sockets, and removes the
 * directory with `--one-file-system` so it can never descend into a mount. (vm.ts's janitor
 * does the same for directories launchVm creates itself, which never hold a mount.) For a
 * directory that exists already (handed in); createRuntimeDir makes new ones watched.
 */
export function startCleanupWatcher(dir: string): CleanupWatcher {
  return spawnWatcher(dir, false).watcher;
}

/**
 * The watcher's process; with `create`, it first makes `dir` (0700) and says on its stdout
 * whether it did: `created`, `exists`, or `failed <why>` (then it exits and removes nothing).
 */
function spawnWatcher(dir: string, create: boolean): { watcher: CleanupWatcher; created: Promise<string> } {
  const script = [
    ...(create ? [
      // An owner killed before it reads our answer must not take us with it (SIGPIPE).
      "trap '' PIPE",
      'if ! why=$(mkdir -m 700 -- "$1" 2>&1); then',
      '  if [ -e "$1" ]; then echo exists; else echo "failed $why"; fi',
      '  exit 0',
      'fi',
      'echo created',
    ] : []),
    // A line `keep` before EOF: disowned. EOF alone: the owner is gone (or released it).
    'read -r verdict',
    '[ "$verdict" = keep ] && exit 0',
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
    stdio: ['pipe', create ? 'pipe' : 'ignore', 'ignore'],
    // Its own process group: a Ctrl-C on the terminal must not kill the watcher before the owner.
    detached: true,
  });
  let spawnFailed = false;
  child.stdin?.on('error', () => { /* the watcher exited early */ });
  child.unref();
  // The pipe must not keep the event loop alive either.
  (child.stdin as unknown as { unref?: () => void } | null)?.unref?.();
  const created = new Promise<string>((resolve) => {
    child.on('error', () => {
      // No /bin/sh: nothing to watch with; normal teardown still runs.
      spawnFailed = true;
      resolve('no-shell');
    });
    if (!child.stdout) return resolve('created');
    let line = '';
    child.stdout.setEncoding('utf8').on('data', (d: string) => {
      line += d;
      if (line.includes('\n')) {
        child.stdout?.destroy();
        resolve(line.slice(0, line.indexOf('\n')));
      }
    });
    child.stdout.once('close', () => resolve(line.trim() || 'the watcher exited without a word'));
  });
  return {
    created,
    watcher: {
      release(): void {
        // EOF: the watcher finds the directory already gone and exits.
        if (!spawnFailed) child.stdin?.end();
      },
      disown(): void {
        if (!spawnFailed) child.stdin?.end('keep\n');
      },
    },
  };
}
