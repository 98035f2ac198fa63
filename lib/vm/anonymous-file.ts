/**
 * A file with no name: its bytes live only as long as an open descriptor does, so nothing is
 * left on disk whatever happens to this process (SIGKILL included). A child reads it through
 * the descriptor it inherits (`/dev/fd/N`). Used for the KVM probe guest's firmware.
 */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';

// Linux's O_TMPFILE (__O_TMPFILE | O_DIRECTORY, the same on x86_64 and arm64); Node does not
// export it. The kernel creates the file unlinked, in the directory's filesystem.
const O_TMPFILE = 0o20000000 | 0o200000;

/**
 * Opens a nameless file holding `data` and returns its descriptor (the caller closes it).
 * Where the temp directory's filesystem has no O_TMPFILE, the file is created and unlinked at
 * once, in the same synchronous step.
 */
export function anonymousFile(data: Uint8Array): number {
  let fd: number;
  try {
    fd = fs.openSync(os.tmpdir(), O_TMPFILE | fs.constants.O_RDWR, 0o600);
  } catch {
    const name = path.join(os.tmpdir(), `.pixelrts-${process.pid}-${Math.random().toString(36).slice(2)}`);
    fd = fs.openSync(name, fs.constants.O_RDWR | fs.constants.O_CREAT | fs.constants.O_EXCL, 0o600);
    fs.unlinkSync(name);
  }
  try {
    fs.writeSync(fd, data, 0, data.length, 0);
  } catch (err) {
    fs.closeSync(fd);
    throw err;
  }
  return fd;
}
