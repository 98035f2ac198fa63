/**
 * The fuse concept's native binding (native/fuse/): a read-only FUSE file system served from
 * native threads over a PayloadHandle. lib/fuse/mount.ts builds the file table and wraps this in
 * the public `mount()` API.
 */
import type { PayloadHandle } from '../native';

/** One file of a mount: extents of the payload, or bytes held inline (metadata.json). */
export type FuseFileSpec =
  | { path: string; size?: number; extents: Array<[number, number]> }
  | { path: string; content: Buffer };

export interface FuseMountOptions {
  /** Absolute path of an existing, empty directory. */
  mountpoint: string;
  /** Absolute path of fusermount3 (it makes the mount and unmounts it if this process dies). */
  helper: string;
  /** Source column of the mount table (default "pixelrts"); the type is always fuse.pixelrts. */
  fsname?: string;
  /** atime, mtime and ctime of every file and directory, in ms since the epoch. */
  mtimeMs: number;
  /** FUSE worker threads (1–64, default 4). */
  workers?: number;
  payload: PayloadHandle;
  files: FuseFileSpec[];
}

/**
 * 'mounted' once the file system is served; 'error' with an ERR_PIXELRTS_* code (before
 * 'mounted': the mount failed; after: reads fail, e.g. the payload could not be decoded);
 * 'exit' last, once every thread and descriptor is released, with the reason as message.
 */
export type FuseEventKind = 'mounted' | 'error' | 'exit';
export type FuseEventCallback = (kind: FuseEventKind, code: string, message: string) => void;

/** A native mount. Garbage collection of an un-unmounted handle unmounts it. */
export interface FuseMountHandle {
  /** Starts unmounting (lazily, if files are open); completion arrives as 'exit'. */
  unmount(): void;
}

declare module '../native' {
  interface NativeAddon {
    /** Absent where FUSE is not supported (non-Linux builds). Starts mounting at once. */
    FuseMount?: new (options: FuseMountOptions, onEvent: FuseEventCallback) => FuseMountHandle;
  }
}
