/**
 * The PixelRTS v2 metadata model (spec §4–§6): its typed shape, finding it among a PNG's text
 * chunks, validating the fields a decoder relies on, building it the way the original Python
 * writes it (same keys, same order, same JSON text), and the sidecar file beside the PNG.
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import { PixelrtsError } from '../errors';

/** `encoding`: how bytes sit in pixels. Only `type` matters to a decoder (code mode). */
export interface EncodingInfo {
  type: 'RGBA-dense' | 'RGBA-code' | string;
  bytes_per_pixel: number;
  mapping: string;
}

/** `compression`: its presence means the stored stream is compressed (spec §7). */
export interface CompressionInfo {
  /** 'zlib' as pixelrts writes it; the original labels zlib streams 'zstd-h5'. Never trusted: the stream is sniffed. */
  type: string;
  level: number | string;
  original_size: number;
  compressed_size: number;
  ratio: number;
}

/** One file of a multi-file container (spec §6). Readers accept `start` or `offset`. */
export interface SegmentInfo {
  type: string;
  start: number;
  end: number;
  offset: number;
  size: number;
  sha256: string;
}

/** The metadata object of a PixelRTS v2 container, as embedded after the `PixelRTS` prefix. */
export interface PixelRTSMetadata {
  format?: string;
  format_version?: number;
  grid_size?: number;
  encoding?: EncodingInfo;
  offsets?: Record<string, Partial<SegmentInfo>>;
  hashes?: Record<string, string>;
  encoding_mode?: string;
  /** User keys (informational). */
  type?: string;
  name?: string;
  description?: string;
  content_version?: string;
  /** Kernel command line for boot bundles. */
  cmdline?: string;
  segments?: Record<string, Partial<SegmentInfo>>;
  /** Lowercase hex sha256 of the payload P. */
  data_hash?: string;
  /** N: payload length. */
  data_size?: number;
  compression?: CompressionInfo;
  /** M: stored stream length; present with compression and then wins over data_size. */
  encoded_size?: number;
  /** Code mode: base64 of the stored stream, the only lossless copy. */
  original_data_b64?: string;
  [key: string]: unknown;
}

/** A text chunk of a PNG (same shape as the native binding's PngText). */
export interface TextChunk {
  keyword: string;
  text: string;
}

export const METADATA_PREFIX = 'PixelRTS';
export const FORMAT_NAME = 'PixelRTS-2.0';
export const HILBERT_MAPPING = 'Hilbert space-filling curve';

/**
 * The metadata of a PNG: the first text chunk whose text is `PixelRTS` followed by a JSON
 * object (spec §4). Text such as `PixelRTS-Blueprint{...}` does not parse and is skipped.
 */
export function findMetadata(texts: TextChunk[]): PixelRTSMetadata | null {
  for (const { text } of texts) {
    if (!text.startsWith(METADATA_PREFIX)) continue;
    let value: unknown;
    try {
      value = JSON.parse(text.slice(METADATA_PREFIX.length));
    } catch {
      continue;
    }
    if (isPlainObject(value)) return value as PixelRTSMetadata;
  }
  return null;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing (the key is missing)';
  const s = JSON.stringify(v);
  return s.length > 60 ? `${s.slice(0, 57)}...` : s;
}

/** Throws ERR_PIXELRTS_METADATA naming the source, the field, what was expected and found. */
export function metadataError(source: string, field: string, expected: string, found: unknown, fix?: string): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_METADATA',
    `${source}: metadata field "${field}": expected ${expected}, found ${describe(found)}.` +
    (fix ? ` ${fix}` : ' The file was not written by a PixelRTS v2 encoder or has been edited; re-create it with `pixelrts convert`.'));
}

function checkSize(source: string, meta: Record<string, unknown>, field: string, optional: boolean): void {
  const v = meta[field];
  if (v === undefined && optional) return;
  if (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0) {
    throw metadataError(source, field, 'a non-negative integer', v);
  }
}

