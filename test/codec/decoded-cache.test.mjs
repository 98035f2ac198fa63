// The decoded cache: large containers pixelrts wrote are decoded band by band on demand into a
// file in the cache directory and read from there, through the API and a real FUSE mount:
// random reads at odd offsets equal the source, memory stays bounded, a second process reuses
// what the first decoded, SIGKILL leaves no corrupt entry, a damaged chunk fails exactly its
// band, a full cache disk is an error naming the directory.
import test from 'ava';
import fs from 'node:fs';
import zlib from 'node:zlib';
import os from 'node:os';
import path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import { inCI, needs, repoRoot } from '../helpers/prereq.mjs';
import { PEAK_KIB } from '../helpers/child.mjs';
import { fuseMissing, tempDir } from '../helpers/fuse.mjs';
import { readChunks } from '../helpers/png-js.mjs';
import { d2xy, encodeLikeOriginal, prng } from '../helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { native } = require('../../dist/native.js');

const SIZE = 80 * 1024 * 1024 + 12345;  // above the 64 MiB from which payloads go to the cache
let root;
let source;
let container;

test.before(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-cache-test-'));
  source = path.join(root, 'disk.img');
  const block = prng('decoded-cache', 1 << 20);
  const fd = fs.openSync(source, 'w');
  for (let at = 0, i = 0; at < SIZE; at += block.length, i++) {
    block.writeUInt32LE(i, 0);
    fs.writeSync(fd, block, 0, Math.min(block.length, SIZE - at), at);
  }
  fs.closeSync(fd);
  container = path.join(root, 'disk.rts.png');
  await px.writeContainer(container, { path: source }, { level: 1, name: 'disk' });
});
test.after.always(() => { fs.rmSync(root, { recursive: true, force: true }); });

function sourceBytes(offset, length) {
  const b = Buffer.alloc(length);
  const fd = fs.openSync(source, 'r');
  try { fs.readSync(fd, b, 0, length, offset); } finally { fs.closeSync(fd); }
  return b;
}

/** Odd offsets and lengths, the first and last bytes included. */
function oddRanges(n, seed) {
  let x = seed;
  const next = () => { x = (x * 1103515245 + 12345) >>> 0; return x; };
  const ranges = [[0, 1], [SIZE - 1, 1], [SIZE - 4097, 4097], [4095, 3]];
  for (let i = 0; i < n; i++) {
    const length = 1 + (next() % 200000);
    ranges.push([next() % (SIZE - length), length]);
  }
  return ranges;
}

function cacheDir() {
  return fs.mkdtempSync(path.join(root, 'cache-'));
}

/** Which bands the entry in `dir` marks present. */
function presentBands(dir) {
  const map = fs.readdirSync(dir).find((f) => f.endsWith('.payload.bands'));
  return map ? [...fs.readFileSync(path.join(dir, map))].filter((b) => b === 1).length : 0;
}

test('random reads at odd offsets through the API equal the source; only the bands read are decoded', async (t) => {
  const dir = cacheDir();
  const c = await px.open(container, { cacheDir: dir });
  const h = c.payload();
  const ranges = oddRanges(60, 7);
  for (const [o, n] of ranges) t.true(native().payloadRead(h, o, n).equals(sourceBytes(o, n)), `[${o}, ${o + n})`);
  const p = native().payloadProgress(h);
  t.true(p.bandsDecoded > 0 && p.bandsDecoded < p.bands, `decoded ${p.bandsDecoded} of ${p.bands} bands`);
  t.is(presentBands(dir), p.bandsDone);
  t.deepEqual(fs.readdirSync(dir).map((f) => f.replace(/^[0-9a-f]+/, 'KEY')).sort(), ['KEY.json', 'KEY.payload', 'KEY.payload.bands']);
  t.true((await c.read('disk')).equals(fs.readFileSync(source)));
});

