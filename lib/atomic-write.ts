/**
 * Writing small files whole or not at all: the bytes go to a temporary file beside the target
 * (a name of this process), are flushed to disk and renamed over it, so a reader, a crash or a
 * SIGKILL sees the old file or the new one, never a part. Large files (containers) are written
 * by native code the same way, through an unnamed file (native/common/atomic_file.h).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';

/**
 * Replaces `file` with `data` atomically; the temporary file is removed if anything fails.
 * `durable: false` skips the flush to disk (for files a crash may lose, never half-write).
 */
export async function writeFileAtomic(file: string, data: string | Uint8Array, mode = 0o666,
  options: { durable?: boolean } = {}): Promise<void> {
  const tmp = path.join(path.dirname(file), `.${path.basename(file)}.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  let renamed = false;
  try {
    const fh = await fs.open(tmp, 'wx', mode);
    try {
      await fh.writeFile(data);
      if (options.durable !== false) await fh.sync();
    } finally {
      await fh.close();
    }
    await fs.rename(tmp, file);
    renamed = true;
  } finally {
    if (!renamed) await fs.rm(tmp, { force: true });
  }
}
