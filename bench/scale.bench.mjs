// `npm run bench -- scale`: containers of any size in bounded memory.
// For disk-like payloads of 256 MiB, 1 GiB and 4 GiB (PIXELRTS_SCALE_SIZES, in MiB, to choose):
// an ext4 filesystem made by mkfs.ext4 -d from a real directory tree (/usr/include and
// /usr/lib/python3.11), padded to size with the machine's ELF libraries. For each size:
//   convert     pixelrts convert: time and peak RSS (a child process)
//   open        open() and the first byte of the file through the API, fresh cache
//   mount       the mounting process's peak RSS over everything below, and the time from
//               mount() to the first byte read through the mount
//   sequential  the whole file read through the mount in 1 MiB reads: cold (nothing decoded
//               yet), from the decoded cache in the page cache, and from the decoded cache on
//               disk (page cache dropped first, when we may)
//   random      10,000 random 4 KiB O_DIRECT reads through the mount, from the decoded cache
// Baselines in the same run: the same bytes on tmpfs (/dev/shm) read the same ways, and random
// 4 KiB O_DIRECT reads through a mount that serves the bytes from memory (what FUSE itself costs).
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { PEAK_KIB } from '../test/helpers/child.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { mountTable } = require('../dist/fuse/mount.js');
const { native } = require('../dist/native.js');

const MiB = 1 << 20;
const SIZES = (process.env.PIXELRTS_SCALE_SIZES ?? '256,1024,4096').split(',').map((s) => Number(s) * MiB);
const RANDOM_READS = 10000;
const cli = path.join(root, 'dist', 'cli', 'main.js');

const now = () => Number(process.hrtime.bigint()) / 1e6;
// A child's own peak RSS in bytes, from inside it (see test/helpers/child.mjs).
const PEAK = `${PEAK_KIB} * 1024`;
const mb = (bytes) => (bytes / MiB).toFixed(0);
const rate = (bytes, ms) => `${(bytes / ms / 1e3).toFixed(0)} MB/s`;

function run(cmd, args, options = {}) {
  const r = spawnSync(cmd, args, { encoding: 'utf8', maxBuffer: 64 * MiB, ...options });
  if (r.status !== 0) throw new Error(`${cmd} ${args.join(' ')}: ${r.stderr || r.error}`);
  return r.stdout;
}

/** Drops the page cache when we may (root), so a read comes from the disk; says whether it did. */
function dropCaches() {
  try {
    fs.writeFileSync('/proc/sys/vm/drop_caches', '1');
    return true;
  } catch {
    return false;
  }
}

/** A disk-like file of `size` bytes: a real ext4 filesystem, then ELF libraries end to end. */
function buildDisk(file, size, work) {
  const tree = path.join(work, 'tree');
  fs.mkdirSync(tree, { recursive: true });
  for (const d of ['/usr/include', '/usr/lib/python3.11']) {
    if (fs.existsSync(d)) run('cp', ['-a', d, path.join(tree, path.basename(d))]);
  }
  const fsSize = Math.min(size, 256 * MiB);
  run('mkfs.ext4', ['-q', '-F', '-d', tree, file, `${fsSize / 1024}k`]);
  fs.rmSync(tree, { recursive: true, force: true });
  const libs = fs.readdirSync('/usr/lib/x86_64-linux-gnu').map((f) => path.join('/usr/lib/x86_64-linux-gnu', f))
    .filter((f) => { try { const st = fs.statSync(f); return st.isFile() && st.size > 64 * 1024; } catch { return false; } });
  const fd = fs.openSync(file, 'r+');
  let at = fsSize;
  for (let i = 0; at < size; i++) {
    const data = fs.readFileSync(libs[i % libs.length]);
    at += fs.writeSync(fd, data, 0, Math.min(data.length, size - at), at);
  }
  fs.closeSync(fd);
}

function sequential(file, flags = fs.constants.O_RDONLY) {
  const buf = Buffer.allocUnsafe(MiB);
  const fd = fs.openSync(file, flags);
  const t = now();
  let total = 0;
  for (let n; (n = fs.readSync(fd, buf, 0, MiB, total)) > 0;) total += n;
  const ms = now() - t;
  fs.closeSync(fd);
  return { ms, total };
}