needs(test, fuseMissing())('random reads through a real FUSE mount equal the source; the second pass is served from the cache', async (t) => {
  const dir = cacheDir();
  const mnt = path.join(tempDir(t), 'm');
  fs.mkdirSync(mnt);
  const savedCacheDir = process.env.PIXELRTS_CACHE_DIR;
  process.env.PIXELRTS_CACHE_DIR = dir;
  t.teardown(() => { process.env.PIXELRTS_CACHE_DIR = savedCacheDir; });
  const m = await px.mount(container, mnt);
  t.teardown(() => m.unmount());
  const fd = fs.openSync(path.join(mnt, 'disk'), 'r');
  t.teardown(() => fs.closeSync(fd));
  t.is(fs.fstatSync(fd).size, SIZE);
  for (const [o, n] of oddRanges(40, 11)) {
    const b = Buffer.alloc(n);
    t.is(fs.readSync(fd, b, 0, n, o), n);
    t.true(b.equals(sourceBytes(o, n)), `[${o}, ${o + n})`);
  }
  t.true(presentBands(dir) > 0);
});

test('memory stays bounded: verifying the whole payload adds far less than the payload to the peak RSS', (t) => {
  const dir = cacheDir();
  // The peak after open is the baseline (Node, the addon); a decode into memory would add the
  // whole payload on top of it, the decoded cache a band or two.
  const script = `const px = require(${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))});
    px.open(${JSON.stringify(container)}, { cacheDir: ${JSON.stringify(dir)} }).then(async (c) => {
      const before = ${PEAK_KIB};
      const r = await c.verify();
      console.log(JSON.stringify({ ok: r.ok, beforeKiB: before, maxRssKiB: ${PEAK_KIB} }));
    })`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=32', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const { ok, beforeKiB, maxRssKiB } = JSON.parse(r.stdout);
  t.true(ok);
  const added = (maxRssKiB - beforeKiB) * 1024;
  t.log(`peak RSS ${(maxRssKiB / 1024).toFixed(0)} MiB, ${(added / 1048576).toFixed(0)} MiB above the open, verifying a ${(SIZE / 1048576).toFixed(0)} MiB payload`);
  t.true(added < 24 * 1024 * 1024, `verify added ${added} bytes of RSS`);
});

test('a second process reuses the bands the first decoded; SIGKILL mid-fill leaves no corrupt entry', async (t) => {
  let dir;
  const script = (verify) => `const px = require(${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))});
    const { native } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'native.js'))});
    px.open(${JSON.stringify(container)}, { cacheDir: process.env.CACHE }).then(async (c) => {
      const r = ${verify ? 'await c.verify()' : 'null'};
      console.log(JSON.stringify({ ok: r?.ok, progress: native().payloadProgress(c.payload()) }));
    })`;
  // Killed while it fills the cache, as soon as a band is in (again if it finished first).
  let afterKill = 0;
  let total = 0;
  for (let attempt = 0; attempt < 5; attempt++) {
    dir = cacheDir();
    const child = spawn(process.execPath, ['-e', script(true)], { stdio: 'ignore', env: { ...process.env, CACHE: dir } });
    const exited = new Promise((resolve) => child.on('exit', resolve));
    const deadline = Date.now() + 20000;
    while (presentBands(dir) < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 1));
    child.kill('SIGKILL');
    await exited;
    afterKill = presentBands(dir);
    total = native().payloadProgress((await px.open(container, { cacheDir: dir })).payload()).bands;
    if (afterKill > 0 && afterKill < total) break;
  }
  t.true(afterKill > 0 && afterKill < total, `no kill landed mid-fill (${afterKill} of ${total} bands)`);
  t.log(`killed with ${afterKill} of ${total} bands in the cache`);
  const env = { ...process.env, CACHE: dir };
  // A new process trusts what the entry says is there, decodes the rest, and every byte is right.
  const second = JSON.parse(spawnSync(process.execPath, ['-e', script(true)], { encoding: 'utf8', env }).stdout);
  t.log(JSON.stringify(second));
  t.true(second.ok);
  t.is(second.progress.bandsDone, second.progress.bands);
  t.is(second.progress.bandsDecoded, second.progress.bands - afterKill);
  // A third decodes nothing at all.
  const third = JSON.parse(spawnSync(process.execPath, ['-e', script(true)], { encoding: 'utf8', env }).stdout);
  t.true(third.ok);
  t.is(third.progress.bandsDecoded, 0);
  const c = await px.open(container, { cacheDir: dir });
  for (const [o, n] of oddRanges(20, 3)) t.true(native().payloadRead(c.payload(), o, n).equals(sourceBytes(o, n)));
});

