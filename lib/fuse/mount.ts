/**
 * Mounting a container as plain files (FUSE, read-only). The file system is served by native
 * threads straight from the decoded payload; no JavaScript runs on the read path, so a process
 * may read its own mount (even with fs.readFileSync) without deadlocking.
 *
 * @example
 *   const m = await mount('boot.rts.png', '/mnt/boot');
 *   console.log(m.files);            // [{ path: '/kernel', size: … }, …]
 *   // … qemu -kernel /mnt/boot/kernel -initrd /mnt/boot/initrd …
 *   await m.unmount();
 */
import { execFile } from 'node:child_process';
import { EventEmitter } from 'node:events';
import fs from 'node:fs';
import path from 'node:path';
import { Container, initrdFile, kernelFile, open } from '../codec/container';
import './binding';
import type { FuseEventKind, FuseFileSpec, FuseMountHandle } from './binding';
import { PixelrtsError, errorCode, type PixelrtsErrorCode } from '../errors';
import { findMount } from './mount-table';
import { native, PayloadHandle } from '../native';

export interface MountOptions {
  /** FUSE worker threads (1–64, default 4). */
  workers?: number;
  /** Source column of the mount table (default `pixelrts:<file name>`). */
  fsname?: string;
  /**
   * Receives warnings found while preparing the mount (a stale mount cleaned away). Without
   * it they go to process.emitWarning (the process 'warning' event).
   */
  onWarning?: (message: string) => void;
}

/** A file as the mount shows it. */
export interface MountedFile {
  /** Path inside the mount, e.g. "/kernel" or "/boot/vmlinuz". */
  path: string;
  size: number;
}

/** What a mount serves: files as extents of a payload or inline bytes. */
export interface FileTable {
  payload: PayloadHandle;
  files: FuseFileSpec[];
  /** mtime of every inode (ms since the epoch); the PNG's own mtime for a container. */
  mtimeMs: number;
  /** Source column of the mount table. */
  fsname: string;
}

type Phase = 'mounting' | 'mounted' | 'unmounting' | 'ended';

/**
 * What the native event callback shares with a Mount. The callback holds it; it holds the
 * Mount only weakly, so a Mount nobody references can be collected (which unmounts it).
 */
interface MountState {
  phase: Phase;
  self?: WeakRef<Mount>;
  mountError?: PixelrtsError;
  settleMount?: (err?: PixelrtsError) => void;
  unmountError?: PixelrtsError;
  unmountWaiters: Array<(err?: PixelrtsError) => void>;
}

/** The events of a Mount and their arguments (Mount.on is typed by them). */
export interface MountEvents {
  /** Reads fail (e.g. the payload could not be decoded); without a listener it becomes a process warning. */
  error: [error: PixelrtsError];
  /** The mount ended, by unmount() or from outside (e.g. `pixelrts unmount`): why. */
  unmount: [reason: string];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/**
 * A mounted container; its events are MountEvents. A mount does not keep the process alive;
 * when the process ends (or the Mount is garbage-collected) it is unmounted.
 */
export class Mount extends EventEmitter {
  /** Canonical absolute path of the mount point. */
  readonly mountpoint: string;
  /** Every file shown, sorted by path. */
  readonly files: readonly MountedFile[];
  /** Warnings found while mounting (e.g. a stale mount cleaned away). */
  readonly warnings: readonly string[];
  private readonly handle: FuseMountHandle;
  private readonly state: MountState;

  /** @internal Use mount() or mountTable(). */
  constructor(mountpoint: string, files: MountedFile[], warnings: string[], handle: FuseMountHandle, state: MountState) {
    super();
    this.mountpoint = mountpoint;
    this.files = files;
    this.warnings = warnings;
    this.handle = handle;
    this.state = state;
    state.self = new WeakRef(this);
  }

  /** True until the mount has ended. */
  get mounted(): boolean {
    return this.state.phase === 'mounted' || this.state.phase === 'mounting';
  }