/**
 * Checks the fields a decoder relies on and throws ERR_PIXELRTS_METADATA on the first bad one:
 * sizes are non-negative integers, hashes are 64 hex digits, `compression` and `encoding` are
 * objects, `original_data_b64` is base64, segments are objects with integer positions.
 * Informational keys are not checked (the original never checks them either).
 */
export function validateMetadata(meta: PixelRTSMetadata, source: string): void {
  const m = meta as Record<string, unknown>;
  checkSize(source, m, 'data_size', true);
  checkSize(source, m, 'encoded_size', true);
  if (m.data_hash !== undefined && !isSha256(m.data_hash)) {
    throw metadataError(source, 'data_hash', '64 hexadecimal digits (sha256)', m.data_hash);
  }
  if (m.encoding !== undefined) {
    if (!isPlainObject(m.encoding)) throw metadataError(source, 'encoding', 'an object', m.encoding);
    if (m.encoding.type !== undefined && typeof m.encoding.type !== 'string') {
      throw metadataError(source, 'encoding.type', 'a string such as "RGBA-dense"', m.encoding.type);
    }
  }
  if (m.compression !== undefined && m.compression !== null) {
    if (!isPlainObject(m.compression)) throw metadataError(source, 'compression', 'an object', m.compression);
    for (const k of ['original_size', 'compressed_size']) {
      const v = m.compression[k];
      if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
        throw metadataError(source, `compression.${k}`, 'a non-negative integer', v);
      }
    }
  }
  if (m.original_data_b64 !== undefined &&
      (typeof m.original_data_b64 !== 'string' || !/^[A-Za-z0-9+/\s]*={0,2}\s*$/.test(m.original_data_b64))) {
    throw metadataError(source, 'original_data_b64', 'a base64 string', m.original_data_b64);
  }
  for (const table of ['segments', 'offsets'] as const) {
    const t = m[table];
    if (t === undefined) continue;
    if (!isPlainObject(t)) throw metadataError(source, table, 'an object mapping names to segments', t);
    for (const [name, seg] of Object.entries(t)) {
      if (!isPlainObject(seg)) throw metadataError(source, `${table}.${name}`, 'an object {type, start, size, sha256}', seg);
      for (const k of ['start', 'offset', 'end', 'size']) {
        const v = seg[k];
        if (v !== undefined && (typeof v !== 'number' || !Number.isSafeInteger(v) || v < 0)) {
          throw metadataError(source, `${table}.${name}.${k}`, 'a non-negative integer', v);
        }
      }
      if (seg.sha256 !== undefined && !isSha256(seg.sha256)) {
        throw metadataError(source, `${table}.${name}.sha256`, '64 hexadecimal digits (sha256)', seg.sha256);
      }
    }
  }
}

function isSha256(v: unknown): v is string {
  return typeof v === 'string' && /^[0-9a-fA-F]{64}$/.test(v);
}

/** Lowercase hex sha256 of `data`. */
export function sha256Hex(data: Uint8Array): string {
  return crypto.createHash('sha256').update(data).digest('hex');
}

/** Lowercase hex sha256 of `data`, computed on the thread pool (WebCrypto) so the event loop stays free. */
export async function sha256HexAsync(data: Uint8Array): Promise<string> {
  return Buffer.from(await crypto.webcrypto.subtle.digest('SHA-256', data)).toString('hex');
}

// ---------------------------------------------------------------------------------------------
// Building metadata the way the original writes it

/** A file inside a multi-file container, before encoding. */
export interface SegmentInput {
  name: string;
  /** The segment's bytes; writeContainer() also takes `path` instead, and reads the file as it packs. */
  data?: Buffer;
  /** A file to pack (writeContainer() only): read as it is packed, never held in memory whole. */
  path?: string;
  /** Segment type; default: 'kernel' / 'initrd' when the name says so (see classifyName), else 'data'. */
  type?: string;
}

