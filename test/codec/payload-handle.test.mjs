// PayloadHandle's zero-copy view() and waitReadyAsync(), and the container's one shared decode
// that verify(), read() and mounts use.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import v8 from 'node:v8';
import vm from 'node:vm';
import { createRequire } from 'node:module';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { native } = require('../../dist/native.js');
const { metadataText } = require('../../dist/codec/metadata.js');

v8.setFlagsFromString('--expose-gc');
const gc = vm.runInNewContext('gc');
const { EIO, EINTR } = os.constants.errno;
const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');

let tmpRoot;
test.before(() => { tmpRoot = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-payload-handle-test-')); });
test.after.always(() => { fs.rmSync(tmpRoot, { recursive: true, force: true }); });
function tmpFile(name, bytes) {
  const p = path.join(fs.mkdtempSync(path.join(tmpRoot, 'c-')), name);
  fs.writeFileSync(p, bytes);
  return p;
}

/** Bytes that do not repeat (so a wrong offset or curve shows). */
function pattern(n, seed) {
  const out = Buffer.alloc(n);
  let x = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    out[i] = x & 0xff;
  }
  return out;
}

/** Lets finalizers of collected objects run. */
async function collect() {
  for (let i = 0; i < 3; i++) {
    gc();
    await new Promise((r) => setImmediate(r));
  }
}

test('view() and waitReadyAsync() check their range and arguments', async (t) => {
  const h = native().payloadFromBuffer(Buffer.from('0123456789'));
  t.is(await h.waitReadyAsync(0, 10), 0);
  t.is(h.view(2, 3).toString(), '234');
  t.is(h.view(10, 0).length, 0);
  for (const [off, len] of [[0, 11], [10, 1], [11, 0], [9, 2]]) {
    t.throws(() => h.view(off, len), { code: 'ERR_PIXELRTS_RANGE', message: new RegExp(`view: range \\[${off}, ${off + len}\\) lies outside the 10-byte payload`) });
    await t.throwsAsync(h.waitReadyAsync(off, len), { code: 'ERR_PIXELRTS_RANGE', message: /waitReadyAsync: range .* outside the 10-byte payload/ });
  }
  for (const args of [[-1, 1], [1.5, 1], [0, NaN], [0, Infinity], ['0', 1], [0]]) {
    t.throws(() => h.view(...args), { code: 'ERR_PIXELRTS_ARGUMENT', message: /view\(offset, length\): expected two non-negative integers/ }, String(args));
    await t.throwsAsync(h.waitReadyAsync(...args), { code: 'ERR_PIXELRTS_ARGUMENT' }, String(args));
  }
  t.throws(() => h.waitReady(0, 11), { code: 'ERR_PIXELRTS_RANGE' });
});

test('a view is the payload\'s own memory and keeps the decode alive after the handle is collected', async (t) => {
  const data = pattern(3 * 1024 * 1024 + 17, 7);
  const file = tmpFile('alive.rts.png', px.encode(data));
  let h = native().startPayload(file, { storedSize: data.length, compression: 'none', payloadSize: data.length });
  t.is(await h.waitReadyAsync(0, data.length), 0);
  const whole = h.view(0, data.length);
  const tail = h.view(data.length - 1000, 1000);
  t.is(whole.length, data.length);
  // The same memory: a change made through one view shows in another (no copies were made).
  const probe = h.view(data.length - 1000, 1);
  probe[0] ^= 0xff;
  t.is(tail[0], data[data.length - 1000] ^ 0xff);
  probe[0] ^= 0xff;
  const before = native().payloadRead(h, 0, 1);
  t.is(before[0], data[0]);
  h = undefined;
  await collect();
  // Churn the allocator so freed memory would be reused and overwritten.
  const junk = [];
  for (let i = 0; i < 16; i++) junk.push(Buffer.alloc(1024 * 1024, 0xa5));
  t.true(whole.equals(data), 'the view still holds the decoded bytes after its handle was collected');
  t.true(tail.equals(data.subarray(data.length - 1000)));
  t.is(junk.length, 16);
});

test('views and waits of a failed decode fail with its error; of a cancelled one, with ERR_PIXELRTS_CANCELLED', async (t) => {
  const data = pattern(64 * 1024, 3);
  const file = tmpFile('notzlib.rts.png', px.encode(data));
  // Claimed compressed, but the stored bytes are no zlib/zstd stream: the decode fails.
  const bad = native().startPayload(file, { storedSize: data.length, compression: 'auto', payloadSize: 2 * data.length });
  t.is(await bad.waitReadyAsync(0, 1), EIO);
  t.not(bad.failure, '');
  t.throws(() => bad.view(0, 1), { code: 'ERR_PIXELRTS_DECODE', message: new RegExp(`view: .*notzlib\\.rts\\.png`) });

  const big = pattern(8 * 1024 * 1024, 11);
  const bigFile = tmpFile('cancel.rts.png', px.encode(big, { level: 9 }));
  const h = native().startPayload(bigFile, { storedSize: big.length, compression: 'none', payloadSize: big.length });
  native().payloadCancel(h);
  t.is(await h.waitReadyAsync(0, big.length), EINTR);
  t.throws(() => h.view(0, big.length), { code: 'ERR_PIXELRTS_CANCELLED' });
});

test('waitReadyAsync does not block the event loop while the decode runs', async (t) => {
  const data = pattern(16 * 1024 * 1024, 5);
  const file = tmpFile('async.rts.png', px.encode(data, { level: 9 }));
  const h = native().startPayload(file, { storedSize: data.length, compression: 'none', payloadSize: data.length });
  let ticks = 0;
  const timer = setInterval(() => { ticks++; }, 0);
  // The whole range: the banded decode runs on two threads, the second decoding the second
  // half of the bands, so the last byte is often ready before the first half is.
  const rc = await h.waitReadyAsync(0, data.length);
  clearInterval(timer);
  t.is(rc, 0);
  const progress = native().payloadProgress(h);
  t.true(progress.bandsDone === progress.bands);
  t.true(ticks > 0, 'timers ran while waiting');
  t.true(h.view(0, data.length).equals(data));
});

/** A pixelrts-written container (band index) whose `initrd` pixels differ from what its metadata records. */
function corruptedContainer() {
  const kernel = pattern(300 * 1024, 21);
  const initrd = pattern(700 * 1024, 22);
  const good = px.encode([{ name: 'kernel', data: kernel }, { name: 'initrd', data: initrd }]);
  const meta = px.readMetadata(good);
  const stream = Buffer.concat([kernel, initrd]);
  stream[kernel.length + 12345] ^= 0x40;  // one bit of the initrd, after it was hashed
  const png = native().encodePng(stream, { texts: [{ keyword: 'PixelRTS', text: metadataText(meta) }], bandIndex: true });
  return { png, kernel, initrd, damaged: stream.subarray(kernel.length), meta };
}

test('verify() finds a corrupted segment through the shared decode; read() and payload() use the same decode', async (t) => {
  const { png, kernel, damaged, meta } = corruptedContainer();
  const file = tmpFile('corrupt.rts.png', png);
  const c = await px.open(file);
  t.true(c.curveKnown, 'a file pixelrts wrote knows its curve at open');
  const handle = c.payload();
  t.is(c.payload(), handle, 'one decode per container');
  const report = await c.verify();
  t.false(report.ok);
  t.false(report.dataHash.ok);
  t.is(report.dataHash.expected, meta.data_hash);
  t.deepEqual(report.files.map((f) => [f.name, f.status]), [['kernel', 'ok'], ['initrd', 'mismatch']]);
  t.is(report.files[1].found, sha256(damaged));
  t.is(c.payload(), handle, 'verify used the decode payload() serves');
  const k = await c.read('kernel');
  t.true(k.equals(kernel));
  await t.throwsAsync(c.read('initrd'), { code: 'ERR_PIXELRTS_HASH', message: new RegExp(`file "initrd" sha256 does not match: .*found ${sha256(damaged)}`) });
  await t.throwsAsync(c.readPayload(), { code: 'ERR_PIXELRTS_HASH', message: /payload \(data_hash\)/ });
  t.is(c.payload(), handle);
});

test('open() reads only the head: damaged pixels are reported when decoded, a damaged text chunk at open', async (t) => {
  const data = pattern(200 * 1024, 9);
  const png = px.encode([{ name: 'kernel', data }]);
  // Flip a byte inside the first IDAT chunk's data: its CRC no longer matches.
  const idat = png.indexOf(Buffer.from('IDAT'));
  const pixels = Buffer.from(png);
  pixels[idat + 100] ^= 1;
  const c = await px.open(tmpFile('idat.rts.png', pixels));
  t.deepEqual(c.files.map((f) => f.name), ['kernel']);
  await t.throwsAsync(c.verify(), { code: 'ERR_PIXELRTS_PNG_CRC', message: /idat\.rts\.png: PNG: chunk IDAT at byte \d+ has CRC/ });

  const text = png.indexOf(Buffer.from('tEXt'));
  const head = Buffer.from(png);
  head[text + 10] ^= 1;
  await t.throwsAsync(px.open(tmpFile('text.rts.png', head)), { code: 'ERR_PIXELRTS_PNG_CRC', message: /text\.rts\.png: PNG: chunk tEXt at byte \d+ has CRC/ });

  await t.throwsAsync(px.open(tmpFile('cut.rts.png', png.subarray(0, text + 20))), { code: 'ERR_PIXELRTS_PNG_TRUNCATED', message: /cut\.rts\.png: / });
  await t.throwsAsync(px.open(tmpFile('notpng.rts.png', Buffer.from('GIF89a.......'))), { code: 'ERR_PIXELRTS_PNG_SIGNATURE' });
  await t.throwsAsync(px.open(path.join(tmpRoot, 'missing.rts.png')), { code: 'ERR_PIXELRTS_NOT_FOUND' });
});

test('a decode cancelled by an unmount is started again for the container\'s next reader', async (t) => {
  const data = pattern(100 * 1024, 4);
  const c = await px.open(tmpFile('again.rts.png', px.encode([{ name: 'kernel', data }])));
  const first = c.payload();
  native().payloadCancel(first);  // what an unmount does to the payload it served
  t.true((await c.read('kernel')).equals(data));
  t.not(c.payload(), first);
  t.true((await c.verify()).ok);
});

test('read() and readPayload() hand out copies: writing into them changes neither later reads nor the shared decode', async (t) => {
  const kernel = pattern(200_000, 7);
  const initrd = pattern(90_000, 8);
  const file = tmpFile('copies.rts.png', px.encode([{ name: 'kernel', data: kernel }, { name: 'initrd', data: initrd }]));
  const c = await px.open(file);
  const first = await c.read('kernel');
  first.fill(0);
  const whole = await c.readPayload();
  whole.fill(0xff);
  t.true((await c.read('kernel')).equals(kernel));
  t.true((await c.readPayload()).equals(Buffer.concat([kernel, initrd])));
  t.true(c.payload().view(0, kernel.length).equals(kernel), 'the decode a mount would serve is untouched');
});
