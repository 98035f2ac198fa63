/**
 * Decoding and encoding whole PixelRTS v2 containers (`.rts.png`). The native addon does the
 * byte work (PNG, Hilbert gather/scatter, inflate/deflate); this module decides what to ask
 * for from the metadata: code mode, compression, the original's known bad files, the legacy
 * transposed curve, and files without metadata.
 */
import './binding';
import type { GatherOptions, PngInfo } from './binding';
import { PixelrtsError } from '../errors';
import {
  buildMetadata, classifyName, metadataError, metadataText, PixelRTSMetadata, SegmentInput, sha256Hex, sha256HexAsync,
  findMetadata, validateMetadata,
} from './metadata';
import { native } from '../native';

/** Something a tolerant reader recovered from or chose for the caller; never fatal. */
export interface PixelrtsWarning {
  /** Stable identifier, e.g. WARN_PIXELRTS_TRANSPOSED. */
  code: string;
  message: string;
}

export interface DecodeOptions {
  /** Named in errors and warnings (default 'the PNG'). */
  source?: string;
  /** Receives each warning (recovered bad file, legacy curve, missing metadata). */
  onWarning?: (warning: PixelrtsWarning) => void;
  /** Metadata to use instead of the embedded one (e.g. from a sidecar when the PNG has none). */
  metadata?: PixelRTSMetadata | null;
  /** Decoder threads: 0 = choose, 1, or 2. */
  threads?: number;
  /** Use only this curve (true: the legacy transposed one) instead of trying both. */
  transposed?: boolean;
}

/** How a container's payload is laid out, worked out from its PNG header and metadata alone. */
export interface DecodePlan {
  source: string;
  grid: number;
  /** G²·4: bytes the pixels can hold. */
  capacity: number;
  metadata: PixelRTSMetadata | null;
  /** 'dense': bytes in the pixels; 'code': bytes in original_data_b64; 'raw': no length known, all G²·4 bytes. */
  mode: 'dense' | 'code' | 'raw';
  /** Bytes of pixel stream holding the stored stream S (dense and raw modes). */
  storedSize: number;
  /** S is compressed (metadata has `compression`). */
  compressed: boolean;
  /** Expected payload length N, when known. */
  payloadSize: number | undefined;
  /** Expected sha256 of the payload, when known. */
  dataHash: string | undefined;
}

/** The outcome of a decode. */
export interface DecodeResult {
  payload: Buffer;
  /** The legacy transposed curve was needed. */
  transposed: boolean;
  /** A compressed-flagged stream was really stored raw (vector negative/n1). */
  storedRaw: boolean;
}

const WARN_NO_METADATA = 'WARN_PIXELRTS_NO_METADATA';
const WARN_STORED_RAW = 'WARN_PIXELRTS_STORED_RAW';
const WARN_CODE_COMPRESSED = 'WARN_PIXELRTS_CODE_COMPRESSED';
const WARN_TRANSPOSED = 'WARN_PIXELRTS_TRANSPOSED';

/** Checks that the image is a square power-of-two grid and returns its side. */
export function gridOf(info: PngInfo, source: string): number {
  const { width, height } = info;
  if (width !== height || width < 1 || (width & (width - 1)) !== 0) {
    throw new PixelrtsError('ERR_PIXELRTS_GRID',
      `${source}: expected a square image whose side is a power of two (PixelRTS grid), found ${width}x${height}. ` +
      'This PNG is not a PixelRTS v2 container.');
  }
  return width;
}

/**
 * Works out how to decode a container from its header and metadata (no pixels touched).
 * `metadata` overrides the embedded metadata when given (null: behave as if there were none).
 */