  /**
   * Unmounts. Lazy when files are still open: the directory is detached at once and every
   * thread and descriptor is released; open files then fail with ENOTCONN. Resolves when
   * everything is released.
   */
  unmount(): Promise<void> {
    const state = this.state;
    if (state.phase === 'ended') return Promise.resolve();
    const done = new Promise<void>((resolve, reject) => {
      state.unmountWaiters.push((err) => (err ? reject(err) : resolve()));
    });
    if (state.phase !== 'unmounting') {
      state.phase = 'unmounting';
      this.handle.unmount();
    }
    return done;
  }
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface Mount {
  on<E extends keyof MountEvents>(event: E, listener: (...args: MountEvents[E]) => void): this;
  once<E extends keyof MountEvents>(event: E, listener: (...args: MountEvents[E]) => void): this;
  off<E extends keyof MountEvents>(event: E, listener: (...args: MountEvents[E]) => void): this;
  emit<E extends keyof MountEvents>(event: E, ...args: MountEvents[E]): boolean;
}

function onMountEvent(state: MountState, kind: FuseEventKind, code: string, message: string): void {
  if (kind === 'mounted') {
    if (state.phase === 'mounting') state.phase = 'mounted';
    state.settleMount?.();
    state.settleMount = undefined;
    return;
  }
  if (kind === 'error') {
    const err = new PixelrtsError(errorCode(code, 'ERR_PIXELRTS_FUSE_MOUNT'), message);
    if (state.settleMount) {
      state.mountError = err;  // reported once everything is released ('exit')
    } else if (state.phase === 'unmounting' && code !== 'ERR_PIXELRTS_FUSE_READ') {
      state.unmountError = err;
    } else {
      const m = state.self?.deref();
      if (m && m.listenerCount('error') > 0) m.emit('error', err);
      else process.emitWarning(message, { code });
    }
    return;
  }
  // 'exit': every thread and descriptor of the mount is released.
  const wasMounted = state.phase === 'mounted' || state.phase === 'unmounting';
  state.phase = 'ended';
  if (state.settleMount) {
    state.settleMount(state.mountError ?? new PixelrtsError('ERR_PIXELRTS_FUSE_MOUNT', `the mount ended before it was ready: ${message}`));
    state.settleMount = undefined;
  }
  for (const settle of state.unmountWaiters.splice(0)) settle(state.unmountError);
  if (wasMounted) state.self?.deref()?.emit('unmount', message);
}

/** Directories searched for fusermount3 besides PATH. */
const HELPER_DIRS = ['/usr/bin', '/bin', '/usr/local/bin', '/usr/sbin', '/sbin'];

/** Absolute path of fusermount3; throws ERR_PIXELRTS_FUSE_HELPER naming the package. */
export function findFusermount(): string {
  const dirs = [...(process.env.PATH ?? '').split(path.delimiter).filter((d) => path.isAbsolute(d)), ...HELPER_DIRS];
  for (const dir of dirs) {
    const candidate = path.join(dir, 'fusermount3');
    try {
      fs.accessSync(candidate, fs.constants.X_OK);
      return candidate;
    } catch {
      // not here
    }
  }
  throw new PixelrtsError('ERR_PIXELRTS_FUSE_HELPER',
    'fusermount3 was not found (searched PATH and /usr/bin, /bin). It makes and removes FUSE mounts; ' +
    'install the Debian package fuse3 (apt-get install fuse3, or scripts/install-deps.sh).');
}

/** Throws ERR_PIXELRTS_FUSE_DEVICE unless /dev/fuse is a character device this process may open. */
function checkFuseDevice(): void {
  const fix = 'load the fuse kernel module (modprobe fuse) or, in a container, run it with --device /dev/fuse ' +
    '(Docker also needs --cap-add SYS_ADMIN)';
  let st: fs.Stats;
  try {
    st = fs.statSync('/dev/fuse');
  } catch {
    throw new PixelrtsError('ERR_PIXELRTS_FUSE_DEVICE', `/dev/fuse does not exist: ${fix}.`);
  }
  if (!st.isCharacterDevice()) {
    throw new PixelrtsError('ERR_PIXELRTS_FUSE_DEVICE', `/dev/fuse is not a character device: ${fix}.`);
  }
  try {
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    throw new PixelrtsError('ERR_PIXELRTS_FUSE_DEVICE',
      '/dev/fuse exists but this user may not open it: add the user to the group that owns it, or run as root.');
  }
}

function runHelper(helper: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    execFile(helper, args, { timeout: 15000 }, (err, _stdout, stderr) => {
      if (err) reject(new Error(String(stderr).trim() || err.message));
      else resolve();
    });
  });
}

function mountpointError(code: PixelrtsErrorCode, dir: string, problem: string): PixelrtsError {
  return new PixelrtsError(code, `mount point ${dir} ${problem}`);
}

/**
 * Checks (and repairs) the mount point; returns its canonical path. A stale FUSE mount (its
 * server died: "Transport endpoint is not connected") is unmounted with a warning.
 */
