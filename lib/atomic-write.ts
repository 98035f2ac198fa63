/**
 * Writing small files whole or not at all: the bytes go to an unnamed file beside the target,
 * which replaces it once complete (native/common/atomic_file.h), so a reader, a crash or a
 * SIGKILL sees the old file or the new one, never a part, and nothing else is ever left beside
 * it. Containers are written by native code the same way.
 */
import { native } from './native';

/**
 * Replaces `file` with `data` atomically. `durable: false` skips the flush to disk (for files a
 * crash may lose, never half-write). Errors are PixelrtsErrors (ERR_PIXELRTS_IO, _NO_SPACE).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o666,
  options: { durable?: boolean } = {}): Promise<void> {
  const bytes = typeof data === 'string' ? Buffer.from(data) : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  await native().writeFileAtomic(file, bytes, { mode, durable: options.durable ?? true });
}