/**
 * A copy of the container with one byte of image data flipped in the middle of the file, and
 * payload ranges (one 4 KiB tile each) inside the band that byte belongs to and outside it.
 */
function damagedCopy() {
  const png = fs.readFileSync(container);
  const chunks = readChunks(png);
  const grid = chunks.find((c) => c.type === 'IHDR').data.readUInt32BE(0);
  const bi = chunks.find((c) => c.type === 'pxBI').data;
  const bands = bi.readUInt32BE(8);
  const offsets = Array.from({ length: bands + 1 }, (_, i) => Number(bi.readBigUInt64BE(12 + 8 * i)));
  // Walk the chunks to the IDAT byte at the middle of the zlib stream.
  const target = Math.floor(offsets[bands] / 2);
  let fileOffset = 8;
  let z = 0;
  let flipAt = -1;
  for (const c of chunks) {
    if (c.type === 'IDAT' && flipAt < 0 && target < z + c.data.length) flipAt = fileOffset + 8 + (target - z);
    if (c.type === 'IDAT') z += c.data.length;
    fileOffset += 12 + c.data.length;
  }
  const damagedBand = offsets.findIndex((o, i) => o <= target && target < offsets[i + 1]);
  const copy = Buffer.from(png);
  copy[flipAt] ^= 0x40;
  const file = path.join(root, `damaged-${process.pid}.rts.png`);
  fs.writeFileSync(file, copy);
  fs.copyFileSync(`${container}.meta.json`, `${file}.meta.json`);
  // Tiles (4 KiB runs of the stream) and the band (tile row) each lies in.
  const tileIn = (wanted) => {
    for (let k = 0; k * 4096 + 4096 <= SIZE; k += 7) {
      const [, y] = d2xy(grid, k * 1024);
      if ((Math.floor(y / 32) === damagedBand) === wanted) return k * 4096;
    }
    throw new Error('no such tile');
  };
  return { file, bad: tileIn(true), good: tileIn(false) };
}

test('a damaged chunk fails exactly its band: the API names the file, the mount answers EIO there and the right bytes elsewhere', async (t) => {
  const { file, bad, good } = damagedCopy();
  const dir = cacheDir();
  const c = await px.open(file, { cacheDir: dir });
  const h = c.payload();
  t.true(native().payloadRead(h, good, 4096).equals(sourceBytes(good, 4096)));
  const err = t.throws(() => native().payloadRead(h, bad, 4096));
  t.is(err.code, 'ERR_PIXELRTS_DECODE');
  t.regex(err.message, /damaged-\d+\.rts\.png.*(CRC|corrupt)/);
  const report = await c.verify().catch((e) => e);
  t.is(report.code, 'ERR_PIXELRTS_DECODE');
  if (fuseMissing() !== null) return;
  const mnt = path.join(tempDir(t), 'm');
  fs.mkdirSync(mnt);
  const savedCacheDir = process.env.PIXELRTS_CACHE_DIR;
  process.env.PIXELRTS_CACHE_DIR = cacheDir();
  t.teardown(() => { process.env.PIXELRTS_CACHE_DIR = savedCacheDir; });
  const m = await px.mount(file, mnt).catch((e) => e);
  if (m instanceof Error) return t.fail(`mount: ${m.message}`);
  t.teardown(() => m.unmount());
  const fd = fs.openSync(path.join(mnt, 'disk'), 'r');
  t.teardown(() => fs.closeSync(fd));
  const b = Buffer.alloc(4096);
  fs.readSync(fd, b, 0, 4096, good);
  t.true(b.equals(sourceBytes(good, 4096)));
  const e = t.throws(() => fs.readSync(fd, b, 0, 4096, bad));
  t.is(e.code, 'EIO');
});