export function planDecode(info: PngInfo, source: string, metadata?: PixelRTSMetadata | null): DecodePlan {
  const grid = gridOf(info, source);
  const capacity = grid * grid * 4;
  const meta = metadata === undefined ? findMetadata(info.texts) : metadata;
  const base = { source, grid, capacity, metadata: meta, compressed: false, payloadSize: undefined, dataHash: undefined };
  if (meta === null) return { ...base, mode: 'raw', storedSize: capacity };
  validateMetadata(meta, source);
  const compressed = meta.compression !== undefined && meta.compression !== null;
  const original = compressed ? meta.compression!.original_size : undefined;
  if (original !== undefined && meta.data_size !== undefined && original !== meta.data_size) {
    throw metadataError(source, 'compression.original_size', `the same value as data_size (${meta.data_size})`, original);
  }
  const payloadSize = meta.data_size ?? original;
  if (compressed && payloadSize === undefined) {
    throw metadataError(source, 'data_size', 'the payload length (the file is flagged compressed; neither data_size nor compression.original_size is set)', undefined);
  }
  const dataHash = meta.data_hash?.toLowerCase();
  if (meta.encoding?.type === 'RGBA-code') {
    if (meta.original_data_b64 === undefined) {
      throw metadataError(source, 'original_data_b64', 'the base64 payload (encoding.type is "RGBA-code": the pixels are lossy)', undefined);
    }
    return { ...base, mode: 'code', storedSize: 0, compressed, payloadSize, dataHash };
  }
  if (payloadSize === undefined) {
    // Metadata without a length (e.g. an Infinite Map's chunk): like no metadata at all.
    return { ...base, metadata: meta, mode: 'raw', storedSize: capacity, dataHash };
  }
  let storedSize = payloadSize;
  if (compressed) {
    storedSize = meta.encoded_size ?? meta.compression!.compressed_size;
    if (storedSize === undefined) {
      throw metadataError(source, 'encoded_size', 'the stored stream length (the file is flagged compressed)', undefined);
    }
  }
  if (storedSize > capacity) {
    throw metadataError(source, compressed ? 'encoded_size' : 'data_size',
      `at most ${capacity} (the ${grid}x${grid} grid holds ${capacity} bytes)`, storedSize,
      'The metadata does not belong to this image or the file was truncated.');
  }
  return { ...base, mode: 'dense', storedSize, compressed, payloadSize, dataHash };
}

/** True when `s` starts like a zlib (RFC 1950) or zstd stream. */
export function looksCompressed(s: Buffer): boolean {
  if (s.length >= 4 && s.readUInt32LE(0) === 0xfd2fb528) return true;
  return s.length >= 2 && (s[0] & 0x0f) === 8 && (s[0] >> 4) <= 7 && ((s[0] << 8) | s[1]) % 31 === 0;
}

/** ERR_PIXELRTS_HASH: `what` of `source` has sha256 `found`, the metadata says `expected`. */
export function hashError(source: string, expected: string, found: string, what: string, note = ''): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_HASH',
    `${source}: ${what} sha256 does not match: expected ${expected}, found ${found}${note}. ` +
    'The file is corrupt or was modified after it was written; re-create it from its sources.');
}

/** Decompresses S into the payload, or recognises the original's stored-but-flagged files. */
function unpack(stored: Buffer, plan: DecodePlan, what: string): { payload: Buffer; storedRaw: boolean } {
  if (!plan.compressed) return { payload: stored, storedRaw: false };
  const expected = plan.payloadSize!;
  let data: Buffer;
  try {
    data = native().decompress(stored, expected).data;
  } catch (err) {
    if (stored.length === expected && !looksCompressed(stored)) return { payload: stored, storedRaw: true };
    throw new PixelrtsError('ERR_PIXELRTS_DECOMPRESS',
      `${plan.source}: the ${what} is flagged compressed but does not decompress to ${expected} bytes ` +
      `(${(err as Error).message}).`, { cause: err });
  }
  if (data.length !== expected) {
    throw new PixelrtsError('ERR_PIXELRTS_DECOMPRESS',
      `${plan.source}: the ${what} decompressed to ${data.length} bytes, expected ${expected} (compression.original_size).`);
  }
  return { payload: data, storedRaw: false };
}

/** What the decode asks its driver for: pixel bytes along the curve, or the sha256 of some bytes. */
type DecodeStep = { gather: GatherOptions } | { hash: Buffer };

/**
 * The decode as a sequence of requests: yields the pixels or hashes it needs, receives the
 * bytes (or hex digest), returns the result. One implementation drives both the synchronous
 * decode and the background one, whose driver does every step off the main thread.
 */
