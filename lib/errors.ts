/**
 * Errors thrown by pixelrts. Every error carries a stable `code` (`ERR_PIXELRTS_*`) that
 * scripts can switch on, and a message that names the file or field, what was expected,
 * what was found and what to do about it. The native addon throws the same class (native.ts
 * hands it over when the addon loads). docs/errors.md lists every code.
 */

/**
 * Every code a pixelrts error (or warning) carries, also at run time (to check a code that
 * crossed a process or the addon boundary); docs/errors.md says what each means and what to do.
 */
export const PIXELRTS_ERROR_CODES = [
  // Shared: arguments, files, the addon.
  'ERR_PIXELRTS_USAGE', 'ERR_PIXELRTS_ARGUMENT', 'ERR_PIXELRTS_RANGE', 'ERR_PIXELRTS_NOT_FOUND', 'ERR_PIXELRTS_IO',
  'ERR_PIXELRTS_NO_SPACE', 'ERR_PIXELRTS_NO_MEMORY', 'ERR_PIXELRTS_TOO_LARGE', 'ERR_PIXELRTS_ADDON',
  'ERR_PIXELRTS_INTERNAL', 'ERR_PIXELRTS_CANCELLED', 'ERR_PIXELRTS_TIMEOUT', 'ERR_PIXELRTS_DEPENDENCY',
  'ERR_PIXELRTS_WARNING',
  // Codec: the PNG, its payload and metadata.
  'ERR_PIXELRTS_PNG_SIGNATURE', 'ERR_PIXELRTS_PNG_CHUNK', 'ERR_PIXELRTS_PNG_CRC', 'ERR_PIXELRTS_PNG_IHDR',
  'ERR_PIXELRTS_PNG_TEXT', 'ERR_PIXELRTS_PNG_TRUNCATED', 'ERR_PIXELRTS_PNG_FILTER', 'ERR_PIXELRTS_GRID',
  'ERR_PIXELRTS_INFLATE', 'ERR_PIXELRTS_DEFLATE', 'ERR_PIXELRTS_ZSTD', 'ERR_PIXELRTS_DECOMPRESS',
  'ERR_PIXELRTS_DECODE', 'ERR_PIXELRTS_BAND_INDEX', 'ERR_PIXELRTS_METADATA', 'ERR_PIXELRTS_SIDECAR',
  'ERR_PIXELRTS_HASH', 'ERR_PIXELRTS_HASH_TREE', 'ERR_PIXELRTS_VAT', 'ERR_PIXELRTS_INPUT_CHANGED',
  'ERR_PIXELRTS_UNSAFE_NAME',
  // FUSE mounts.
  'ERR_PIXELRTS_FUSE_DEVICE', 'ERR_PIXELRTS_FUSE_HELPER', 'ERR_PIXELRTS_FUSE_LIBRARY',
  'ERR_PIXELRTS_FUSE_UNSUPPORTED', 'ERR_PIXELRTS_FUSE_MOUNT', 'ERR_PIXELRTS_FUSE_UNMOUNT',
  'ERR_PIXELRTS_FUSE_SESSION', 'ERR_PIXELRTS_FUSE_FILES', 'ERR_PIXELRTS_FUSE_READ', 'ERR_PIXELRTS_MOUNTPOINT',
  'ERR_PIXELRTS_MOUNTPOINT_BUSY', 'ERR_PIXELRTS_MOUNTPOINT_FOREIGN', 'ERR_PIXELRTS_MOUNTPOINT_NOT_EMPTY',
  'ERR_PIXELRTS_MOUNTPOINT_STALE', 'ERR_PIXELRTS_NOT_MOUNTED',
  // QEMU and the guest.
  'ERR_PIXELRTS_QEMU_MISSING', 'ERR_PIXELRTS_QEMU_FAILED', 'ERR_PIXELRTS_ACCEL', 'ERR_PIXELRTS_VM_INPUT',
  'ERR_PIXELRTS_QMP', 'ERR_PIXELRTS_QMP_CLOSED', 'ERR_PIXELRTS_CONNECT', 'ERR_PIXELRTS_CONSOLE_CLOSED',
  'ERR_PIXELRTS_CHANNEL_CLOSED', 'ERR_PIXELRTS_MESSAGE', 'ERR_PIXELRTS_SERIAL_LOG',
  // Frame export.
  'ERR_PIXELRTS_FRAMES_OPTIONS', 'ERR_PIXELRTS_FRAMES_LISTEN', 'ERR_PIXELRTS_FRAMES_VSOCK',
  'ERR_PIXELRTS_FRAMES_RECORD', 'ERR_PIXELRTS_FRAMES_FRAME', 'ERR_PIXELRTS_FRAMES_PROTOCOL',
  'ERR_PIXELRTS_FRAMES_FULL', 'ERR_PIXELRTS_FRAMES_ENCODE', 'ERR_PIXELRTS_FRAMES_INTERNAL',
  'ERR_PIXELRTS_FRAMES_CLOSED',
  // Boot, running VMs, the demo.
  'ERR_PIXELRTS_BOOT', 'ERR_PIXELRTS_VERIFY', 'ERR_PIXELRTS_NO_KERNEL', 'ERR_PIXELRTS_NOT_A_KERNEL',
  'ERR_PIXELRTS_ARCH', 'ERR_PIXELRTS_DISK', 'ERR_PIXELRTS_OVERLAY', 'ERR_PIXELRTS_CLOUD_INIT',
  'ERR_PIXELRTS_RUNTIME_DIR', 'ERR_PIXELRTS_MOUNT_LOST', 'ERR_PIXELRTS_COMMIT', 'ERR_PIXELRTS_SNAPSHOT',
  'ERR_PIXELRTS_DETACH', 'ERR_PIXELRTS_INTERRUPTED', 'ERR_PIXELRTS_NO_VM', 'ERR_PIXELRTS_CONTROL',
  'ERR_PIXELRTS_STOP', 'ERR_PIXELRTS_DEMO', 'ERR_PIXELRTS_NO_DISPLAY', 'ERR_PIXELRTS_INPUT', 'ERR_PIXELRTS_SCREEN', 'ERR_PIXELRTS_VIEW', 'ERR_PIXELRTS_SERVE', 'ERR_PIXELRTS_NBD', 'ERR_PIXELRTS_FETCH',
  'ERR_PIXELRTS_FETCH_CHANGED', 'ERR_PIXELRTS_FETCH_NO_RANGES', 'ERR_PIXELRTS_LAYOUT',
  // The screen as a frame source (a display).
  'ERR_PIXELRTS_DISPLAY_OPTIONS', 'ERR_PIXELRTS_DISPLAY_CONNECT', 'ERR_PIXELRTS_DISPLAY_PROTOCOL',
  // Private VM networks (lib/net/, native/net/).
  'ERR_PIXELRTS_NET', 'ERR_PIXELRTS_NET_FULL', 'ERR_PIXELRTS_NET_BUSY', 'ERR_PIXELRTS_NET_PORT',
] as const;

/** One of PIXELRTS_ERROR_CODES. */
export type PixelrtsErrorCode = typeof PIXELRTS_ERROR_CODES[number];

/** `code` when it is a pixelrts code (one from the addon, a child process or a socket), else `fallback`. */
export function errorCode(code: unknown, fallback: PixelrtsErrorCode): PixelrtsErrorCode {
  return (PIXELRTS_ERROR_CODES as readonly unknown[]).includes(code) ? code as PixelrtsErrorCode : fallback;
}

export class PixelrtsError extends Error {
  readonly code: PixelrtsErrorCode;

  constructor(code: PixelrtsErrorCode, message: string, options?: { cause?: unknown }) {
    super(message, options);
    this.name = 'PixelrtsError';
    this.code = code;
  }
}

/** A command-line usage mistake: the CLI prints it with the command's usage and exits 2. */
export class UsageError extends PixelrtsError {
  constructor(message: string) {
    super('ERR_PIXELRTS_USAGE', message);
    this.name = 'UsageError';
  }
}

/** True for errors raised by pixelrts itself (JS or native), which carry a `code`. */
export function isPixelrtsError(err: unknown): err is PixelrtsError {
  return err instanceof PixelrtsError;
}