const rootOnly = process.getuid?.() === 0 ? null : 'mounting a small tmpfs needs root';
needs(test, rootOnly)('a full cache disk is an error naming the directory; the bands it kept are right', async (t) => {
  const dir = cacheDir();
  const r = spawnSync('mount', ['-t', 'tmpfs', '-o', 'size=3m', 'tmpfs', dir]);
  if (r.status !== 0) return inCI ? t.fail(`mount tmpfs: ${r.stderr}`) : t.pass(`cannot mount a tmpfs here: ${r.stderr}`);
  t.teardown(() => spawnSync('umount', ['-l', dir]));  // lazily: the test's handles may still hold files there
  const c = await px.open(container, { cacheDir: dir });
  const err = t.throws(() => native().payloadRead(c.payload(), 0, SIZE >> 1));
  t.is(err.code, 'ERR_PIXELRTS_DECODE');
  t.true(err.message.includes(`the decoded cache in ${dir}`), err.message);
  t.regex(err.message, /No space left/);
  const kept = presentBands(dir);
  // A new reader of the same entry serves what it says it has without decoding it again.
  const again = await px.open(container, { cacheDir: dir });
  const h = again.payload();
  t.true(native().payloadRead(h, 0, 1).equals(sourceBytes(0, 1)));
  t.is(native().payloadProgress(h).bandsDone, kept);
});

test('small containers stay in memory; cacheDir: false keeps a large one there too', async (t) => {
  const dir = cacheDir();
  const small = path.join(root, 'small.rts.png');
  await px.writeContainer(small, prng('small', 100000));
  const s = await px.open(small, { cacheDir: dir });
  t.true((await s.verify()).ok);
  const c = await px.open(container, { cacheDir: false });
  t.is(native().payloadRead(c.payload(), SIZE - 10, 10).toString('hex'), sourceBytes(SIZE - 10, 10).toString('hex'));
  t.deepEqual(fs.readdirSync(dir), []);
});

test('pixelrts info shows where the payload is decoded; pixelrts cache lists entries and prunes the stale ones', async (t) => {
  const dir = cacheDir();
  const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
  const env = { ...process.env, PIXELRTS_CACHE_DIR: dir };
  const run = (...args) => spawnSync(process.execPath, [cli, ...args], { encoding: 'utf8', env });
  const copy = path.join(root, `copy-${process.pid}.rts.png`);
  fs.copyFileSync(container, copy);
  fs.copyFileSync(`${container}.meta.json`, `${copy}.meta.json`);
  const info = run('info', copy, '--json');
  t.is(info.status, 0, info.stderr);
  const fp = JSON.parse(info.stdout).footprint;
  t.is(fp.decode, 'decoded-cache');
  t.true(fp.cache.entry.startsWith(dir));
  t.is(fp.cache.payloadSize, SIZE);
  t.true(fp.memoryBytes < 16 << 20);
  t.regex(run('info', copy).stdout, /decode +on demand into the decoded cache, 0 B of 80\.0 MiB decoded so far/);
  t.is(run('verify', copy).status, 0);
  const listed = run('cache', 'list', '--json').stdout.trim().split('\n').map((l) => JSON.parse(l));
  t.is(listed.length, 1);
  t.like(listed[0], { type: 'entry', status: 'current', container: copy, payloadSize: SIZE });
  t.true(listed[0].diskBytes >= SIZE * 0.9, `${listed[0].diskBytes} bytes on disk after verify`);
  // The container changes: its old entry is stale, a new one is made, prune removes the old.
  const later = new Date(Date.now() + 5000);
  fs.utimesSync(copy, later, later);
  t.is(run('verify', copy).status, 0);
  const statuses = run('cache', '--json').stdout.trim().split('\n').map((l) => JSON.parse(l).status).sort();
  t.deepEqual(statuses, ['current', 'stale']);
  const pruned = run('cache', 'prune');
  t.regex(pruned.stdout, /removed 1 stale entry, 80\.\d MiB freed/);
  t.deepEqual(fs.readdirSync(dir).map((f) => f.replace(/^[0-9a-f]+/, 'KEY')).sort(), ['KEY.json', 'KEY.payload', 'KEY.payload.bands', 'KEY.verified']);
  t.regex(run('cache', 'prune', '--all').stdout, /removed 1 entry/);
  t.deepEqual(fs.readdirSync(dir), []);
  t.regex(run('cache').stdout, /is empty/);
  t.is(run('cache', 'bogus').status, 2);
});

