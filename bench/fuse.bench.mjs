// `npm run bench -- fuse`: the FUSE read path.
//  1. Sequential read of a 64 MiB file through the mount in 1 MiB reads with a cold page cache,
//     against the same bytes read the same way from tmpfs (/dev/shm) in the same run. "Cold" is
//     made by mounting afresh for every measured pass: a new mount is a new superblock with
//     new inodes, so none of the file is in the page cache (dropping caches with
//     /proc/sys/vm/drop_caches would also work but needs root and hits every other process on
//     the machine). Also shown: a warm pass (keep_cache keeps pages across opens) and an
//     O_DIRECT pass (every 1 MiB read is a FUSE request).
//  2. Random 4 KiB reads per second with O_DIRECT (every read a FUSE round trip) against random
//     4 KiB reads from tmpfs (page cache, no round trip).
//  3. Time from mount() of a 256 MiB container (written by the project's encoder) to the first
//     byte of /kernel, against opening it and decoding its first 4 KiB without FUSE (so the
//     difference is what the mount costs) and against decoding the whole payload.
// Payloads for 1 and 2 are in memory (payloadFromBuffer), so this measures FUSE, not decoding.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { pseudoRandom } from '../test/helpers/fuse.mjs';

const require = createRequire(import.meta.url);
const { mount, mountTable } = require('../dist/fuse/mount.js');
const { native } = require('../dist/native.js');
const { writeContainer } = require('../dist/codec/writer.js');
const { open } = require('../dist/codec/container.js');

const MiB = 1 << 20;
const FILE = 64 * MiB;
const PASSES = 5;
const RANDOM_READS = 20000;

const now = () => Number(process.hrtime.bigint()) / 1e6;
const median = (xs) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const gbps = (bytes, ms) => bytes / ms / 1e6;

/** Reads the whole file sequentially in 1 MiB reads; returns ms. */
function sequential(file, flags = fs.constants.O_RDONLY) {
  const buf = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, flags);
  const t = now();
  let total = 0;
  for (;;) {
    const n = fs.readSync(fd, buf, 0, MiB, total);
    if (n === 0) break;
    total += n;
  }
  const ms = now() - t;
  fs.closeSync(fd);
  if (total !== FILE) throw new Error(`read ${total} bytes of ${file}, expected ${FILE}`);
  return ms;
}

/** RANDOM_READS reads of 4 KiB at random 4 KiB-aligned offsets; returns reads per second. */
function random4k(file, flags = fs.constants.O_RDONLY) {
  const buf = Buffer.allocUnsafe(4096);
  const fd = fs.openSync(file, flags);
  let x = 12345;
  const t = now();
  for (let i = 0; i < RANDOM_READS; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    fs.readSync(fd, buf, 0, 4096, (x % (FILE / 4096)) * 4096);
  }
  const ms = now() - t;
  fs.closeSync(fd);
  return RANDOM_READS / (ms / 1000);
}