export interface BuildMetadataInput {
  /** The payload P (for segments: their concatenation); or its `dataHash` and `dataSize`. */
  payload?: Buffer;
  /** Lowercase hex sha256 of the payload, when it was hashed as it was read instead. */
  dataHash?: string;
  /** Length of the payload, with dataHash. */
  dataSize?: number;
  grid: number;
  /** The segment table, in payload order; absent for a single-file container. */
  segments?: Array<{ name: string; type: string; offset: number; size: number; sha256: string }>;
  /** User keys, written after encoding_mode in this order (type, name, description, cmdline, …). */
  user?: Record<string, unknown>;
  /** Present when the stored stream is a zlib stream of the payload. */
  compression?: { level: number; compressedSize: number };
}

/**
 * The metadata object in the original's key order: format, format_version, grid_size,
 * encoding, offsets, hashes, encoding_mode, user keys, segments, data_hash, data_size, then
 * compression and encoded_size when compressed.
 */
export function buildMetadata(input: BuildMetadataInput): PixelRTSMetadata {
  const table: Record<string, SegmentInfo> = {};
  const hashes: Record<string, string> = {};
  for (const s of input.segments ?? []) {
    table[s.name] = { type: s.type, start: s.offset, end: s.offset + s.size, offset: s.offset, size: s.size, sha256: s.sha256 };
    hashes[s.name] = s.sha256;
  }
  const meta: PixelRTSMetadata = {
    format: FORMAT_NAME,
    format_version: 2,
    grid_size: input.grid,
    encoding: { type: 'RGBA-dense', bytes_per_pixel: 4, mapping: HILBERT_MAPPING },
    offsets: table,
    hashes,
    encoding_mode: 'RGBA-dense',
  };
  const reserved = new Set(Object.keys(meta).concat(['segments', 'data_hash', 'data_size', 'compression', 'encoded_size', 'original_data_b64']));
  for (const [k, v] of Object.entries(input.user ?? {})) {
    if (v === undefined) continue;
    if (reserved.has(k)) throw new PixelrtsError('ERR_PIXELRTS_METADATA', `user metadata key "${k}" is reserved by the format; choose another name.`);
    meta[k] = v;
  }
  // The original copies the caller's segments into offsets and writes them again as a user key.
  if (input.segments && input.segments.length > 0) meta.segments = structuredClone(table);
  const n = input.payload?.length ?? input.dataSize;
  const hash = input.payload ? sha256Hex(input.payload) : input.dataHash;
  if (n === undefined || hash === undefined) {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', 'buildMetadata: give the payload, or its dataHash and dataSize.');
  }
  meta.data_hash = hash;
  meta.data_size = n;
  if (input.compression) {
    meta.compression = {
      type: 'zlib',
      level: input.compression.level,
      original_size: n,
      compressed_size: input.compression.compressedSize,
      ratio: n === 0 ? 0 : input.compression.compressedSize / n,
    };
    meta.encoded_size = input.compression.compressedSize;
  }
  return meta;
}

// ---------------------------------------------------------------------------------------------
// JSON text exactly as Python's json.dumps writes it

/** Keys whose numbers Python holds as floats, so they print with a fraction (1.0, not 1). */
const FLOAT_KEYS = new Set(['ratio']);

