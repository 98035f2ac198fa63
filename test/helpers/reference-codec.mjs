// A pure-JavaScript PixelRTS v2 reader and writer written straight from the spec
// (../shared/spec/pixelrts-v2.md), sharing no code with lib/ or native/: per-pixel d2xy, the
// PNG reader/writer of png-js.mjs, node:zlib. Tests use it to check that files pixelrts writes
// decode with an independent decoder, and to write files the way the original Python writes
// them (adaptive filters, zlib level 6); the codec benchmark uses it as the pure-JS baseline.
import crypto from 'node:crypto';
import fs from 'node:fs';
import zlib from 'node:zlib';
import { decodePng, encodePng } from './png-js.mjs';

/** Spec §2: the Hilbert index d → (x, y) on an n×n grid (n a power of two). */
export function d2xy(n, d) {
  let x = 0;
  let y = 0;
  let t = d;
  for (let s = 1; s < n; s *= 2) {
    const rx = 1 & (t >> 1);
    const ry = 1 & (t ^ rx);
    if (ry === 0) {
      if (rx === 1) { x = s - 1 - x; y = s - 1 - y; }
      const tmp = x; x = y; y = tmp;
    }
    x += s * rx;
    y += s * ry;
    t >>= 2;
  }
  return [x, y];
}

/** The inverse of d2xy: (x, y) → Hilbert index. */
export function xy2d(n, x, y) {
  let d = 0;
  for (let s = n >> 1; s > 0; s >>= 1) {
    const rx = (x & s) > 0 ? 1 : 0;
    const ry = (y & s) > 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    if (ry === 0) {
      if (rx === 1) { x = s - 1 - (x & (s - 1)); y = s - 1 - (y & (s - 1)); }
      const tmp = x; x = y; y = tmp;
    }
    x &= s - 1;
    y &= s - 1;
  }
  return d;
}

/** The smallest power of two with G²·4 ≥ m, at least 4; 1 for an empty stream (spec §3). */
export function gridFor(m) {
  if (m === 0) return 1;
  let g = 4;
  while (g * g * 4 < m) g *= 2;
  return g;
}

/**
 * Bytes [offset, offset+length) of the pixel stream of an RGBA image (row-major `pixels`, side
 * g) along the Hilbert curve, one d2xy per pixel. `transposed` reads the legacy curve.
 */
export function gatherJs(pixels, g, offset = 0, length = g * g * 4, transposed = false) {
  const out = Buffer.alloc(length);
  const end = offset + length;
  for (let p = Math.floor(offset / 4); p * 4 < end; p++) {
    const [x, y] = d2xy(g, p);
    const idx = transposed ? (x * g + y) * 4 : (y * g + x) * 4;
    for (let c = 0; c < 4; c++) {
      const s = p * 4 + c;
      if (s >= offset && s < end) out[s - offset] = pixels[idx + c];
    }
  }
  return out;
}

/** The inverse of gatherJs: RGBA pixels (side g) holding `stream` along the curve. */
export function scatterJs(stream, g, transposed = false) {
  const pixels = Buffer.alloc(g * g * 4);
  for (let p = 0; p * 4 < stream.length; p++) {
    const [x, y] = d2xy(g, p);
    const idx = transposed ? (x * g + y) * 4 : (y * g + x) * 4;
    for (let c = 0; c < 4 && p * 4 + c < stream.length; c++) pixels[idx + c] = stream[p * 4 + c];
  }
  return pixels;
}

/** The metadata object: the first text chunk that is `PixelRTS` + JSON (spec §4), or null. */
export function findMetadata(texts) {
  for (const { text } of texts) {
    if (!text.startsWith('PixelRTS')) continue;
    try {
      const value = JSON.parse(text.slice('PixelRTS'.length));
      if (value !== null && typeof value === 'object' && !Array.isArray(value)) return value;
    } catch { /* not JSON: e.g. PixelRTS-Blueprint{...}, keep looking */ }
  }
  return null;
}

function sha256(buf) {
  return crypto.createHash('sha256').update(buf).digest('hex');
}

function isZstd(buf) {
  return buf.length >= 4 && buf.readUInt32LE(0) === 0xfd2fb528;
}

/**
 * Decodes a PixelRTS v2 PNG the way the spec describes: {payload, metadata, warnings,
 * transposed}. Throws when the payload's sha256 does not match data_hash on either curve.
 */