function random4k(file, size, flags) {
  const buf = Buffer.alloc(4096);
  const fd = fs.openSync(file, flags);
  let x = 2463534242;
  const blocks = Math.floor(size / 4096);
  const t = now();
  for (let i = 0; i < RANDOM_READS; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    fs.readSync(fd, buf, 0, 4096, (x % blocks) * 4096);
  }
  const ms = now() - t;
  fs.closeSync(fd);
  return RANDOM_READS / (ms / 1000);
}

/** Mounts `png` in a child process; resolves when it is mounted, with a function that unmounts and returns its peak RSS. */
async function mountInChild(png, mnt, cacheDir) {
  const script = `const { mount } = require(${JSON.stringify(path.join(root, 'dist', 'fuse', 'mount.js'))});
    const t = performance.now();
    mount(${JSON.stringify(png)}, ${JSON.stringify(mnt)}).then((m) => {
      process.stdout.write('mounted ' + (performance.now() - t) + '\\n');
      process.stdin.on('end', async () => { await m.unmount(); process.stdout.write(JSON.stringify({ peak: ${PEAK} }) + '\\n'); });
      process.stdin.resume();
    });`;
  const child = spawn(process.execPath, ['-e', script], { env: { ...process.env, PIXELRTS_CACHE_DIR: cacheDir }, stdio: ['pipe', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.on('data', (d) => { out += d; });
  await new Promise((resolve, reject) => {
    child.on('exit', (c) => reject(new Error(`mount child exited with ${c}`)));
    const poll = setInterval(() => { if (out.includes('mounted')) { clearInterval(poll); resolve(); } }, 2);
  });
  const mountMs = Number(out.split('\n')[0].split(' ')[1]);
  const unmount = async () => {
    child.stdin.end();
    await new Promise((resolve) => child.on('exit', resolve));
    return JSON.parse(out.split('\n')[1]).peak;
  };
  return { mountMs, unmount };
}

/** Random 4 KiB O_DIRECT reads/s through a mount serving a 256 MiB payload from memory. */
async function fuseFromMemory(work) {
  const size = 256 * MiB;
  const payload = native().payloadFromBuffer(Buffer.alloc(size, 7));
  const mnt = path.join(work, 'mem');
  fs.mkdirSync(mnt);
  const m = await mountTable({ payload, files: [{ path: '/f', extents: [[0, size]] }], mtimeMs: Date.now(), fsname: 'pixelrts:bench' }, mnt);
  try {
    return random4k(path.join(mnt, 'f'), size, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
  } finally {
    await m.unmount();
  }
}

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-bench-scale-'));
const shm = fs.mkdtempSync('/dev/shm/pixelrts-bench-scale-');
const rows = [];
try {
  const fuseMemory = await fuseFromMemory(work);
  console.log(`baseline: random 4 KiB O_DIRECT reads through a mount serving memory: ${fuseMemory.toFixed(0)}/s`);
  console.log(`page cache dropped before cached reads: ${dropCaches() ? 'yes' : 'no (not root)'}`);
  for (const size of SIZES) {
    const disk = path.join(work, 'disk.img');
    buildDisk(disk, size, work);
    const png = path.join(work, 'disk.rts.png');
    const cacheDir = path.join(work, 'cache');
    fs.rmSync(cacheDir, { recursive: true, force: true });

    // convert (writeContainer, as the CLI runs it), in a child whose peak RSS is its own.
    let t = now();
    const conv = JSON.parse(run(process.execPath, ['-e', `require(${JSON.stringify(path.join(root, 'dist', 'index.js'))})
      .writeContainer(${JSON.stringify(png)}, { path: ${JSON.stringify(disk)} }, { name: 'disk' })
      .then(() => console.log(JSON.stringify({ peak: ${PEAK} })))`]));
    const convertMs = now() - t;
    const convertRss = conv.peak;

    // open + first byte through the API (fresh cache).
    const open = run(process.execPath, ['-e', `const px = require(${JSON.stringify(path.join(root, 'dist', 'index.js'))});
      const { native } = require(${JSON.stringify(path.join(root, 'dist', 'native.js'))});
      const t0 = performance.now();
      px.open(${JSON.stringify(png)}, { cacheDir: ${JSON.stringify(path.join(work, 'cache-api'))} }).then((c) => {
        const opened = performance.now() - t0;
        native().payloadRead(c.payload(), 0, 1);
        console.log(JSON.stringify({ opened, firstByte: performance.now() - t0 }));
      })`]);
    const api = JSON.parse(open);
    fs.rmSync(path.join(work, 'cache-api'), { recursive: true, force: true });

    // Through the mount (in a child, for its RSS).
    const mnt = path.join(work, 'mnt');
    fs.mkdirSync(mnt, { recursive: true });
    const child = await mountInChild(png, mnt, cacheDir);
    const file = path.join(mnt, 'disk');
    const one = Buffer.alloc(1);
    t = now();
    const fd = fs.openSync(file, 'r');
    fs.readSync(fd, one, 0, 1, 0);
    fs.closeSync(fd);
    const mountFirstByte = child.mountMs + (now() - t);
    const cold = sequential(file);
    const warm = sequential(file);
    const dropped = dropCaches();
    const cached = sequential(file);
    const random = random4k(file, size, fs.constants.O_RDONLY | fs.constants.O_DIRECT);
    const mountRss = await child.unmount();

    // The same bytes on tmpfs.
    const onTmpfs = path.join(shm, 'disk.img');
    fs.copyFileSync(disk, onTmpfs);
    const tmpfsSeq = sequential(onTmpfs);
    const tmpfsRandom = random4k(onTmpfs, size, fs.constants.O_RDONLY);
    fs.rmSync(onTmpfs);

    if (cold.total !== size || cached.total !== size) throw new Error(`read ${cold.total}/${cached.total} of ${size} bytes`);
    rows.push({ size, convertMs, convertRss, api, mountFirstByte, cold, warm, cached, random, mountRss, tmpfsSeq, tmpfsRandom, dropped });
    console.log(`\n${mb(size)} MiB payload:`);
    console.log(`  convert           ${(convertMs / 1000).toFixed(1)} s (${rate(size, convertMs)}), peak RSS ${mb(convertRss)} MiB`);
    console.log(`  open              ${api.opened.toFixed(1)} ms; first byte through the API ${api.firstByte.toFixed(1)} ms`);
    console.log(`  mount→first byte  ${mountFirstByte.toFixed(1)} ms; mount process peak RSS ${mb(mountRss)} MiB`);
    console.log(`  sequential cold   ${rate(size, cold.ms)} (${(cold.ms / 1000).toFixed(1)} s); tmpfs ${rate(size, tmpfsSeq.ms)}; ratio ${(tmpfsSeq.ms / cold.ms).toFixed(2)}`);
    console.log(`  sequential cache  ${rate(size, warm.ms)} in the page cache, ratio to tmpfs ${(tmpfsSeq.ms / warm.ms).toFixed(2)}; ` +
      `${rate(size, cached.ms)} from the disk${dropped ? ' (page cache dropped)' : ' (page cache NOT dropped)'}, ratio ${(tmpfsSeq.ms / cached.ms).toFixed(2)}`);
    console.log(`  random 4 KiB      ${random.toFixed(0)}/s O_DIRECT from the cache; ${(random / fuseMemory).toFixed(2)}x a mount serving memory; tmpfs ${tmpfsRandom.toFixed(0)}/s`);
    fs.rmSync(png, { force: true });
    fs.rmSync(`${png}.meta.json`, { force: true });
    fs.rmSync(disk, { force: true });
  }
  console.log('\nsize       convert          RSS conv  RSS mount  first byte  cold seq   cache seq (x tmpfs)   from disk  random 4K (x FUSE mem)');
  for (const r of rows) {
    console.log(`${`${mb(r.size)} MiB`.padEnd(10)} ${`${(r.convertMs / 1000).toFixed(1)} s`.padEnd(16)} ${`${mb(r.convertRss)} MiB`.padEnd(9)} ${`${mb(r.mountRss)} MiB`.padEnd(10)} ` +
      `${`${r.mountFirstByte.toFixed(0)} ms`.padEnd(11)} ${rate(r.size, r.cold.ms).padEnd(10)} ${`${rate(r.size, r.warm.ms)} (${(r.tmpfsSeq.ms / r.warm.ms).toFixed(2)})`.padEnd(21)} ${rate(r.size, r.cached.ms).padEnd(10)} ` +
      `${r.random.toFixed(0)}/s (${(r.random / fuseMemory).toFixed(2)})`);
  }
} finally {
  for (const m of ['mnt', 'mem']) spawnSync('fusermount3', ['-u', '-z', path.join(work, m)], { stdio: 'ignore' });
  fs.rmSync(work, { recursive: true, force: true });
  fs.rmSync(shm, { recursive: true, force: true });
}