function* decodeSteps(plan: DecodePlan, options: DecodeOptions): Generator<DecodeStep, DecodeResult, Buffer | string> {
  const warn = options.onWarning ?? (() => {});
  const threads = options.threads ?? 0;
  if (plan.mode === 'code') return yield* decodeCodeMode(plan, warn);
  if (plan.mode === 'raw') {
    const all = (yield { gather: { offset: 0, length: plan.capacity, threads } }) as Buffer;
    warn({ code: WARN_NO_METADATA,
      message: `${plan.source}: no PixelRTS metadata with a length; returning all ${plan.capacity} bytes of the grid (the payload length is unknown).` });
    return { payload: all, transposed: false, storedRaw: false };
  }
  let firstError: unknown;
  const curves = options.transposed === undefined ? [false, true] : [options.transposed];
  const note = curves.length > 1 ? ' (the legacy transposed curve does not match either)' : '';
  for (const transposed of curves) {
    const stored = (yield { gather: { offset: 0, length: plan.storedSize, transposed, threads } }) as Buffer;
    let unpacked: { payload: Buffer; storedRaw: boolean };
    try {
      unpacked = unpack(stored, plan, 'stored stream');
    } catch (err) {
      firstError ??= err;
      continue;
    }
    const found = plan.dataHash === undefined ? undefined : (yield { hash: unpacked.payload }) as string;
    if (found !== plan.dataHash) {
      firstError ??= hashError(plan.source, plan.dataHash!, found!, 'payload (data_hash)', note);
      continue;
    }
    if (unpacked.storedRaw) {
      warn({ code: WARN_STORED_RAW,
        message: `${plan.source}: flagged compressed but the stream is not compressed and its length equals original_size; read it as stored (a known bug of the original encoder at level "none").` });
    }
    if (transposed) {
      warn({ code: WARN_TRANSPOSED,
        message: `${plan.source}: written with the legacy transposed Hilbert curve (before 2026-02-09); decoded with it. Re-encode with \`pixelrts convert\` to update the file.` });
    }
    return { payload: unpacked.payload, transposed, storedRaw: unpacked.storedRaw };
  }
  throw firstError;
}

function* decodeCodeMode(plan: DecodePlan, warn: (w: PixelrtsWarning) => void): Generator<DecodeStep, DecodeResult, Buffer | string> {
  const stored = Buffer.from(plan.metadata!.original_data_b64!, 'base64');
  const { payload, storedRaw } = unpack(stored, plan, 'code-mode payload (original_data_b64)');
  if (plan.compressed && !storedRaw) {
    warn({ code: WARN_CODE_COMPRESSED,
      message: `${plan.source}: code mode with compression; decompressed original_data_b64 (the original decoder forgets to and returns the compressed bytes).` });
  }
  if (storedRaw) {
    warn({ code: WARN_STORED_RAW, message: `${plan.source}: original_data_b64 is flagged compressed but stored raw; read it as stored.` });
  }
  if (plan.dataHash !== undefined) {
    const found = (yield { hash: payload }) as string;
    if (found !== plan.dataHash) throw hashError(plan.source, plan.dataHash, found, 'code-mode payload (data_hash)');
  }
  return { payload, transposed: false, storedRaw };
}

/** The PNG's header and text chunks (native; errors name `source`). */
export function readInfo(png: Buffer, source: string): PngInfo {
  if (!Buffer.isBuffer(png)) {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `decode: expected a Buffer holding a PNG, found ${typeof png}.`);
  }
  try {
    return native().readPngInfo(png);
  } catch (err) {
    throw prefixed(err, source);
  }
}

/** Native errors do not know the file name; put it in front of the message. */
function prefixed(err: unknown, source: string): unknown {
  if (err instanceof Error && !err.message.startsWith(source)) err.message = `${source}: ${err.message}`;
  return err;
}

/** Decodes with an explicit plan, on the calling thread. */
export function decodeWithPlan(png: Buffer, plan: DecodePlan, options: DecodeOptions = {}): DecodeResult {
  const steps = decodeSteps(plan, options);
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    if ('hash' in step) {
      next = steps.next(sha256Hex(step.hash));
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = native().gatherStream(png, step.gather);
    } catch (err) {
      throw prefixed(err, plan.source);
    }
    next = steps.next(bytes);
  }
  return next.value;
}