const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-fuse-bench-'));
const shmDir = fs.mkdtempSync('/dev/shm/pixelrts-fuse-bench-');
const mountDir = path.join(scratch, 'mnt');
fs.mkdirSync(mountDir);
try {
  const bytes = pseudoRandom(FILE, 42);
  const shmFile = path.join(shmDir, 'data');
  fs.writeFileSync(shmFile, bytes);
  const table = () => ({ payload: native().payloadFromBuffer(bytes), files: [{ path: '/data', extents: [[0, FILE]] }],
    mtimeMs: Date.now(), fsname: 'pixelrts:bench' });
  const fuseFile = path.join(mountDir, 'data');

  // 1. sequential
  const cold = [];
  const warm = [];
  const direct = [];
  const shm = [];
  for (let i = 0; i < PASSES; i++) {
    const m = await mountTable(table(), mountDir);
    cold.push(sequential(fuseFile));
    warm.push(sequential(fuseFile));
    direct.push(sequential(fuseFile, fs.constants.O_RDONLY | fs.constants.O_DIRECT));
    await m.unmount();
    shm.push(sequential(shmFile));
  }
  const shmRate = gbps(FILE, median(shm));
  console.log(`sequential read, 64 MiB in 1 MiB reads (median of ${PASSES}):`);
  const row = (label, ms) => console.log(`  ${label.padEnd(34)} ${gbps(FILE, median(ms)).toFixed(2).padStart(6)} GB/s  ` +
    `(${median(ms).toFixed(1)} ms)  ${(gbps(FILE, median(ms)) / shmRate).toFixed(2)}× tmpfs`);
  row('FUSE, cold page cache (new mount)', cold);
  row('FUSE, warm page cache (reopen)', warm);
  row('FUSE, O_DIRECT (every read a request)', direct);
  row('tmpfs /dev/shm (baseline)', shm);

  // Mount and unmount latency of the FUSE part alone (payload already in memory).
  const mounts = [];
  const unmounts = [];
  for (let i = 0; i < 10; i++) {
    const t = table();  // payloadFromBuffer copies the 64 MiB: not part of mounting
    const t0 = now();
    const mm = await mountTable(t, mountDir);
    const t1 = now();
    await mm.unmount();
    mounts.push(t1 - t0);
    unmounts.push(now() - t1);
  }
  console.log(`mountTable() → served ${median(mounts).toFixed(1)} ms, unmount() → everything released ${median(unmounts).toFixed(1)} ms (median of 10)`);

  // 2. random 4 KiB
  const m = await mountTable(table(), mountDir);
  const fuseRandom = random4k(fuseFile, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  await m.unmount();
  const shmRandom = random4k(shmFile);
  console.log(`random 4 KiB reads (${RANDOM_READS}, one thread):`);
  console.log(`  FUSE, O_DIRECT (a round trip each)  ${Math.round(fuseRandom).toString().padStart(8)} reads/s  ${(fuseRandom / shmRandom).toFixed(2)}× tmpfs`);
  console.log(`  tmpfs /dev/shm (baseline)           ${Math.round(shmRandom).toString().padStart(8)} reads/s`);

  // 3. time to the first byte of /kernel of a 256 MiB container
  const png = path.join(scratch, 'big.rts.png');
  const kernel = pseudoRandom(16 * MiB, 5);
  const initrd = Buffer.alloc(240 * MiB);
  for (let i = 0; i < initrd.length; i += MiB) pseudoRandom(64 * 1024, i / MiB + 1).copy(initrd, i);  // partly compressible
  const t0 = now();
  await writeContainer(png, [{ name: 'kernel', data: kernel }, { name: 'initrd', data: initrd }], { level: 1 });
  console.log(`256 MiB container (16 MiB kernel + 240 MiB initrd), written by the encoder in ${((now() - t0) / 1000).toFixed(1)} s, ` +
    `${(fs.statSync(png).size / MiB).toFixed(0)} MiB PNG:`);
  const firsts = [];
  const baseline = [];
  const wholes = [];
  const one = Buffer.alloc(1);
  const settle = () => new Promise((r) => setTimeout(r, 300));  // let a cancelled decode wind down
  for (let i = 0; i < 5; i++) {
    await settle();
    const start = now();
    const c = await open(png);
    const opened = now();
    const mm = await mount(c, mountDir);
    const mounted = now();
    const fd = fs.openSync(path.join(mountDir, 'kernel'), 'r');
    fs.readSync(fd, one, 0, 1, 0);
    const first = now();
    fs.closeSync(fd);
    if (one[0] !== kernel[0]) throw new Error('first byte of /kernel is wrong');
    await mm.unmount();
    firsts.push({ open: opened - start, mount: mounted - opened, first: first - start });
    // Baseline: the same container opened and its first 4 KiB decoded, without FUSE.
    await settle();
    const b0 = now();
    const p = (await open(png)).payload();
    p.waitReady(0, 4096);
    baseline.push(now() - b0);
    p.waitReady(0, p.size);
    wholes.push(now() - b0);
  }
  const f = median(firsts.map((x) => x.first));
  const b = median(baseline);
  console.log(`  open + mount → first byte of /kernel ${f.toFixed(1).padStart(7)} ms  (open() ${median(firsts.map((x) => x.open)).toFixed(1)} ms, ` +
    `mount() ${median(firsts.map((x) => x.mount)).toFixed(1)} ms while the decode runs; median of 5)`);
  console.log(`  open() → first 4 KiB decoded, no FUSE ${b.toFixed(1).padStart(6)} ms  (baseline: FUSE adds ${(f - b).toFixed(1)} ms)`);
  console.log(`  open() → whole payload decoded        ${median(wholes).toFixed(1).padStart(6)} ms  (what a read would wait for without ranges)`);
} finally {
  for (const l of fs.readFileSync('/proc/self/mountinfo', 'utf8').split('\n')) {
    if (l.split(' ')[4] === mountDir) console.error('bench: a mount was left at', mountDir);
  }
  fs.rmSync(scratch, { recursive: true, force: true });
  fs.rmSync(shmDir, { recursive: true, force: true });
}