export function decodePixelRTS(png) {
  const { width, height, pixels, texts } = decodePng(png);
  if (width !== height || (width & (width - 1)) !== 0) throw new Error(`reference: grid ${width}x${height} is not a square power of two`);
  const g = width;
  const meta = findMetadata(texts);
  const warnings = [];
  if (meta === null) return { payload: gatherJs(pixels, g), metadata: null, warnings, transposed: false };

  const compressed = meta.compression !== undefined && meta.compression !== null;
  const decompress = (stream) => {
    if (isZstd(stream)) throw new Error('reference: zstd streams are not supported by the reference decoder');
    return zlib.inflateSync(stream);
  };

  if (meta.encoding?.type === 'RGBA-code') {
    let payload = Buffer.from(meta.original_data_b64 ?? '', 'base64');
    if (compressed) payload = decompress(payload);
    return { payload, metadata: meta, warnings, transposed: false };
  }

  const storedSize = compressed && meta.encoded_size !== undefined ? meta.encoded_size : meta.data_size;
  for (const transposed of [false, true]) {
    const stream = gatherJs(pixels, g, 0, storedSize, transposed);
    let payload = stream;
    if (compressed) {
      try {
        payload = decompress(stream);
      } catch (err) {
        if (storedSize === meta.compression.original_size) {
          warnings.push('flagged compressed but stored raw; read as stored');
        } else {
          throw err;
        }
      }
    }
    if (meta.data_hash === undefined || sha256(payload) === meta.data_hash) {
      if (transposed) warnings.push('legacy transposed curve');
      return { payload, metadata: meta, warnings, transposed };
    }
    warnings.length = 0;
  }
  throw new Error(`reference: data_hash ${meta.data_hash} matches neither curve`);
}

/** The sha256 of prng(seed, n) as MANIFEST.md defines it: sha256(seed || u64le(i)) blocks. */
export function prng(seed, n) {
  const blocks = [];
  const counter = Buffer.alloc(8);
  for (let i = 0, have = 0; have < n; i++, have += 32) {
    counter.writeBigUInt64LE(BigInt(i));
    blocks.push(crypto.createHash('sha256').update(Buffer.from(seed)).update(counter).digest());
  }
  return Buffer.concat(blocks).subarray(0, n);
}

/** A file of `size` bytes: a 1 MiB pseudo-random block repeated, each copy stamped with its index. */
export function writePatterned(file, size, seed) {
  const block = prng(seed, 1 << 20);
  const fd = fs.openSync(file, 'w');
  try {
    for (let at = 0, i = 0; at < size; at += block.length, i++) {
      block.writeUInt32LE(i, 0);
      fs.writeSync(fd, block, 0, Math.min(block.length, size - at), at);
    }
  } finally {
    fs.closeSync(fd);
  }
}

/**
 * Writes a PixelRTS v2 PNG the way the original Python/Pillow does: adaptive filters, zlib
 * level 6, one tEXt "PixelRTS" chunk, the metadata keys in the original's order.
 * options: {metadata (user keys), compress (zlib level 6 stream), transposed (legacy curve),
 * filter (png-js filter choice, default 'adaptive'), grid, edit (meta) => meta to damage or
 * reshape the metadata (null: write none), texts (extra text chunks before the metadata),
 * chunk ('tEXt', 'zTXt' or 'iTXt' for the metadata)}.
 */
export function encodeLikeOriginal(payload, options = {}) {
  const { metadata = {}, compress = false, transposed = false, filter = 'adaptive' } = options;
  const stream = compress ? zlib.deflateSync(payload, { level: 6 }) : payload;
  const g = options.grid ?? gridFor(stream.length);
  const meta = {
    format: 'PixelRTS-2.0',
    format_version: 2,
    grid_size: g,
    encoding: { type: 'RGBA-dense', bytes_per_pixel: 4, mapping: 'Hilbert space-filling curve' },
    offsets: metadata.segments ?? {},
    hashes: Object.fromEntries(Object.entries(metadata.segments ?? {}).map(([k, v]) => [k, v.sha256])),
    encoding_mode: 'RGBA-dense',
    ...metadata,
    data_hash: sha256(payload),
    data_size: payload.length,
  };
  if (compress) {
    meta.compression = { type: 'zlib', level: 6, original_size: payload.length, compressed_size: stream.length, ratio: stream.length / payload.length };
    meta.encoded_size = stream.length;
  }
  const final = options.edit ? options.edit(meta) : meta;
  const texts = [...(options.texts ?? [])];
  if (final !== null) texts.push({ keyword: 'PixelRTS', text: `PixelRTS${JSON.stringify(final)}`, chunk: options.chunk });
  return encodePng(scatterJs(stream, g, transposed), g, g, { filter, level: 6, texts });
}