/** Decodes with an explicit plan; the gathers and hashes run off the main thread. */
export async function decodeWithPlanAsync(png: Buffer, plan: DecodePlan, options: DecodeOptions = {}): Promise<DecodeResult> {
  const steps = decodeSteps(plan, options);
  let next = steps.next();
  while (!next.done) {
    const step = next.value;
    if ('hash' in step) {
      next = steps.next(await sha256HexAsync(step.hash));
      continue;
    }
    let bytes: Buffer;
    try {
      bytes = await native().gatherStreamAsync(png, step.gather);
    } catch (err) {
      throw prefixed(err, plan.source);
    }
    next = steps.next(bytes);
  }
  return next.value;
}

/**
 * Decodes a PixelRTS v2 PNG to its payload, on the calling thread.
 * Throws ERR_PIXELRTS_HASH when the payload matches data_hash on neither curve,
 * ERR_PIXELRTS_METADATA for unusable metadata, ERR_PIXELRTS_PNG_* for a damaged PNG.
 *
 * @example
 *   const payload = decode(fs.readFileSync('kernel.rts.png'), { onWarning: (w) => console.warn(w.message) });
 */
export function decode(png: Buffer, options: DecodeOptions = {}): Buffer {
  const source = options.source ?? 'the PNG';
  return decodeWithPlan(png, planDecode(readInfo(png, source), source, options.metadata), options).payload;
}

/** Like decode, with the inflate and Hilbert gather on a background thread. */
export async function decodeAsync(png: Buffer, options: DecodeOptions = {}): Promise<Buffer> {
  const source = options.source ?? 'the PNG';
  return (await decodeWithPlanAsync(png, planDecode(readInfo(png, source), source, options.metadata), options)).payload;
}

// ---------------------------------------------------------------------------------------------
// Encoding

export type { SegmentInput } from './metadata';

/** A payload (single-file container) or the files of a multi-file container, in order. */
export type EncodeInput = Buffer | SegmentInput[];

export interface EncodeOptions {
  /** User key `name` (default for single files: none; the CLI uses the input's stem). */
  name?: string;
  /** User key `type`, e.g. 'kernel' or 'boot-bundle'. */
  type?: string;
  /** Kernel command line, stored as the user key `cmdline`. */
  cmdline?: string;
  /** More user keys, written after type, name and cmdline, in their order. */
  metadata?: Record<string, unknown>;
  /** Store the payload as a zlib stream (skipped when that would not be smaller). */
  compress?: boolean;
  /** Deflate level 0–12 for the PNG and the payload compression (default 6). */
  level?: number;
  /** Grid side (a power of two large enough); default the smallest that fits. */
  grid?: number;
  /** Write the band index that lets readers decode with two threads (default true). */
  bandIndex?: boolean;
  /**
   * With the band index, write the hash tree (default true): a SHA-256 of every 4 KiB block,
   * 0.8% of the payload, which lets readers check each block as they decode it.
   */
  hashTree?: boolean;
}

/** The smallest power of two with G²·4 ≥ m, at least 4; 1 for an empty stream (spec §3). */
export function gridForLength(m: number): number {
  if (m === 0) return 1;
  let g = 4;
  while (g * g * 4 < m) g *= 2;
  return g;
}

interface PreparedEncode {
  stream: Buffer;
  metadata: PixelRTSMetadata;
  grid: number;
  level: number;
}

/** A segment of a multi-file container, checked: its name, its type, and its bytes or file. */
export interface CheckedSegment {
  name: string;
  type: string;
  data?: Buffer;
  path?: string;
}

/** options.level, checked (default 6). */
export function levelOption(options: EncodeOptions, fn: string): number {
  const level = options.level ?? 6;
  if (!Number.isInteger(level) || level < 0 || level > 12) {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `${fn}: option level: expected an integer 0–12, found ${String(level)}.`);
  }
  return level;
}

/**
 * Checks a segment list: non-empty unique names, each with `data` (a Buffer) or, where
 * `allowPaths`, a `path` to read.
 */
