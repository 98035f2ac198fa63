// decode / decodeAsync / encode against the golden vectors, the independent JS decoder
// (test/helpers/reference-codec.mjs) and PNGs written by the independent JS writer.
import test from 'ava';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { spawnSync } from 'node:child_process';
import { commandMissing, needs, vectorsDir, vectorsMissing } from '../helpers/prereq.mjs';
import { decodePng, encodePng } from '../helpers/png-js.mjs';
import { d2xy, decodePixelRTS, encodeLikeOriginal, gatherJs, prng, scatterJs } from '../helpers/reference-codec.mjs';

const require = createRequire(import.meta.url);
const px = require('../../dist/index.js');
const { native } = require('../../dist/native.js');
const vtest = needs(test, vectorsMissing());

const sha256 = (b) => crypto.createHash('sha256').update(b).digest('hex');
const vector = (name) => fs.readFileSync(path.join(vectorsDir, name));

const VECTORS = [
  ['a_tiny', []],
  ['b_empty_codemode', []],
  ['c_exact_16x16', []],
  ['e_multiseg', []],
  ['f_compressed', []],
  ['g_codemode_wasm', []],
  ['negative/n1_comp_level_none', ['WARN_PIXELRTS_STORED_RAW']],
  ['negative/n2_code_plus_compression', ['WARN_PIXELRTS_CODE_COMPRESSED']],
];

