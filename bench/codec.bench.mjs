// `npm run bench -- codec`: payload MB/s of the native codec on 16 MiB payloads, against
// baselines measured in the same run: memcpy of the same size (Buffer.copy) and a pure-JavaScript
// decoder (node:zlib inflate, JS unfilter, JS per-pixel d2xy gather; test/helpers/), and
// libdeflate's inflate alone on the same IDAT data (a C program, bench/native/), which bounds
// any decode that inflates with libdeflate.
//
// Payloads: "executable" (the programs in /usr/bin concatenated: compressible like a kernel or
// initrd) and "random" (incompressible). Files: "original" written the way the original Python
// writes them (Pillow: adaptive filters, zlib level 6) and "project" written by encodePng
// (filter None, libdeflate level 6, band index). Figures are medians; the load average is
// printed because other work on the machine skews them.
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { decodePng, readChunks } from '../test/helpers/png-js.mjs';
import { encodeLikeOriginal, gatherJs } from '../test/helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const { native } = require('../dist/native.js');
const addon = native();

const SIZE = 16 * 1024 * 1024;
const MB = 1e6;

/** Programs from /usr/bin, concatenated up to `size` bytes (repeated if there are too few). */
function executables(size) {
  const out = Buffer.alloc(size);
  let have = 0;
  const names = fs.readdirSync('/usr/bin').sort();
  while (have < size) {
    const before = have;
    for (const name of names) {
      if (have >= size) break;
      const file = path.join('/usr/bin', name);
      let st;
      try { st = fs.statSync(file); } catch { continue; }
      if (!st.isFile() || st.size < 4096) continue;
      const data = fs.readFileSync(file);
      if (data.readUInt32BE(0) !== 0x7f454c46) continue; // ELF only
      have += data.copy(out, have, 0, Math.min(data.length, size - have));
    }
    if (have === before) throw new Error('bench: no ELF programs in /usr/bin');
  }
  return out;
}

/** The zlib stream of a PNG: its IDAT chunks' data, joined. */
const idatOf = (png) => Buffer.concat(readChunks(png).filter((c) => c.type === 'IDAT').map((c) => c.data));

/**
 * libdeflate's inflate alone, timed by a small C program (bench/native/inflate-alone.c) into a
 * warm buffer: the ceiling of any decode built on it. Returns null (with the reason printed)
 * when there is no C compiler.
 */
function inflateAloneTimer(dir) {
  const exe = path.join(dir, 'inflate-alone');
  try {
    execFileSync('cc', ['-O2', '-o', exe, fileURLToPath(new URL('native/inflate-alone.c', import.meta.url)), '-ldeflate'], { stdio: 'pipe' });
  } catch (err) {
    console.log(`  (inflate alone not measured: cannot build bench/native/inflate-alone.c: ${String(err.stderr || err.message).trim().split('\n')[0]})`);
    return null;
  }
  return (zlib, size, runs) => {
    const [wall, cpu] = execFileSync(exe, [String(size), String(runs)], { input: zlib }).toString().trim().split(' ').map(Number);
    return { wall, cpu };
  };
}

/**
 * One call of fn: its wall time and the CPU time of the process (all threads), in seconds.
 * `collect`: run the garbage collector first, so an allocating fn does not pay for earlier ones.
 */
async function sample(fn, collect = true) {
  if (collect) globalThis.gc?.();
  const c0 = process.cpuUsage();
  const t0 = process.hrtime.bigint();
  await fn();
  const wall = Number(process.hrtime.bigint() - t0) / 1e9;
  const c = process.cpuUsage(c0);
  return { wall, cpu: (c.user + c.system) / 1e6 };
}

/** The median wall time and the median CPU time of samples. */
function medians(samples) {
  const median = (xs) => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)];
  return { wall: median(samples.map((s) => s.wall)), cpu: median(samples.map((s) => s.cpu)) };
}

/**
 * Runs fn `runs` times (after one warm-up call) and returns the median wall time and the median
 * CPU time of the process (all threads), in seconds. On a shared machine the wall time counts
 * waiting for a core; the CPU time of a single-threaded run does not.
 */
async function time(fn, runs) {
  await fn();
  const samples = [];
  for (let i = 0; i < runs; i++) samples.push(await sample(fn));
  return medians(samples);
}

