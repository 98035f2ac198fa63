// Writes the fuzz seed corpus (fuzz/corpus/) with pixelrts' own encoder (needs `npm run build`)
// plus a few PNGs this script writes itself to reach what the encoder never emits: every
// filter type, zTXt and iTXt chunks, several IDAT chunks, and bare zlib/zstd streams.
//   node fuzz/make-corpus.mjs
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { createRequire } from 'node:module';
import { execFileSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
const require = createRequire(import.meta.url);
const { native } = require('../dist/native.js');
const addon = native();
const dir = path.join(here, 'corpus');
fs.mkdirSync(dir, { recursive: true });

// Deterministic bytes: some text-like, some random-like.
function bytes(n, seed) {
  const out = Buffer.alloc(n);
  let h = crypto.createHash('sha256').update(seed).digest();
  for (let i = 0; i < n; i += 32) {
    h.copy(out, i, 0, Math.min(32, n - i));
    h = crypto.createHash('sha256').update(h).digest();
  }
  if (seed.startsWith('text')) for (let i = 0; i < n; i++) out[i] = 97 + (out[i] % 8);
  return out;
}

const meta = (n) => [{ keyword: 'PixelRTS', text: `PixelRTS{"format":"PixelRTS-2.0","data_size":${n}}` }];
for (const n of [0, 1, 13, 100, 1024, 5000, 20000]) {
  for (const bandIndex of [true, false]) {
    for (const level of [0, 6]) {
      const png = addon.encodePng(bytes(n, `text${n}`), { level, bandIndex, texts: meta(n) });
      fs.writeFileSync(path.join(dir, `enc-${n}-${bandIndex ? 'bi' : 'plain'}-l${level}.png`), png);
    }
  }
}
// A 128x128 image (4 bands with the band index) so the two-thread path runs.
fs.writeFileSync(path.join(dir, 'enc-128x128-bi.png'),
  addon.encodePng(bytes(60000, 'rand'), { level: 1, grid: 128, texts: [{ keyword: 'Comment', text: 'größe ✓' }] }));

// Hand-written PNG: row y uses filter y % 5, zTXt + iTXt (compressed) text, IDAT in 3 chunks.
function crc32(buf) {
  let c = ~0;
  for (const b of buf) {
    c ^= b;
    for (let k = 0; k < 8; k++) c = (c >>> 1) ^ (0xEDB88320 & -(c & 1));
  }
  return ~c >>> 0;
}
function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const tail = Buffer.alloc(4);
  tail.writeUInt32BE(crc32(Buffer.concat([head.subarray(4), data])), 0);
  return Buffer.concat([head, data, tail]);
}
function filtered(g, pixels) {
  const stride = g * 4;
  const raw = Buffer.alloc((stride + 1) * g);
  for (let y = 0; y < g; y++) {
    const f = y % 5;
    raw[y * (stride + 1)] = f;
    for (let i = 0; i < stride; i++) {
      const x = pixels[y * stride + i];
      const a = i >= 4 ? pixels[y * stride + i - 4] : 0;
      const b = y > 0 ? pixels[(y - 1) * stride + i] : 0;
      const c = i >= 4 && y > 0 ? pixels[(y - 1) * stride + i - 4] : 0;
      const p = a + b - c;
      const pa = Math.abs(p - a), pb = Math.abs(p - b), pc = Math.abs(p - c);
      const paeth = pa <= pb && pa <= pc ? a : pb <= pc ? b : c;
      const pred = [0, a, b, (a + b) >> 1, paeth][f];
      raw[y * (stride + 1) + 1 + i] = (x - pred) & 0xff;
    }
  }
  return raw;
}
const g = 32;
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(g, 0); ihdr.writeUInt32BE(g, 4); ihdr[8] = 8; ihdr[9] = 6;
const z = zlib.deflateSync(filtered(g, bytes(g * g * 4, 'text-filtered')), { level: 9 });
const third = Math.ceil(z.length / 3);
fs.writeFileSync(path.join(dir, 'filters-ztxt-itxt.png'), Buffer.concat([
  Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]),
  chunk('IHDR', ihdr),
  chunk('zTXt', Buffer.concat([Buffer.from('PixelRTS\0\0'), zlib.deflateSync('PixelRTS{"data_size":4096}')])),
  chunk('iTXt', Buffer.concat([Buffer.from('Title\0\x01\0en\0Titel\0'), zlib.deflateSync('ünïcode')])),
  chunk('IDAT', z.subarray(0, third)), chunk('IDAT', z.subarray(third, 2 * third)), chunk('IDAT', z.subarray(2 * third)),
  chunk('IEND', Buffer.alloc(0)),
]));
fs.writeFileSync(path.join(dir, 'stream.zlib'), zlib.deflateSync(bytes(3000, 'text-z')));
try {
  fs.writeFileSync(path.join(dir, 'stream.zst'), execFileSync('zstd', ['-c', '-q'], { input: bytes(3000, 'text-zst') }));
} catch {
  console.warn('zstd not found: stream.zst not written');
}
console.log(`wrote ${fs.readdirSync(dir).length} seeds to ${dir}`);
