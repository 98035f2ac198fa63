// An independent PNG reader and writer in plain JavaScript, written from the PNG specification
// (ISO/IEC 15948) with node:zlib for inflate/deflate. It shares no code with the native codec,
// so tests can check the native path against it, and the benchmarks use it as the pure-JS
// baseline. Only what PixelRTS uses: 8-bit RGBA (colour type 6), not interlaced.
import zlib from 'node:zlib';

export const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

const CRC_TABLE = (() => {
  const table = new Uint32Array(256);
  for (let n = 0; n < 256; n++) {
    let c = n;
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
    table[n] = c >>> 0;
  }
  return table;
})();

/** CRC-32 as PNG defines it (over chunk type and data). */
export function crc32(...parts) {
  let c = 0xffffffff;
  for (const buf of parts) {
    for (let i = 0; i < buf.length; i++) c = CRC_TABLE[(c ^ buf[i]) & 0xff] ^ (c >>> 8);
  }
  return (c ^ 0xffffffff) >>> 0;
}

/** Splits a PNG into chunks, checking the signature and every CRC. */
export function readChunks(png) {
  if (png.length < 8 || !png.subarray(0, 8).equals(PNG_SIGNATURE)) throw new Error('png-js: not a PNG (bad signature)');
  const chunks = [];
  let o = 8;
  for (;;) {
    if (o + 12 > png.length) throw new Error(`png-js: truncated at byte ${o}`);
    const length = png.readUInt32BE(o);
    const type = png.toString('latin1', o + 4, o + 8);
    if (o + 12 + length > png.length) throw new Error(`png-js: chunk ${type} at ${o} runs past the end`);
    const data = png.subarray(o + 8, o + 8 + length);
    const crc = png.readUInt32BE(o + 8 + length);
    if (crc32(png.subarray(o + 4, o + 8), data) !== crc) throw new Error(`png-js: CRC mismatch in ${type} at ${o}`);
    chunks.push({ type, data });
    o += 12 + length;
    if (type === 'IEND') return chunks;
  }
}

/** Text chunks (tEXt, zTXt, iTXt) in file order: {chunk, keyword, text}. */
export function readTexts(chunks) {
  const texts = [];
  for (const { type, data } of chunks) {
    const nul = data.indexOf(0);
    if (nul < 0) continue;
    const keyword = data.toString('latin1', 0, nul);
    if (type === 'tEXt') {
      texts.push({ chunk: type, keyword, text: data.toString('latin1', nul + 1) });
    } else if (type === 'zTXt') {
      texts.push({ chunk: type, keyword, text: zlib.inflateSync(data.subarray(nul + 2)).toString('latin1') });
    } else if (type === 'iTXt') {
      const compressed = data[nul + 1] === 1;
      let p = nul + 3;
      p = data.indexOf(0, p) + 1; // language tag
      p = data.indexOf(0, p) + 1; // translated keyword
      const body = data.subarray(p);
      texts.push({ chunk: type, keyword, text: (compressed ? zlib.inflateSync(body) : body).toString('utf8') });
    }
  }
  return texts;
}

function paeth(a, b, c) {
  const p = a + b - c;
  const pa = Math.abs(p - a);
  const pb = Math.abs(p - b);
  const pc = Math.abs(p - c);
  if (pa <= pb && pa <= pc) return a;
  return pb <= pc ? b : c;
}

/**
 * Decodes an 8-bit RGBA PNG (or RGB, as QEMU's screendumps are): {width, height, channels (4 or
 * 3), pixels (width·height·channels bytes, row-major), texts, filters (each row's filter type)}.
 */
export function decodePng(png) {
  const chunks = readChunks(png);
  const ihdr = chunks[0];
  if (!ihdr || ihdr.type !== 'IHDR' || ihdr.data.length !== 13) throw new Error('png-js: first chunk is not IHDR');
  const width = ihdr.data.readUInt32BE(0);
  const height = ihdr.data.readUInt32BE(4);
  const [bitDepth, colorType, , , interlace] = ihdr.data.subarray(8);
  if (bitDepth !== 8 || (colorType !== 6 && colorType !== 2) || interlace !== 0) {
    throw new Error(`png-js: only 8-bit RGBA or RGB non-interlaced, found depth ${bitDepth} colour type ${colorType} interlace ${interlace}`);
  }
  const channels = colorType === 6 ? 4 : 3;
  const idat = Buffer.concat(chunks.filter((c) => c.type === 'IDAT').map((c) => c.data));
  const raw = zlib.inflateSync(idat);
  const stride = width * channels;
  if (raw.length !== height * (stride + 1)) throw new Error(`png-js: inflated ${raw.length} bytes, expected ${height * (stride + 1)}`);
  const pixels = Buffer.alloc(height * stride);
  const filters = new Uint8Array(height);
  for (let y = 0; y < height; y++) {
    const filter = raw[y * (stride + 1)];
    filters[y] = filter;
    const src = y * (stride + 1) + 1;
    const dst = y * stride;
    const up = dst - stride;
    for (let i = 0; i < stride; i++) {
      const a = i >= channels ? pixels[dst + i - channels] : 0;
      const b = y > 0 ? pixels[up + i] : 0;
      const c = i >= channels && y > 0 ? pixels[up + i - channels] : 0;
      const x = raw[src + i];
      let v;
      switch (filter) {
        case 0: v = x; break;
        case 1: v = x + a; break;
        case 2: v = x + b; break;
        case 3: v = x + ((a + b) >> 1); break;
        case 4: v = x + paeth(a, b, c); break;
        default: throw new Error(`png-js: row ${y} has filter type ${filter}`);
      }
      pixels[dst + i] = v & 0xff;
    }
  }
  return { width, height, channels, pixels, texts: readTexts(chunks), filters };
}