export function checkSegments(input: SegmentInput[], fn: string, allowPaths: boolean): CheckedSegment[] {
  const seen = new Set<string>();
  return input.map((seg, i) => {
    const hasData = seg !== null && typeof seg === 'object' && Buffer.isBuffer(seg.data);
    const hasPath = allowPaths && seg !== null && typeof seg === 'object' && typeof seg.path === 'string' && seg.path !== '';
    if (!seg || typeof seg.name !== 'string' || seg.name === '' || hasData === hasPath) {
      const wanted = allowPaths ? '{name: non-empty string, data: Buffer} or {name, path: string}' : '{name: non-empty string, data: Buffer}';
      throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `${fn}: segment ${i}: expected ${wanted}` +
        `${!allowPaths && seg && typeof seg.path === 'string' ? '; a segment given by path is packed by writeContainer(), which reads the file as it goes' : ''}.`);
    }
    if (seen.has(seg.name)) throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `${fn}: segment name "${seg.name}" is used twice; names must be unique.`);
    seen.add(seg.name);
    return { name: seg.name, type: seg.type ?? classifyName(seg.name) ?? 'data', data: seg.data, path: seg.path };
  });
}

/** options.grid checked against the stream length (default: the smallest grid that holds it). */
export function gridOption(options: EncodeOptions, streamLength: number, fn: string): number {
  const needed = gridForLength(streamLength);
  const grid = options.grid ?? needed;
  if (!Number.isInteger(grid) || grid < needed || (grid & (grid - 1)) !== 0) {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT',
      `${fn}: option grid: expected a power of two ≥ ${needed} (the stream is ${streamLength} bytes), found ${String(grid)}.`);
  }
  return grid;
}

/** The user keys written into the metadata, in the original's order. */
export function userKeys(options: EncodeOptions): Record<string, unknown> {
  return { type: options.type, name: options.name, cmdline: options.cmdline, ...options.metadata };
}

/** What the native encoders take for `metadata` at `grid` and `level`. */
export function nativeEncodeOptions(metadata: PixelRTSMetadata, grid: number, level: number, options: EncodeOptions) {
  return { grid, level, texts: [{ keyword: 'PixelRTS', text: metadataText(metadata) }], bandIndex: options.bandIndex ?? true,
    hashTree: options.hashTree ?? true };
}

function prepareEncode(input: EncodeInput, options: EncodeOptions): PreparedEncode {
  const level = levelOption(options, 'encode');
  let payload: Buffer;
  let segments: Array<{ name: string; type: string; offset: number; size: number; sha256: string }> | undefined;
  if (Buffer.isBuffer(input)) {
    payload = input;
  } else if (Array.isArray(input)) {
    const checked = checkSegments(input, 'encode', false);
    let offset = 0;
    segments = checked.map((seg) => {
      const data = seg.data as Buffer;
      const entry = { name: seg.name, type: seg.type, offset, size: data.length, sha256: sha256Hex(data) };
      offset += data.length;
      return entry;
    });
    payload = Buffer.concat(checked.map((s) => s.data as Buffer));
  } else {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', 'encode: expected a Buffer or an array of {name, data} segments.');
  }
  let stream = payload;
  let compression: { level: number; compressedSize: number } | undefined;
  if (options.compress && payload.length > 0) {
    const z = native().compressZlib(payload, level);
    if (z.length < payload.length) {
      stream = z;
      compression = { level, compressedSize: z.length };
    }
  }
  const grid = gridOption(options, stream.length, 'encode');
  const metadata = buildMetadata({ payload, grid, segments, user: userKeys(options), compression });
  return { stream, metadata, grid, level };
}

function nativeOptions(p: PreparedEncode, options: EncodeOptions) {
  return nativeEncodeOptions(p.metadata, p.grid, p.level, options);
}

/**
 * Encodes a payload (or several files) as a PixelRTS v2 PNG, with metadata as the original
 * writes it plus the segment table. `readMetadata(png)` returns what was embedded.
 *
 * @example
 *   const png = encode([{ name: 'kernel', data: k }, { name: 'initrd', data: i }], { cmdline: 'console=ttyS0' });
 */
export function encode(input: EncodeInput, options: EncodeOptions = {}): Buffer {
  const p = prepareEncode(input, options);
  return native().encodePng(p.stream, nativeOptions(p, options));
}

/** Like encode, with the deflate and Hilbert scatter on a background thread. */
export async function encodeAsync(input: EncodeInput, options: EncodeOptions = {}): Promise<Buffer> {
  const p = prepareEncode(input, options);
  return native().encodePngAsync(p.stream, nativeOptions(p, options));
}

/** The embedded metadata of a PNG (first `PixelRTS` + JSON text chunk), or null when it has none. */
export function readMetadata(png: Buffer, source = 'the PNG'): PixelRTSMetadata | null {
  return findMetadata(readInfo(png, source).texts);
}
