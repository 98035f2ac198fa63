// Shared by the FUSE tests: the prerequisite check, temporary mount points that are always
// cleaned up, and a look at the mount table.
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { commandMissing } from './prereq.mjs';

/** null when real FUSE mounts can be made here, else why not. */
export function fuseMissing() {
  if (process.platform !== 'linux') return `FUSE mounts need Linux (this is ${process.platform})`;
  try {
    if (!fs.statSync('/dev/fuse').isCharacterDevice()) return '/dev/fuse is not a character device';
    fs.accessSync('/dev/fuse', fs.constants.R_OK | fs.constants.W_OK);
  } catch {
    return '/dev/fuse is missing or not accessible (modprobe fuse; in a container: --device /dev/fuse)';
  }
  return commandMissing('fusermount3', 'fuse3');
}

/** Mount points (as the kernel lists them) that lie under `dir`. */
export function mountsUnder(dir) {
  const text = fs.readFileSync('/proc/self/mountinfo', 'utf8');
  return text.split('\n').map((l) => l.split(' ')[4]).filter((p) => p && (p === dir || p.startsWith(dir + '/')));
}

/** A fresh empty directory; teardown unmounts anything left on it and removes it. */
export function tempDir(t, prefix = 'pixelrts-fuse-') {
  const dir = fs.realpathSync(fs.mkdtempSync(path.join(os.tmpdir(), prefix)));
  t.teardown(() => {
    for (const mp of mountsUnder(dir).reverse()) {
      try { execFileSync('fusermount3', ['-u', '-z', '--', mp], { stdio: 'ignore' }); } catch { /* already gone */ }
    }
    fs.rmSync(dir, { recursive: true, force: true });
  });
  return dir;
}

/** Deterministic pseudo-random bytes (xorshift), fast enough for tens of MiB. */
export function pseudoRandom(size, seed = 1) {
  const buf = Buffer.alloc(size);
  let x = seed >>> 0 || 1;
  for (let i = 0; i + 4 <= size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    buf.writeUInt32LE(x, i);
  }
  return buf;
}

/** Polls `check` every 20 ms until it returns true or `ms` pass; returns its last answer. */
export async function waitFor(check, ms) {
  const end = Date.now() + ms;
  for (;;) {
    if (check()) return true;
    if (Date.now() > end) return false;
    await new Promise((r) => setTimeout(r, 20));
  }
}

/**
 * Resolves with the first argument of `emitter`'s next `event`; rejects after `ms`. A Mount
 * does not keep the process alive, so a bare wait for one of its events ('unmount' after an
 * unmount from outside, 'error') has no live handle: when nothing else in the test file is
 * running, the process empties its event loop before the event arrives and ava can only say
 * "Promise returned by test never resolved". The timer is the live handle, and the deadline.
 */
export function nextEvent(emitter, event, ms = 10000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      emitter.off(event, on);
      reject(new Error(`no '${event}' event within ${ms} ms`));
    }, ms);
    const on = (value) => { clearTimeout(timer); resolve(value); };
    emitter.once(event, on);
  });
}