for (const [name, expectedWarnings] of VECTORS) {
  vtest(`vector ${name} decodes byte-exact (sync and async) with the expected warnings`, async (t) => {
    const png = vector(`${name}.rts.png`);
    const expected = vector(`${name}.bin`);
    const manifestHash = fs.readFileSync(path.join(vectorsDir, 'MANIFEST.md'), 'utf8')
      .split('\n').find((l) => l.startsWith(`| \`${name}\``)).split('|')[3].trim().replace(/`/g, '');
    t.is(sha256(expected), manifestHash);
    const warnings = [];
    const sync = px.decode(png, { onWarning: (w) => warnings.push(w) });
    t.true(sync.equals(expected));
    t.deepEqual(warnings.map((w) => w.code), expectedWarnings);
    const asyncWarnings = [];
    const viaAsync = await px.decodeAsync(png, { onWarning: (w) => asyncWarnings.push(w.code) });
    t.true(viaAsync.equals(expected));
    t.deepEqual(asyncWarnings, expectedWarnings);
  });
}

vtest('the Infinite Map vector has no payload length: decode returns the whole stream with a warning', (t) => {
  const png = vector('e2_infinite_map_vat.rts.png');
  const warnings = [];
  const all = px.decode(png, { onWarning: (w) => warnings.push(w.code) });
  t.is(all.length, 256 * 256 * 4);
  t.deepEqual(warnings, ['WARN_PIXELRTS_NO_METADATA']);
  t.is(all.toString('latin1', 0, 7), 'INFIN2\0');
});

test('the reference decoder\'s curve matches the spec\'s check values', (t) => {
  t.deepEqual([0, 1, 2, 3].map((d) => d2xy(2, d)), [[0, 0], [0, 1], [1, 1], [1, 0]]);
  t.deepEqual([...Array(16).keys()].map((d) => d2xy(4, d)), [[0, 0], [1, 0], [1, 1], [0, 1], [0, 2], [0, 3], [1, 3], [1, 2],
    [2, 2], [2, 3], [3, 3], [3, 2], [3, 1], [2, 1], [2, 0], [3, 0]]);
  t.deepEqual([...Array(8).keys()].map((d) => d2xy(8, d)), [[0, 0], [0, 1], [1, 1], [1, 0], [2, 0], [3, 0], [3, 1], [2, 1]]);
});

// Sizes from the issue: tiny ones, every grid boundary G²·4 (and one either side), 16 MiB + 1.
const BOUNDARIES = [4, 8, 16, 32, 64, 128, 256, 512, 1024, 2048].map((g) => g * g * 4);
const SIZES = [...new Set([0, 1, 3, 4, 5, 63, 64, 65, ...BOUNDARIES.flatMap((b) => [b - 1, b, b + 1]), 16 * 1024 * 1024 + 1])]
  .sort((a, b) => a - b);
const REFERENCE_LIMIT = 70_000; // the per-pixel JS decoder is slow; check it on the small sizes

test('round trips at every boundary size; small files also decode with the independent decoder', (t) => {
  for (const size of SIZES) {
    const payload = prng(`rt-${size}`, size);
    const png = px.encode(payload, { name: `rt${size}` });
    const meta = px.readMetadata(png);
    t.is(meta.grid_size, px.gridForLength(size), `grid for ${size}`);
    t.is(decodePng(png).width, meta.grid_size);
    t.true(px.decode(png).equals(payload), `native round trip at ${size}`);
    if (size <= REFERENCE_LIMIT) {
      const ref = decodePixelRTS(png);
      t.true(ref.payload.equals(payload), `reference decoder at ${size}`);
      t.deepEqual(ref.warnings, []);
    }
  }
});

test('decodeAsync round trip at 16 MiB + 1, compressed and not', async (t) => {
  const size = 16 * 1024 * 1024 + 1;
  const payload = prng('big', size);
  t.true((await px.decodeAsync(await px.encodeAsync(payload))).equals(payload));
  const text = Buffer.alloc(size, 'pixelrts compressible text line\n');
  const png = await px.encodeAsync(text, { compress: true, level: 1 });
  const meta = px.readMetadata(png);
  t.is(meta.compression.original_size, size);
  t.true(meta.encoded_size < size / 10);
  t.true((await px.decodeAsync(png)).equals(text));
});

test('files pixelrts writes carry the original\'s metadata and decode with the independent decoder', (t) => {
  const payload = Buffer.from('Hello, World!');
  const png = px.encode(payload, { type: 'text', name: 'a_tiny' });
  const text = decodePng(png).texts.find((x) => x.keyword === 'PixelRTS').text;
  if (vectorsMissing() === null) {
    const original = decodePng(vector('a_tiny.rts.png')).texts.find((x) => x.keyword === 'PixelRTS').text;
    t.is(text, original);
  }
  t.true(decodePixelRTS(png).payload.equals(payload));

  const kernel = prng('k', 4099);
  const initrd = prng('i', 2501);
  const bundle = px.encode([{ name: 'kernel', data: kernel }, { name: 'initrd', data: initrd }],
    { type: 'boot-bundle', name: 'b', cmdline: 'console=ttyS0' });
  const ref = decodePixelRTS(bundle);
  t.true(ref.payload.equals(Buffer.concat([kernel, initrd])));
  const m = ref.metadata;
  t.deepEqual(Object.keys(m), ['format', 'format_version', 'grid_size', 'encoding', 'offsets', 'hashes', 'encoding_mode',
    'type', 'name', 'cmdline', 'segments', 'data_hash', 'data_size']);
  t.deepEqual(m.segments.initrd, { type: 'initrd', start: 4099, end: 6600, offset: 4099, size: 2501, sha256: sha256(initrd) });
  t.deepEqual(m.offsets, m.segments);
  t.deepEqual(m.hashes, { kernel: sha256(kernel), initrd: sha256(initrd) });

  const compressible = Buffer.alloc(50_000, 'abcabcabd');
  const zpng = px.encode(compressible, { compress: true });
  const zref = decodePixelRTS(zpng);
  t.true(zref.payload.equals(compressible));
  t.is(zlib.inflateSync(gatherJs(decodePng(zpng).pixels, zref.metadata.grid_size, 0, zref.metadata.encoded_size)).length, 50_000);
  t.deepEqual(Object.keys(zref.metadata.compression), ['type', 'level', 'original_size', 'compressed_size', 'ratio']);

  // Incompressible data is stored plainly even when compression is asked for.
  t.is(px.readMetadata(px.encode(prng('r', 5000), { compress: true })).compression, undefined);
});

test('the independent PNG decoder and the native gather agree on files using every filter type', (t) => {
  for (const g of [4, 16, 64, 128]) {
    const pixels = Buffer.alloc(g * g * 4);
    // Smooth gradients with noise: every filter has something to predict.
    for (let i = 0; i < pixels.length; i++) pixels[i] = ((i >> 2) * 7 + (i & 3) * 50 + ((i * 2654435761) >>> 28)) & 0xff;
    for (const filter of [0, 1, 2, 3, 4, 'cycle', 'adaptive']) {
      const png = encodePng(pixels, g, g, { filter, idatSize: 1000 });
      const decoded = decodePng(png);
      t.true(decoded.pixels.equals(pixels), `png-js round trip g=${g} filter=${filter}`);
      if (filter === 'cycle') t.deepEqual(new Set(decoded.filters), new Set(g >= 5 ? [0, 1, 2, 3, 4] : [0, 1, 2, 3]));
      const nativeStream = native().gatherStream(png, { offset: 0, length: g * g * 4 });
      t.true(nativeStream.equals(gatherJs(pixels, g)), `native gather g=${g} filter=${filter}`);
      const mid = Math.floor(g * g * 1.5);
      t.true(native().gatherStream(png, { offset: mid, length: 37 }).equals(gatherJs(pixels, g, mid, 37)), `random access g=${g} filter=${filter}`);
    }
  }
  // And the pixels of a file pixelrts writes are what the curve says.
  const payload = prng('pix', 3000);
  const ours = decodePng(px.encode(payload));
  t.true(ours.pixels.equals(scatterJs(payload, ours.width)));
});

test('files written like the original (adaptive filters, zlib 6) decode, compressed or not', (t) => {
  const payload = Buffer.from(Array.from({ length: 3000 }, (_, i) => `line ${i}\n`).join(''));
  for (const compress of [false, true]) {
    const png = encodeLikeOriginal(payload, { compress, metadata: { name: 'x' } });
    t.true(px.decode(png).equals(payload));
  }
});

test('a legacy transposed file recovers with a warning', async (t) => {
  const payload = prng('legacy', 10_000);
  const png = encodeLikeOriginal(payload, { transposed: true });
  t.false(gatherJs(decodePng(png).pixels, 64, 0, 10_000).equals(payload), 'the standard curve reads garbage');
  const warnings = [];
  t.true(px.decode(png, { onWarning: (w) => warnings.push(w) }).equals(payload));
  t.deepEqual(warnings.map((w) => w.code), ['WARN_PIXELRTS_TRANSPOSED']);
  t.regex(warnings[0].message, /legacy transposed Hilbert curve/);
  t.true((await px.decodeAsync(png)).equals(payload));
  t.true(decodePixelRTS(png).transposed);
});

test('a payload that matches data_hash on neither curve fails with ERR_PIXELRTS_HASH naming both hashes', async (t) => {
  const payload = prng('bad', 1000);
  const wrong = sha256(Buffer.from('something else'));
  const png = encodeLikeOriginal(payload, { edit: (m) => ({ ...m, data_hash: wrong }) });
  const err = t.throws(() => px.decode(png, { source: 'damaged.rts.png' }));
  t.is(err.code, 'ERR_PIXELRTS_HASH');
  t.regex(err.message, new RegExp(`^damaged\\.rts\\.png: .*expected ${wrong}, found ${sha256(payload)}.*transposed`));
  await t.throwsAsync(px.decodeAsync(png), { code: 'ERR_PIXELRTS_HASH' });
});

test('metadata in zTXt or iTXt is found; PixelRTS-Blueprint and non-JSON text is skipped', (t) => {
  const payload = prng('txt', 100);
  for (const chunk of ['zTXt', 'iTXt']) {
    t.true(px.decode(encodeLikeOriginal(payload, { chunk })).equals(payload), chunk);
  }
  const png = encodeLikeOriginal(payload, { texts: [
    { keyword: 'PixelRTS', text: 'PixelRTS-Blueprint{"data_size":1}' },
    { keyword: 'PixelRTS', text: 'PixelRTS{broken' },
  ] });
  t.true(px.decode(png).equals(payload));
});

test('no metadata: all G²·4 bytes with a warning', (t) => {
  const payload = prng('nometa', 50);
  const png = encodeLikeOriginal(payload, { edit: () => null });
  const warnings = [];
  const out = px.decode(png, { onWarning: (w) => warnings.push(w.code) });
  t.is(out.length, 4 * 4 * 4);
  t.true(out.subarray(0, 50).equals(payload));
  t.true(out.subarray(50).equals(Buffer.alloc(14)));
  t.deepEqual(warnings, ['WARN_PIXELRTS_NO_METADATA']);
});

test('bad input gets a clear error with a code, never a crash', (t) => {
  const good = encodeLikeOriginal(prng('g', 100));
  const cases = [
    [Buffer.from('not a png at all'), /ERR_PIXELRTS_/],
    [good.subarray(0, good.length - 20), /ERR_PIXELRTS_/],
    [encodePng(Buffer.alloc(4 * 8 * 4), 4, 8), /ERR_PIXELRTS_(GRID|PNG_IHDR)/],
    [encodePng(Buffer.alloc(6 * 6 * 4), 6, 6), /ERR_PIXELRTS_(GRID|PNG_IHDR)/],
    [encodeLikeOriginal(prng('g', 100), { edit: (m) => ({ ...m, data_size: 1e6 }) }), /ERR_PIXELRTS_METADATA/],
    [encodeLikeOriginal(prng('g', 100), { edit: (m) => ({ ...m, data_size: 'x' }) }), /ERR_PIXELRTS_METADATA/],
    [encodeLikeOriginal(prng('g', 100), { edit: (m) => ({ ...m, data_size: undefined, compression: { type: 'zlib' } }) }), /ERR_PIXELRTS_METADATA/],
    // A zlib bomb: claims 1000 bytes, inflates to far more.
    [(() => {
      const bomb = zlib.deflateSync(Buffer.alloc(1 << 20));
      return encodePng(scatterJs(bomb, 64), 64, 64, { texts: [{ keyword: 'PixelRTS', text: `PixelRTS${JSON.stringify({
        data_size: 1000, encoded_size: bomb.length, compression: { type: 'zlib', original_size: 1000, compressed_size: bomb.length } })}` }] });
    })(), /ERR_PIXELRTS_DECOMPRESS/],
    // Decompresses fine but to fewer bytes than original_size says.
    [(() => {
      const short = zlib.deflateSync(Buffer.alloc(500, 7));
      return encodePng(scatterJs(short, 16), 16, 16, { texts: [{ keyword: 'PixelRTS', text: `PixelRTS${JSON.stringify({
        data_size: 1000, encoded_size: short.length, compression: { type: 'zlib', original_size: 1000, compressed_size: short.length } })}` }] });
    })(), /ERR_PIXELRTS_DECOMPRESS/],
  ];
  for (const [png, re] of cases) {
    const err = t.throws(() => px.decode(png, { source: 'in.png' }));
    t.regex(err.code, re);
    t.true(err.message.startsWith('in.png: '), err.message);
  }
  t.throws(() => px.decode('x'), { code: 'ERR_PIXELRTS_ARGUMENT' });
  t.throws(() => px.encode(Buffer.alloc(10), { level: 13 }), { code: 'ERR_PIXELRTS_ARGUMENT', message: /level/ });
  t.throws(() => px.encode(Buffer.alloc(100), { grid: 4 }), { code: 'ERR_PIXELRTS_ARGUMENT', message: /grid.*≥ 8/ });
  t.throws(() => px.encode([{ name: 'a', data: Buffer.alloc(1) }, { name: 'a', data: Buffer.alloc(1) }]), { message: /used twice/ });
  t.throws(() => px.encode(Buffer.alloc(1), { metadata: { data_size: 5 } }), { code: 'ERR_PIXELRTS_METADATA', message: /reserved/ });
});

needs(test, commandMissing('zstd', 'zstd'))('a zstd stream is recognised by its magic whatever the label says', (t) => {
  const payload = Buffer.from('zstd compressed payload line\n'.repeat(2000));
  const z = spawnSync('zstd', ['-q', '-c', '-3'], { input: payload });
  t.is(z.status, 0);
  t.is(z.stdout.readUInt32LE(0), 0xfd2fb528);
  const meta = { format: 'PixelRTS-2.0', grid_size: 16, data_hash: sha256(payload), data_size: payload.length,
    compression: { type: 'zstd-h5', level: 3, original_size: payload.length, compressed_size: z.stdout.length },
    encoded_size: z.stdout.length };
  const png = encodePng(scatterJs(z.stdout, 16), 16, 16, { texts: [{ keyword: 'PixelRTS', text: `PixelRTS${JSON.stringify(meta)}` }] });
  t.true(px.decode(png).equals(payload));
});