async function prepareMountpoint(mountpoint: string, helper: string, warn: (m: string) => void): Promise<string> {
  const abs = path.resolve(mountpoint);
  let parent: string;
  try {
    parent = fs.realpathSync(path.dirname(abs));
  } catch {
    throw mountpointError('ERR_PIXELRTS_MOUNTPOINT', abs, `does not exist (nor does its parent ${path.dirname(abs)}); create it with mkdir -p ${abs}.`);
  }
  let dir = path.join(parent, path.basename(abs));
  let st: fs.Stats | undefined;
  // Stale mounts can be stacked (several owners died in turn): remove them one by one.
  for (let layer = 0; st === undefined; layer++) {
    try {
      st = fs.statSync(dir);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') throw mountpointError('ERR_PIXELRTS_MOUNTPOINT', dir, `does not exist; create it with mkdir -p ${dir}.`);
      const stale = findMount(dir);
      if (code !== 'ENOTCONN' || !stale || !stale.fsType.startsWith('fuse') || layer >= 16) {
        throw mountpointError('ERR_PIXELRTS_MOUNTPOINT', dir, `cannot be used: ${(err as Error).message}.`);
      }
      try {
        await runHelper(helper, ['-u', '-z', '--', dir]);
      } catch (e) {
        throw mountpointError('ERR_PIXELRTS_MOUNTPOINT_STALE', dir,
          `holds a stale FUSE mount (${stale.source}, its server is gone) that could not be removed: ${(e as Error).message}. ` +
          `Remove it with: fusermount3 -u -z ${dir} (as root if it is not yours).`);
      }
      warn(`${dir} held a stale FUSE mount (${stale.source}: its server had died, "Transport endpoint is not connected"); it was unmounted.`);
    }
  }
  if (!st.isDirectory()) throw mountpointError('ERR_PIXELRTS_MOUNTPOINT', dir, 'is not a directory; give an empty directory.');
  dir = fs.realpathSync(dir);
  const existing = findMount(dir);
  if (existing) {
    throw mountpointError('ERR_PIXELRTS_MOUNTPOINT_BUSY', dir,
      `is already a mount point (${existing.fsType} from ${existing.source}); unmount it first ` +
      `(${existing.fsType === 'fuse.pixelrts' ? `pixelrts unmount ${dir}` : `umount ${dir}`}) or choose another directory.`);
  }
  let entries: string[];
  try {
    entries = fs.readdirSync(dir);
  } catch (err) {
    throw mountpointError('ERR_PIXELRTS_MOUNTPOINT', dir, `cannot be listed: ${(err as Error).message}.`);
  }
  if (entries.length > 0) {
    const shown = entries.slice(0, 3).join(', ') + (entries.length > 3 ? ', …' : '');
    throw mountpointError('ERR_PIXELRTS_MOUNTPOINT_NOT_EMPTY', dir,
      `is not empty (holds ${shown}); mounting would hide those files. Choose an empty directory.`);
  }
  return dir;
}

/** What the checks before a mount found. */
interface Prepared {
  dir: string;
  helper: string;
  warnings: string[];
  warn: (message: string) => void;
}

/** Every check that can fail before anything is started: platform, device, helper, mount point. */
async function prepare(mountpoint: string, options: MountOptions): Promise<Prepared> {
  if (process.platform !== 'linux' || native().FuseMount === undefined) {
    throw new PixelrtsError('ERR_PIXELRTS_FUSE_UNSUPPORTED',
      `FUSE mounts need Linux with libfuse3 (this is ${process.platform}); use \`pixelrts extract\` to get the files instead.`);
  }
  checkFuseDevice();
  const helper = findFusermount();
  const warnings: string[] = [];
  const warn = (message: string): void => {
    warnings.push(message);
    if (options.onWarning) options.onWarning(message);
    else process.emitWarning(message, { code: 'WARN_PIXELRTS_MOUNT' });
  };
  const dir = await prepareMountpoint(mountpoint, helper, warn);
  return { dir, helper, warnings, warn };
}

/** Starts the native mount and resolves once the file system is served. */
async function start(table: FileTable, prepared: Prepared, options: MountOptions): Promise<Mount> {
  const addon = native();
  const state: MountState = { phase: 'mounting', unmountWaiters: [] };
  const ready = new Promise<void>((resolve, reject) => {
    state.settleMount = (err) => (err ? reject(err) : resolve());
  });
  // The addon's errors are PixelrtsErrors already (e.g. ERR_PIXELRTS_FUSE_LIBRARY: libfuse3 is
  // loaded only now).
  const handle: FuseMountHandle = new addon.FuseMount!({
    mountpoint: prepared.dir, helper: prepared.helper, fsname: options.fsname ?? table.fsname, mtimeMs: table.mtimeMs,
    workers: options.workers, payload: table.payload, files: table.files,
  }, (kind, code, message) => onMountEvent(state, kind, code, message));
  const files = table.files
    .map((f) => ({ path: f.path.startsWith('/') ? f.path : `/${f.path}`,
      size: 'content' in f ? f.content.length : f.extents.reduce((n, [, len]) => n + len, 0) }))
    .sort((a, b) => (a.path < b.path ? -1 : a.path > b.path ? 1 : 0));
  const m = new Mount(prepared.dir, files, prepared.warnings, handle, state);
  await ready;
  return m;
}

