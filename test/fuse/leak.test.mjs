// Mounting and unmounting many times in one process leaks no thread, descriptor or child
// process. Its own test file, so no other test's threads or descriptors come and go meanwhile.
import test from 'ava';
import fs from 'node:fs';
import path from 'node:path';
import { createRequire } from 'node:module';
import { needs } from '../helpers/prereq.mjs';
import { fuseMissing, mountsUnder, pseudoRandom, tempDir } from '../helpers/fuse.mjs';

const require = createRequire(import.meta.url);
const { mountTable } = require('../../dist/fuse/mount.js');
const { native } = require('../../dist/native.js');

const fuseTest = needs(test, fuseMissing());

/** Threads of this process named by the addon (pixelrts-mount, pixelrts-fuse). */
function ownThreads() {
  return fs.readdirSync('/proc/self/task').filter((tid) => {
    try { return fs.readFileSync(`/proc/self/task/${tid}/comm`, 'utf8').startsWith('pixelrts-'); } catch { return false; }
  }).length;
}

function census() {
  const children = fs.readdirSync('/proc/self/task')
    .flatMap((tid) => fs.readFileSync(`/proc/self/task/${tid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean));
  return { threads: fs.readdirSync('/proc/self/task').length, fds: fs.readdirSync('/proc/self/fd').length, children };
}

/**
 * Polls `read()` every 10 ms until `ok` holds of its value or 2 s pass; returns the last value.
 * A thread that has been joined can still be listed in /proc/self/task for a moment: the kernel
 * wakes pthread_join (clearing the thread id) early in the thread's exit, before it unhashes the
 * task, and on a loaded machine the exiting thread may wait for a CPU in between. A thread that
 * really leaks is still there after 2 s.
 */
async function settled(read, ok) {
  const deadline = Date.now() + 2000;
  for (;;) {
    const value = read();
    if (ok(value) || Date.now() > deadline) return value;
    await new Promise((r) => setTimeout(r, 10));
  }
}

fuseTest.serial('mount and unmount 100 times: no growth in threads, descriptors or child processes', async (t) => {
  const dir = tempDir(t);
  const bytes = pseudoRandom(1 << 20, 3);
  const table = { payload: native().payloadFromBuffer(bytes), files: [{ path: '/f', extents: [[0, bytes.length]] }],
    mtimeMs: 0, fsname: 'pixelrts:leak' };
  const cycle = async (i) => {
    const m = await mountTable(table, dir);
    if (i === 50) t.is(await settled(ownThreads, (n) => n === 5), 5, 'a mount runs a supervisor and four FUSE workers');
    const fd = fs.openSync(path.join(dir, 'f'), 'r');
    const buf = Buffer.alloc(4096);
    fs.readSync(fd, buf, 0, 4096, (i * 4096) % bytes.length);
    if (i % 2 === 0) fs.closeSync(fd);  // every other unmount happens with the file still open
    await m.unmount();
    if (i % 2 === 1) fs.closeSync(fd);
    t.true(buf.equals(bytes.subarray((i * 4096) % bytes.length, (i * 4096) % bytes.length + 4096)));
  };
  // Warm up: libuv's thread pool (started by the first async fs call) and lazily opened descriptors.
  await fs.promises.stat(dir);
  await cycle(0);
  await settled(ownThreads, (n) => n === 0);
  const before = census();
  for (let i = 1; i <= 100; i++) await cycle(i);
  const after = await settled(census, (c) => c.threads <= before.threads && c.fds === before.fds && c.children.length === 0);
  t.deepEqual(mountsUnder(dir), []);
  t.is(await settled(ownThreads, (n) => n === 0), 0, 'no mount or FUSE thread left');
  // Node may retire one of its own helper threads meanwhile; growth is what would be a leak.
  t.true(after.threads <= before.threads, `threads: ${before.threads} before, ${after.threads} after`);
  t.is(after.fds, before.fds, 'open descriptors');
  t.deepEqual(after.children, [], 'no fusermount3 (or zombie) left');
});