function chunk(type, data) {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(data.length, 0);
  head.write(type, 4, 'latin1');
  const crc = Buffer.alloc(4);
  crc.writeUInt32BE(crc32(head.subarray(4, 8), data), 0);
  return Buffer.concat([head, data, crc]);
}

/** Applies filter `type` to one row (`prev` is the previous unfiltered row or null). */
function filterRow(type, row, prev, out) {
  out[0] = type;
  for (let i = 0; i < row.length; i++) {
    const a = i >= 4 ? row[i - 4] : 0;
    const b = prev ? prev[i] : 0;
    const c = i >= 4 && prev ? prev[i - 4] : 0;
    let p;
    switch (type) {
      case 0: p = 0; break;
      case 1: p = a; break;
      case 2: p = b; break;
      case 3: p = (a + b) >> 1; break;
      default: p = paeth(a, b, c); break;
    }
    out[i + 1] = (row[i] - p) & 0xff;
  }
  return out;
}

/** Sum of the filtered bytes taken as signed values: the heuristic libpng and Pillow use. */
function minSumAbs(out) {
  let s = 0;
  for (let i = 1; i < out.length; i++) s += out[i] < 128 ? out[i] : 256 - out[i];
  return s;
}

/**
 * Encodes RGBA pixels as a PNG.
 * options.filter: 0–4 (every row), 'adaptive' (per row the filter with the smallest sum of
 *   absolute signed bytes, as Pillow does), 'cycle' (row y uses filter y % 5, so one file holds
 *   every type), or a function (y) => type.
 * options.level: zlib level (default 6). options.texts: [{keyword, text, chunk}] before IDAT,
 *   chunk 'tEXt' (default), 'zTXt' or 'iTXt' (uncompressed).
 * options.idatSize: bytes per IDAT chunk (default 65536, like Pillow).
 */
export function encodePng(pixels, width, height, options = {}) {
  const { filter = 'adaptive', level = 6, texts = [], idatSize = 65536 } = options;
  const stride = width * 4;
  if (pixels.length !== stride * height) throw new Error(`png-js: ${pixels.length} pixel bytes for ${width}x${height}`);
  const raw = Buffer.alloc(height * (stride + 1));
  const trial = Buffer.alloc(stride + 1);
  for (let y = 0; y < height; y++) {
    const row = pixels.subarray(y * stride, (y + 1) * stride);
    const prev = y > 0 ? pixels.subarray((y - 1) * stride, y * stride) : null;
    const out = raw.subarray(y * (stride + 1), (y + 1) * (stride + 1));
    if (filter === 'adaptive') {
      let best = -1;
      let bestSum = Infinity;
      for (let f = 0; f < 5; f++) {
        const s = minSumAbs(filterRow(f, row, prev, trial));
        if (s < bestSum) { bestSum = s; best = f; }
      }
      filterRow(best, row, prev, out);
    } else {
      const f = typeof filter === 'function' ? filter(y) : filter === 'cycle' ? y % 5 : filter;
      filterRow(f, row, prev, out);
    }
  }
  const ihdr = Buffer.alloc(13);
  ihdr.writeUInt32BE(width, 0);
  ihdr.writeUInt32BE(height, 4);
  ihdr[8] = 8; ihdr[9] = 6; ihdr[10] = 0; ihdr[11] = 0; ihdr[12] = 0;
  const parts = [PNG_SIGNATURE, chunk('IHDR', ihdr)];
  for (const { keyword, text, chunk: type = 'tEXt' } of texts) {
    const key = Buffer.concat([Buffer.from(keyword, 'latin1'), Buffer.from([0])]);
    if (type === 'tEXt') parts.push(chunk(type, Buffer.concat([key, Buffer.from(text, 'latin1')])));
    else if (type === 'zTXt') parts.push(chunk(type, Buffer.concat([key, Buffer.from([0]), zlib.deflateSync(Buffer.from(text, 'latin1'))])));
    else parts.push(chunk(type, Buffer.concat([key, Buffer.from([0, 0, 0, 0]), Buffer.from(text, 'utf8')])));
  }
  const z = zlib.deflateSync(raw, { level });
  for (let o = 0; o < z.length || o === 0; o += idatSize) parts.push(chunk('IDAT', z.subarray(o, o + idatSize)));
  parts.push(chunk('IEND', Buffer.alloc(0)));
  return Buffer.concat(parts);
}