test('a sequential reader gets readahead: bands past what it read are decoded by the time it gets there', async (t) => {
  const c = await px.open(container, { cacheDir: cacheDir() });
  const h = c.payload();
  const grid = c.grid;
  const bandsOf = (from, to) => {
    const set = new Set();
    for (let k = Math.floor(from / 4096); k * 4096 < to; k++) set.add(Math.floor(d2xy(grid, k * 1024)[1] / 32));
    return set;
  };
  const read = 4 << 20;
  for (let o = 0; o < read; o += 256 << 10) t.is(h.waitReady(o, 256 << 10), 0);
  const deadline = Date.now() + 10000;
  const wanted = bandsOf(0, read).size;
  while (native().payloadProgress(h).bandsDone <= wanted && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10));
  const done = native().payloadProgress(h).bandsDone;
  t.log(`read ${read >> 20} MiB (${wanted} bands); ${done} bands decoded`);
  t.true(done > wanted);
  t.true(done <= bandsOf(0, read + 8 * 1024 * 1024).size, 'readahead went past its 8 MiB');
  for (const [o, n] of [[read + 12345, 100000], [read + (6 << 20), 4096]]) t.true(native().payloadRead(h, o, n).equals(sourceBytes(o, n)));
});

test('random reads get no readahead', (t) => {
  const dir = cacheDir();
  return px.open(container, { cacheDir: dir }).then((c) => {
    const h = c.payload();
    for (const o of [40 << 20, 3 << 20, 70 << 20, 11 << 20]) t.is(h.waitReady(o, 4096), 0);
    const p = native().payloadProgress(h);
    t.is(p.bandsDecoded, p.bandsDone);
    t.true(p.bandsDone <= 4, `${p.bandsDone} bands decoded for four 4 KiB reads`);
  });
});

/** CRC-32 of a chunk's type and data, as PNG computes it. */
function chunkCrc(png, at, length) {
  return zlib.crc32(png.subarray(at + 4, at + 8 + length));
}

/** Offsets of every chunk: [{ type, at (its length field), length }]. */
function chunkOffsets(png) {
  const out = [];
  for (let at = 8; at < png.length;) {
    const length = png.readUInt32BE(at);
    out.push({ type: png.toString('latin1', at + 4, at + 8), at, length });
    at += 12 + length;
  }
  return out;
}

test('verified reads: bytes changed behind a valid CRC fail their band against the hash tree; a damaged tree is refused', async (t) => {
  // Stored deflate blocks (level 0): a changed byte of image data still inflates, to a changed
  // pixel, which only the hash tree can tell. The IDAT CRC is recomputed, as a tool that
  // rewrote the file (or bitrot before the CRC was written) would leave it.
  const plain = path.join(root, `stored-${process.pid}.rts.png`);
  await px.writeContainer(plain, { path: source }, { level: 0, name: 'disk' });
  const c0 = await px.open(plain, { cacheDir: cacheDir() });
  t.true(c0.verifiedReads);
  t.true((await c0.verify()).ok);
  const png = fs.readFileSync(plain);
  const chunks = chunkOffsets(png);
  const idats = chunks.filter((c) => c.type === 'IDAT');
  const mid = idats[Math.floor(idats.length / 2)];
  const damaged = Buffer.from(png);
  const at = mid.at + 8 + Math.floor(mid.length / 2);
  damaged[at] ^= 0x55;
  damaged.writeUInt32BE(chunkCrc(damaged, mid.at, mid.length), mid.at + 8 + mid.length);
  const file = path.join(root, `tampered-${process.pid}.rts.png`);
  fs.writeFileSync(file, damaged);
  fs.copyFileSync(`${plain}.meta.json`, `${file}.meta.json`);
  const c = await px.open(file, { cacheDir: cacheDir() });
  const h = c.payload();
  let failed = 0;
  let served = 0;
  for (let o = 0; o < SIZE; o += 1 << 20) {
    try {
      t.true(native().payloadRead(h, o, 4096).equals(sourceBytes(o, 4096)), `[${o}, ${o + 4096}) was served wrong`);
      served++;
    } catch (err) {
      t.is(err.code, 'ERR_PIXELRTS_DECODE');
      t.regex(err.message, /tampered-\d+\.rts\.png: payload bytes \[\d+, \d+\) do not match the hash tree/);
      failed++;
    }
  }
  t.log(`${failed} of ${failed + served} reads failed against the hash tree, the rest served right`);
  t.true(failed > 0 && served > failed);

  // A leaf changed (its chunk's CRC made right again): that band fails, naming its hashes.
  const tree = chunks.find((c) => c.type === 'pxHT');
  const leafy = Buffer.from(png);
  leafy[tree.at + 8 + 16 + 40] ^= 1;  // band 0's second leaf
  leafy.writeUInt32BE(chunkCrc(leafy, tree.at, tree.length), tree.at + 8 + tree.length);
  const leafFile = path.join(root, `leaf-${process.pid}.rts.png`);
  fs.writeFileSync(leafFile, leafy);
  fs.copyFileSync(`${plain}.meta.json`, `${leafFile}.meta.json`);
  const cl = await px.open(leafFile, { cacheDir: cacheDir() });
  const err = t.throws(() => native().payloadRead(cl.payload(), 0, 4096));  // tile 0 lies in band 0
  t.regex(err.message, /band 0: its leaves in the hash tree do not match its hash/);

  // The root changed: the tree cannot be trusted at all, and the payload is not served.
  const rooted = Buffer.from(png);
  rooted[tree.at + 8 + tree.length - 1] ^= 1;
  rooted.writeUInt32BE(chunkCrc(rooted, tree.at, tree.length), tree.at + 8 + tree.length);
  const rootFile = path.join(root, `root-${process.pid}.rts.png`);
  fs.writeFileSync(rootFile, rooted);
  fs.copyFileSync(`${plain}.meta.json`, `${rootFile}.meta.json`);
  const cr = await px.open(rootFile, { cacheDir: cacheDir() });
  const rootErr = t.throws(() => cr.payload());
  t.is(rootErr.code, 'ERR_PIXELRTS_HASH_TREE');
  t.regex(rootErr.message, /band hashes do not give its root/);
});