/** Python's repr() of a float: shortest round-trip digits, exponent form below 1e-4 and from 1e16. */
export function pythonFloat(x: number): string {
  if (!Number.isFinite(x)) return Number.isNaN(x) ? 'NaN' : x > 0 ? 'Infinity' : '-Infinity';
  if (x === 0) return Object.is(x, -0) ? '-0.0' : '0.0';
  const [mantissa, expText] = x.toExponential().split('e');
  const exp = Number(expText);
  if (exp < -4 || exp >= 16) {
    return `${mantissa}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
  }
  const fixed = String(x); // JS uses fixed notation for 1e-7 ≤ |x| < 1e21 with the same shortest digits
  return fixed.includes('.') ? fixed : `${fixed}.0`;
}

/** JSON string literal with every non-ASCII (and DEL) character as a lowercase \uXXXX escape. */
function asciiString(s: string): string {
  return JSON.stringify(s).replace(/[\u007f-\uffff]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

function pyJson(value: unknown, indent: number, depth: number, floatKey: boolean): string {
  if (value === null || value === undefined) return 'null';
  if (typeof value === 'boolean') return value ? 'true' : 'false';
  if (typeof value === 'number') return floatKey || !Number.isInteger(value) ? pythonFloat(value) : String(value);
  if (typeof value === 'string') return asciiString(value);
  const pad = indent > 0 ? `\n${' '.repeat(indent * (depth + 1))}` : '';
  const close = indent > 0 ? `\n${' '.repeat(indent * depth)}` : '';
  const colon = indent > 0 ? ': ' : ':';
  if (Array.isArray(value)) {
    if (value.length === 0) return '[]';
    return `[${value.map((v) => pad + pyJson(v, indent, depth + 1, false)).join(',')}${close}]`;
  }
  const entries = Object.entries(value as Record<string, unknown>).filter(([, v]) => v !== undefined);
  if (entries.length === 0) return '{}';
  return `{${entries.map(([k, v]) => `${pad}${asciiString(k)}${colon}${pyJson(v, indent, depth + 1, FLOAT_KEYS.has(k))}`).join(',')}${close}}`;
}

/**
 * `value` as Python's json.dumps writes it: compact with separators (',', ':') when indent is
 * 0 (the embedded chunk), else indented with (',', ': ') (the sidecar); ASCII only.
 */
export function toPythonJson(value: unknown, indent = 0): string {
  return pyJson(value, indent, 0, false);
}

/** The text of the `PixelRTS` tEXt chunk for `meta`. */
export function metadataText(meta: PixelRTSMetadata): string {
  return METADATA_PREFIX + toPythonJson(meta);
}

// ---------------------------------------------------------------------------------------------
// Sidecar

/** Where a sidecar for `pngPath` may live, in the order they are looked for (spec §5). */
export function sidecarPaths(pngPath: string): string[] {
  const base = pngPath.endsWith('.png') ? pngPath.slice(0, -'.png'.length) : pngPath;
  return [`${pngPath}.meta.json`, `${base}.meta.json`];
}

/** The sidecar found next to a PNG. */
export interface Sidecar {
  path: string;
  metadata: PixelRTSMetadata;
}

/**
 * Reads the first sidecar that exists next to `pngPath`; null when there is none.
 * A sidecar that is not a JSON object throws ERR_PIXELRTS_SIDECAR naming it.
 */
export async function readSidecar(pngPath: string): Promise<Sidecar | null> {
  for (const p of sidecarPaths(pngPath)) {
    let text: string;
    try {
      text = await fs.readFile(p, 'utf8');
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') continue;
      throw new PixelrtsError('ERR_PIXELRTS_SIDECAR', `${p}: cannot read the sidecar (${(err as Error).message}).`, { cause: err });
    }
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch (err) {
      throw new PixelrtsError('ERR_PIXELRTS_SIDECAR',
        `${p}: the sidecar is not valid JSON (${(err as Error).message}). Delete it or rewrite it with \`pixelrts convert\`; the PNG's embedded metadata is authoritative.`);
    }
    if (!isPlainObject(value)) {
      throw new PixelrtsError('ERR_PIXELRTS_SIDECAR', `${p}: expected a JSON object, found ${describe(value)}.`);
    }
    return { path: p, metadata: value as PixelRTSMetadata };
  }
  return null;
}