/**
 * time() for a and b called in alternation, one call each in turn: a burst of other work on a
 * shared machine then slows both rather than whichever happened to be timed during it. Neither
 * may allocate: the garbage is collected once, before, and not between the calls, because V8
 * finishes a collection (freeing earlier runs' buffers) on background threads that would run
 * during the timed calls, competing with them for the memory bus (CPU time 1.7× wall time).
 */
async function timeAlternating(a, b, runs) {
  globalThis.gc?.();
  await new Promise((resolve) => setTimeout(resolve, 200));
  await a();
  await b();
  const samplesA = [];
  const samplesB = [];
  for (let i = 0; i < runs; i++) {
    samplesA.push(await sample(a, false));
    samplesB.push(await sample(b, false));
  }
  return [medians(samplesA), medians(samplesB)];
}

/** MB/s by wall clock and by CPU time. */
const rate = (bytes, t) => ({ wall: bytes / t.wall / MB, cpu: bytes / Math.max(t.cpu, 1e-6) / MB });
const fmt = (mbps) => `${mbps.toFixed(0).padStart(6)} MB/s`;

function line(label, r, baseline, baselineName) {
  const ratio = baseline ? `  ${(r.wall / baseline.wall).toFixed(2)}× ${baselineName} (cpu ${(r.cpu / baseline.cpu).toFixed(2)}×)` : '';
  console.log(`  ${label.padEnd(56)} ${fmt(r.wall)} wall ${fmt(r.cpu)} cpu${ratio}`);
}

/**
 * How many cores this process gets right now: the same busy loop on one worker thread, then on
 * two at once; 2.0× means two threads really run in parallel. (On a shared or quota-limited VM
 * it can be near 1.0×, and then no two-thread figure below can show scaling.)
 */
async function parallelCapacity() {
  const spin = 'let x = 0; for (let i = 0; i < 3e8; i++) x += i; require("node:worker_threads").parentPort.postMessage(x);';
  const run = (n) => new Promise((resolve) => {
    const t0 = process.hrtime.bigint();
    let left = n;
    for (let i = 0; i < n; i++) {
      const w = new Worker(spin, { eval: true });
      w.once('message', () => { w.terminate(); if (--left === 0) resolve(Number(process.hrtime.bigint() - t0) / 1e9); });
    }
  });
  const one = await run(1);
  const two = await run(2);
  return (2 * one) / two;
}