test('files written like the original (one zlib stream, adaptive filters) are decoded front to back into the cache, in bounded memory', async (t) => {
  const size = 64 * 1024 * 1024 + 777;
  const payload = Buffer.alloc(size);
  const block = prng('original-style', 1 << 20);
  for (let at = 0, i = 0; at < size; at += block.length, i++) {
    block.writeUInt32LE(i, 0);
    block.copy(payload, at, 0, Math.min(block.length, size - at));
  }
  const file = path.join(root, `original-${process.pid}.rts.png`);
  fs.writeFileSync(file, encodeLikeOriginal(payload, { metadata: { name: 'orig' } }));
  const dir = cacheDir();
  const c = await px.open(file, { cacheDir: dir });
  t.false(c.verifiedReads);
  const h = c.payload();
  // The last bytes first: the whole stream is inflated to reach them, band by band into the cache.
  t.true(native().payloadRead(h, size - 777, 777).equals(payload.subarray(size - 777)));
  const p = native().payloadProgress(h);
  t.true(p.finished);
  t.is(p.bandsDecoded, p.bands);
  for (let o = 3, step = 1; o < size - 70000; o += 9_999_991 + step, step *= 3) {
    t.true(native().payloadRead(h, o, 65537).equals(payload.subarray(o, o + 65537)), `[${o}, ${o + 65537})`);
  }
  // Another process reads the same entry, decodes nothing, and its peak RSS shows no payload.
  const script = `const px = require(${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))});
    const { native } = require(${JSON.stringify(path.join(repoRoot, 'dist', 'native.js'))});
    px.open(${JSON.stringify(file)}, { cacheDir: ${JSON.stringify(dir)} }).then(async (c) => {
      const before = ${PEAK_KIB};
      const r = await c.verify();
      console.log(JSON.stringify({ ok: r.ok, added: ${PEAK_KIB} - before, progress: native().payloadProgress(c.payload()) }));
    })`;
  const r = spawnSync(process.execPath, ['-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const second = JSON.parse(r.stdout);
  t.true(second.ok);
  t.is(second.progress.bandsDecoded, 0);
  t.true(second.added * 1024 < 24 * 1024 * 1024, `verify added ${second.added} KiB of RSS`);
  // That verify hashed the whole entry against data_hash: the next open trusts it (boot skips
  // its verify), though the file has no hash tree.
  t.true((await px.open(file, { cacheDir: dir })).verifiedReads);
  // Damaged image data: the bands before the damage are served, the rest fail with the CRC named.
  const png = fs.readFileSync(file);
  const idats = chunkOffsets(png).filter((ch) => ch.type === 'IDAT');
  const last = idats[idats.length - 1];
  png[last.at + 8 + Math.floor(last.length / 2)] ^= 1;
  const damaged = path.join(root, `original-damaged-${process.pid}.rts.png`);
  fs.writeFileSync(damaged, png);
  const d = await px.open(damaged, { cacheDir: cacheDir() });
  const err = t.throws(() => native().payloadRead(d.payload(), size - 10, 10));
  t.is(err.code, 'ERR_PIXELRTS_DECODE');
  t.regex(err.message, /original-damaged-\d+\.rts\.png: PNG: .*chunk IDAT at byte \d+ has CRC/);
  t.true(native().payloadRead(d.payload(), 0, 4096).equals(payload.subarray(0, 4096)));
});

test('the IDAT run is laid out from its first and last chunks; a chunk in between that is not what the layout says fails its band', async (t) => {
  const png = fs.readFileSync(container);
  const idats = chunkOffsets(png).filter((c) => c.type === 'IDAT');
  t.true(idats.length > 10);
  const mid = idats[Math.floor(idats.length / 2)];
  const broken = Buffer.from(png);
  broken.write('IDAx', mid.at + 4, 'latin1');  // a header the layout does not expect (the CRC is the chunk's problem)
  const file = path.join(root, `layout-${process.pid}.rts.png`);
  fs.writeFileSync(file, broken);
  fs.copyFileSync(`${container}.meta.json`, `${file}.meta.json`);
  const c = await px.open(file, { cacheDir: cacheDir() });
  const h = c.payload();
  t.true(native().payloadRead(h, 0, 4096).equals(sourceBytes(0, 4096)));
  const err = await c.verify().catch((e) => e);
  t.is(err.code, 'ERR_PIXELRTS_DECODE');
  t.regex(err.message, new RegExp(`the chunk at byte ${mid.at} is not the ${mid.length}-byte IDAT chunk the image data's layout implies`));
});

test('extract writes a large file a few MiB at a time, checked and atomically: bounded memory, and SIGKILL leaves nothing', async (t) => {
  const dir = cacheDir();
  const outDir = fs.mkdtempSync(path.join(root, 'extract-'));
  const out = path.join(outDir, 'disk.img');
  const script = `const px = require(${JSON.stringify(path.join(repoRoot, 'dist', 'index.js'))});
    px.open(${JSON.stringify(container)}, { cacheDir: ${JSON.stringify(dir)} }).then(async (c) => {
      const before = ${PEAK_KIB};
      const r = await c.extractTo(${JSON.stringify(out)}, 'disk');
      console.log(JSON.stringify({ ...r, added: ${PEAK_KIB} - before }));
    })`;
  const r = spawnSync(process.execPath, ['--max-old-space-size=32', '-e', script], { encoding: 'utf8' });
  t.is(r.status, 0, r.stderr);
  const done = JSON.parse(r.stdout);
  t.is(done.size, SIZE);
  t.true(done.added * 1024 < 24 * 1024 * 1024, `extract added ${done.added} KiB of RSS`);
  t.true(fs.readFileSync(out).equals(fs.readFileSync(source)));
  // Killed while it writes: the old file stays whole, and no partial file is anywhere.
  fs.writeFileSync(out, 'old');
  const cli = path.join(repoRoot, 'dist', 'cli', 'main.js');
  let killedMidway = 0;
  const outcomes = [];
  for (const delay of [80, 160, 240, 320, 400, 600, 800]) {
    const child = spawn(process.execPath, [cli, 'extract', container, '-o', out], { stdio: 'ignore', env: { ...process.env, PIXELRTS_CACHE_DIR: cacheDir() } });
    const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve([code, signal])));
    await new Promise((resolve) => setTimeout(resolve, delay));
    child.kill('SIGKILL');
    const [code, signal] = await exited;
    outcomes.push(`${delay} ms: ${signal ?? `exit ${code}`}`);
    t.deepEqual(fs.readdirSync(outDir), ['disk.img'], `delay ${delay}`);
    const now = fs.readFileSync(out);
    if (now.toString() === 'old') {
      if (signal === 'SIGKILL') killedMidway++;
    } else {
      // Replaced (the kill may land after the rename, while the command prints): then whole.
      t.true(code === 0 || signal === 'SIGKILL');
      t.true(now.equals(fs.readFileSync(source)));
      break;
    }
  }
  t.true(killedMidway > 0, `no kill landed while extract was writing (${outcomes.join(', ')})`);
});