/** Writes the sidecar `X.rts.png.meta.json` (2-space indented, as the original does). */
export async function writeSidecar(pngPath: string, meta: PixelRTSMetadata): Promise<string> {
  const p = sidecarPaths(pngPath)[0];
  await writeFileAtomic(p, toPythonJson(meta, 2));
  return p;
}

/**
 * The keys on which a sidecar disagrees with the embedded metadata (empty when they agree).
 * Infinite Map sidecars wrap the embedded object as `{pixelrts: {...}, infinite_map: {...}}`;
 * their `pixelrts` member is what is compared.
 */
export function sidecarDifferences(embedded: PixelRTSMetadata, sidecar: PixelRTSMetadata): string[] {
  const side = isPlainObject(sidecar.pixelrts) && isPlainObject(sidecar.infinite_map) && embedded.pixelrts === undefined
    ? sidecar.pixelrts : sidecar;
  const keys = new Set([...Object.keys(embedded), ...Object.keys(side)]);
  return [...keys].filter((k) => !deepEqual(embedded[k], side[k])).sort();
}

function deepEqual(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== typeof b || a === null || b === null || typeof a !== 'object') return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a as object);
  const kb = Object.keys(b as object);
  return ka.length === kb.length &&
    ka.every((k) => deepEqual((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/** The stem of a container's path: `dir/name.rts.png` → `name`. */
export function containerStem(pngPath: string): string {
  const base = path.basename(pngPath);
  for (const ext of ['.rts.png', '.png']) {
    if (base.toLowerCase().endsWith(ext) && base.length > ext.length) return base.slice(0, -ext.length);
  }
  return base;
}

const KERNEL_NAMES = new Set(['kernel', 'vmlinuz', 'vmlinux', 'bzimage']);
const INITRD_NAMES = new Set(['initrd', 'initramfs', 'initrd.img']);

/**
 * The segment types boot understands: a kernel and initrd for a direct kernel boot, disks (raw
 * or qcow2, told by content), ISOs (CD-ROMs), firmware and a device tree; `data` is anything else.
 */
export const SEGMENT_KINDS = ['kernel', 'initrd', 'disk', 'iso', 'firmware', 'dtb', 'data'] as const;
export type SegmentKind = typeof SEGMENT_KINDS[number];

/**
 * The segment type a name implies: kernel and initrd names (classifyName), `disk`, `disk2`, …,
 * `iso`, `cdrom`, `firmware`, `bios`, `dtb`, and the extensions .iso, .qcow2 and .dtb; else null.
 */
export function segmentKindFromName(name: string): SegmentKind | null {
  const byName = classifyName(name);
  if (byName) return byName;
  const base = name.split('/').pop()!.toLowerCase();
  const stem = base.replace(/\d+$/, '');
  if (stem === 'disk' || base.endsWith('.qcow2')) return 'disk';
  if (stem === 'iso' || stem === 'cdrom' || base.endsWith('.iso')) return 'iso';
  if (stem === 'firmware' || stem === 'bios') return 'firmware';
  if (stem === 'dtb' || base.endsWith('.dtb')) return 'dtb';
  return null;
}

/**
 * 'kernel' or 'initrd' when a file's name says so (spec §6: kernel, vmlinuz, vmlinux, bzImage;
 * initrd, initramfs, initrd.img), else null. Only the last path component counts, so Infinite
 * Map paths like `boot/vmlinuz` classify; a version suffix (`vmlinuz-6.1.0`) or an extension
 * (`kernel.bin`, `initramfs.cpio.gz`) is allowed.
 */
export function classifyName(name: string): 'kernel' | 'initrd' | null {
  const base = name.split('/').pop()!.toLowerCase();
  const candidates = [base, base.replace(/[-_.].*$/, '')];
  if (candidates.some((c) => INITRD_NAMES.has(c))) return 'initrd';
  if (candidates.some((c) => KERNEL_NAMES.has(c))) return 'kernel';
  return null;
}