async function main() {
  console.log(`codec bench: ${SIZE} byte payloads; ${os.cpus().length} CPUs (${os.cpus()[0]?.model}); load average ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
  console.log(`parallel capacity now: ${(await parallelCapacity()).toFixed(2)}× (two busy threads vs one; 2.00× = two free cores)`);
  const src = Buffer.alloc(SIZE, 1);
  const dst = Buffer.alloc(SIZE);
  const memcpy = rate(SIZE, await time(() => src.copy(dst), 30));
  const memcpyAlloc = rate(SIZE, await time(() => Buffer.from(src), 15));
  console.log('baselines');
  line('memcpy (Buffer.copy into an existing buffer)', memcpy);
  line('memcpy into a new buffer (Buffer.from)', memcpyAlloc, memcpy, 'memcpy');
  const workDir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-bench-'));
  try {
    await payloadRuns({ src, dst, memcpy, memcpyAlloc }, inflateAloneTimer(workDir));
  } finally {
    fs.rmSync(workDir, { recursive: true, force: true });
  }
  console.log(`\nload average at the end ${os.loadavg().map((l) => l.toFixed(2)).join(' ')}`);
}

/** The decode, gather and encode figures of both payloads, against the memcpy baselines. */
async function payloadRuns({ src, dst, memcpy, memcpyAlloc }, inflateAlone) {
  const payloads = [['executable', executables(SIZE)], ['random', crypto.randomBytes(SIZE)]];
  for (const [name, payload] of payloads) {
    console.log(`\n${name} payload`);
    const texts = [{ keyword: 'PixelRTS', text: `PixelRTS{"format":"PixelRTS-2.0","data_size":${SIZE}}` }];
    const original = encodeLikeOriginal(payload);
    const project = addon.encodePng(payload, { texts });
    const g = addon.readPngInfo(project).width;
    console.log(`  grid ${g}; original-style file ${(original.length / MB).toFixed(1)} MB, project file ${(project.length / MB).toFixed(1)} MB`);

    // Decodes write into one preallocated Buffer, as the memcpy baseline does, so the figures
    // measure the codec rather than the page faults of fresh memory; one row shows the cost of a
    // new Buffer per call.
    const into = Buffer.alloc(SIZE);
    const decode = (png, opts) => () => addon.gatherStream(png, { length: SIZE, into, ...opts });
    const orig1 = rate(SIZE, await time(decode(original, { threads: 1 }), 7));
    const orig1New = rate(SIZE, await time(() => addon.gatherStream(original, { length: SIZE, threads: 1 }), 7));
    const proj1 = rate(SIZE, await time(decode(project, { threads: 1, requireBandIndex: true }), 7));
    const proj2 = rate(SIZE, await time(decode(project, { threads: 2, requireBandIndex: true }), 7));
    const js = rate(SIZE, await time(() => {
      const { pixels } = decodePng(original);
      return gatherJs(pixels, g, 0, SIZE);
    }, 1));
    line('decode, pure JavaScript (original-style file)', js);
    line('decode, native, 1 thread (original-style file)', orig1, js, 'JS');
    line('  … into a new Buffer each call', orig1New, js, 'JS');
    line('decode, native, 1 thread (project file)', proj1, js, 'JS');
    line('decode, native, 2 threads (project file)', proj2, js, 'JS');
    line('  … 2 threads vs memcpy', proj2, memcpy, 'memcpy');
    if (inflateAlone) {
      // What the inflate alone costs bounds every decode above: payload bytes over the time
      // libdeflate takes to inflate the IDAT data, one thread, no unfilter or gather.
      const rawSize = (4 * g + 1) * g;
      const aloneOrig = rate(SIZE, inflateAlone(idatOf(original), rawSize, 7));
      const aloneProj = rate(SIZE, inflateAlone(idatOf(project), rawSize, 7));
      line('inflate alone, libdeflate, 1 thread (original-style file)', aloneOrig);
      line('  decode, 1 thread (original-style file) vs inflate alone', orig1, aloneOrig, 'inflate');
      line('inflate alone, libdeflate, 1 thread (project file)', aloneProj);
      line('  decode, 2 threads (project file) vs inflate alone', proj2, aloneProj, 'inflate');
    }

    const { pixels } = decodePng(project);
    // memcpy again, timed in alternation with the gather: on a shared machine the figure drifts
    // within a run (and within the few milliseconds of fifteen calls), and the gather's ratio
    // should compare like with like.
    const [memcpyNow, gather] = (await timeAlternating(() => src.copy(dst),
      () => addon.gatherPixels(pixels, { grid: g, length: SIZE, into }), 21)).map((t) => rate(SIZE, t));
    const gatherNew = rate(SIZE, await time(() => addon.gatherPixels(pixels, { grid: g, length: SIZE }), 15));
    line('memcpy, timed in alternation with the gather', memcpyNow);
    line('gather alone (gatherPixels into an existing buffer)', gather, memcpyNow, 'memcpy');
    line('gather alone into a new buffer', gatherNew, memcpyAlloc, 'memcpy+alloc');

    for (const [label, opts] of [['encode, level 6, band index, 2 threads', {}],
      ['encode, level 6, band index, 1 thread', { threads: 1 }],
      ['encode, level 6, no band index', { bandIndex: false }],
      ['encode, level 1, band index, 2 threads', { level: 1 }]]) {
      line(label, rate(SIZE, await time(() => addon.encodePng(payload, { texts, ...opts }), 3)));
    }
    // What each level costs and gains (one thread, CPU time, the default level marked), so the
    // choice of default can be checked against the numbers.
    for (let level = 1; level <= 9; level++) {
      let size = 0;
      const r = rate(SIZE, await time(() => { size = addon.encodePng(payload, { texts, level, threads: 1 }).length; }, 1));
      console.log(`  encode level ${level}${level === 6 ? ' (default)' : '          '}, 1 thread: ${fmt(r.cpu)} cpu, file ${(size / SIZE).toFixed(3)}× payload`);
    }
  }
}

await main();