/**
 * Mounts a file table (files as extents of a payload, or inline bytes) read-only at
 * `mountpoint`. The building block of mount(); useful for payloads made in memory:
 *
 * @example
 *   const payload = native().payloadFromBuffer(bytes);
 *   const m = await mountTable({ payload, files: [{ path: '/data', extents: [[0, bytes.length]] }],
 *     mtimeMs: Date.now(), fsname: 'pixelrts:demo' }, '/mnt/demo');
 */
export async function mountTable(table: FileTable, mountpoint: string, options: MountOptions = {}): Promise<Mount> {
  return start(table, await prepare(mountpoint, options), options);
}

/**
 * The files a container shows when mounted: every file under its own name (an Infinite Map's
 * paths such as boot/vmlinuz included), `/kernel` and `/initrd` when the container has them
 * (by segment type, else by name), and `/metadata.json`, the embedded metadata pretty-printed.
 * The payload handle starts decoding in the background now.
 */
export function containerTable(container: Container, mtimeMs: number): FileTable {
  const files: FuseFileSpec[] = [];
  const taken = new Set<string>();
  const add = (file: FuseFileSpec): void => {
    if (taken.has(file.path)) return;  // a segment already called "kernel" is its own alias
    taken.add(file.path);
    files.push(file);
  };
  const asFile = (p: string, f: { size: number; extents: Array<[number, number]> }): FuseFileSpec =>
    ({ path: p, size: f.size, extents: f.extents });
  for (const f of container.files) add(asFile(`/${f.name.replace(/^\/+/, '')}`, f));
  const kernel = kernelFile(container);
  if (kernel) add(asFile('/kernel', kernel));
  const initrd = initrdFile(container);
  if (initrd) add(asFile('/initrd', initrd));
  add({ path: '/metadata.json', content: Buffer.from(`${JSON.stringify(container.metadata ?? {}, null, 2)}\n`) });
  return { payload: container.payload(), files, mtimeMs, fsname: `pixelrts:${path.basename(container.path)}` };
}

/**
 * Mounts a container (a path to a `.rts.png`, or one already opened) read-only at
 * `mountpoint`, an existing empty directory. Decoding starts at once in the background and
 * this resolves as soon as the mount is served: a read waits only for the bytes it asks for.
 * Errors (code ERR_PIXELRTS_*): FUSE_DEVICE (no /dev/fuse), FUSE_HELPER (no fusermount3:
 * install fuse3), FUSE_LIBRARY (libfuse3.so.3 cannot be loaded: install fuse3), MOUNTPOINT, MOUNTPOINT_BUSY, MOUNTPOINT_NOT_EMPTY, FUSE_MOUNT, and the
 * container's own errors. A stale mount at the target is cleaned away with a warning.
 *
 * @example
 *   const m = await mount('alpine.rts.png', '/mnt/alpine');
 *   m.on('unmount', (why) => console.log(why));
 *   await m.unmount();
 */
export async function mount(source: string | Container, mountpoint: string, options: MountOptions = {}): Promise<Mount> {
  const prepared = await prepare(mountpoint, options);
  const container = typeof source === 'string'
    ? await open(source, { onWarning: (w) => prepared.warn(w.message) })
    : source;
  let mtimeMs: number;
  try {
    mtimeMs = (await fs.promises.stat(container.path)).mtimeMs;
  } catch (err) {
    throw new PixelrtsError('ERR_PIXELRTS_IO', `${container.path}: cannot stat the container (${(err as Error).message}).`, { cause: err });
  }
  return start(containerTable(container, mtimeMs), prepared, options);
}

/**
 * Unmounts a pixelrts mount by its directory, whichever process owns it (lazily: files still
 * open keep the server's data until closed). Refuses other kinds of mounts.
 */
export async function unmountPath(mountpoint: string): Promise<void> {
  const abs = path.resolve(mountpoint);
  let dir = abs;
  try {
    dir = path.join(fs.realpathSync(path.dirname(abs)), path.basename(abs));
  } catch {
    // the parent is gone; nothing can be mounted there
  }
  const entry = findMount(dir);
  if (!entry) {
    throw new PixelrtsError('ERR_PIXELRTS_NOT_MOUNTED', `${dir} is not a mount point; nothing to unmount.`);
  }
  if (entry.fsType !== 'fuse.pixelrts') {
    throw new PixelrtsError('ERR_PIXELRTS_MOUNTPOINT_FOREIGN',
      `${dir} is a ${entry.fsType} mount (from ${entry.source}), not a pixelrts one; unmount it with umount ${dir}.`);
  }
  const helper = findFusermount();
  try {
    await runHelper(helper, ['-u', '-z', '--', dir]);
  } catch (err) {
    throw new PixelrtsError('ERR_PIXELRTS_FUSE_UNMOUNT',
      `could not unmount ${dir}: ${(err as Error).message}. Only its owner (or root) may unmount it.`, { cause: err });
  }
}
