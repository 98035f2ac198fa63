/**
 * Infinite Map v2 (spec §9): a multi-file layout on the same pixel mapping, written by the
 * original's infinite_map_v2.py. The pixel byte stream starts with a superblock; each file is
 * a list of 4 KiB clusters named by grid coordinates in the VAT (tEXt `InfiniteMap-VAT`); a
 * JSON manifest in the last 64 KiB of the stream gives each file's size.
 *
 * A cluster at grid coordinate (x, y) starts at pixel index xy2d(G, x, y), i.e. byte
 * 4·xy2d(G, x, y) of the stream, and runs on along the curve for its 4096 bytes (checked
 * against vector e2_infinite_map_vat).
 */
import { PixelrtsError } from '../errors';
import { classifyName } from './metadata';

export const SUPERBLOCK_MAGIC = 'INFIN2\0';
export const VAT_KEYWORD = 'InfiniteMap-VAT';
/** The manifest lives in this many bytes at the end of the stream. */
export const MANIFEST_AREA = 64 * 1024;

/** The fixed fields of the superblock (little-endian, from byte 7). */
export interface Superblock {
  version: number;
  gridSize: number;
  clusterSize: number;
  vatOffset: number;
  vatSize: number;
  center: [number, number];
}

/** One file of an Infinite Map: its clusters as [offset, length] extents of the stream. */
export interface MapFile {
  name: string;
  type: string;
  size: number;
  extents: Array<[number, number]>;
}

export interface InfiniteMap {
  superblock: Superblock;
  /** The VAT object as parsed (format, version, entries, …). */
  vat: Record<string, unknown>;
  files: MapFile[];
}

/** Inverse of the spec's d2xy: the Hilbert index of (x, y) on an n×n grid. */
export function xy2d(n: number, x: number, y: number): number {
  let d = 0;
  for (let s = n >> 1; s > 0; s >>= 1) {
    const rx = (x & s) !== 0 ? 1 : 0;
    const ry = (y & s) !== 0 ? 1 : 0;
    d += s * s * ((3 * rx) ^ ry);
    // Undo this level's rotation on the lower bits, as d2xy applied it on the way up.
    x &= s - 1;
    y &= s - 1;
    if (ry === 0) {
      if (rx === 1) { x = s - 1 - x; y = s - 1 - y; }
      const t = x; x = y; y = t;
    }
  }
  return d;
}

/** True when the PNG's text chunks or metadata mark it as an Infinite Map. */
export function isInfiniteMap(texts: Array<{ keyword: string }>, metadataType: unknown): boolean {
  return metadataType === 'infinite-map-v2' || texts.some((t) => t.keyword === VAT_KEYWORD);
}

function vatError(source: string, what: string): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_VAT', `${source}: Infinite Map: ${what}`);
}

/** Reads the superblock at the start of the stream; throws ERR_PIXELRTS_VAT when it is not one. */
export function parseSuperblock(stream: Buffer, grid: number, source: string): Superblock {
  if (stream.length < 31 || stream.toString('latin1', 0, 7) !== SUPERBLOCK_MAGIC) {
    throw vatError(source, `expected the superblock magic "INFIN2\\0" at the start of the pixel stream, found ${JSON.stringify(stream.toString('latin1', 0, 7))}.`);
  }
  const sb: Superblock = {
    version: stream.readUInt16LE(7),
    gridSize: stream.readUInt16LE(9),
    clusterSize: stream.readUInt32LE(11),
    vatOffset: stream.readUInt32LE(15),
    vatSize: stream.readUInt32LE(19),
    center: [stream.readUInt16LE(23), stream.readUInt16LE(25)],
  };
  // A u16 cannot hold 65536: a grid that large would read as 0.
  if (sb.gridSize !== grid % 65536) throw vatError(source, `superblock grid_size ${sb.gridSize} differs from the image's ${grid}x${grid}.`);
  if (sb.clusterSize === 0 || sb.clusterSize % 4 !== 0 || sb.clusterSize > stream.length) {
    throw vatError(source, `superblock cluster size: expected a positive multiple of 4 within the ${stream.length}-byte stream, found ${sb.clusterSize}.`);
  }
  return sb;
}

function parseJsonObject(text: string): Record<string, unknown> | null {
  try {
    const v: unknown = JSON.parse(text);
    return typeof v === 'object' && v !== null && !Array.isArray(v) ? (v as Record<string, unknown>) : null;
  } catch {
    return null;
  }
}

/** The text up to the first NUL of `bytes`. */
function cString(bytes: Buffer): string {
  const nul = bytes.indexOf(0);
  return bytes.toString('utf8', 0, nul < 0 ? bytes.length : nul);
}

/**
 * Parses an Infinite Map from its text chunks and its whole pixel byte stream (G²·4 bytes):
 * superblock, VAT (the tEXt chunk, else the copy the superblock points to), manifest sizes.
 * Every extent is checked to lie within the stream. `warn` receives recoverable oddities.
 */
export function parseInfiniteMap(texts: Array<{ keyword: string; text: string }>, stream: Buffer, grid: number,
  source: string, warn: (message: string) => void): InfiniteMap {
  const superblock = parseSuperblock(stream, grid, source);
  let vat: Record<string, unknown> | null = null;
  for (const t of texts) {
    if (t.keyword === VAT_KEYWORD && (vat = parseJsonObject(t.text)) !== null) break;
  }
  if (vat === null) {
    const { vatOffset, vatSize } = superblock;
    if (vatOffset + vatSize > stream.length) {
      throw vatError(source, `no ${VAT_KEYWORD} text chunk, and the superblock's VAT [${vatOffset}, +${vatSize}) lies outside the ${stream.length}-byte stream.`);
    }
    vat = parseJsonObject(cString(stream.subarray(vatOffset, vatOffset + vatSize)));
    if (vat === null) throw vatError(source, `no ${VAT_KEYWORD} text chunk, and the superblock's VAT at byte ${vatOffset} is not a JSON object.`);
  }
  const entries = vat.entries;
  if (typeof entries !== 'object' || entries === null || Array.isArray(entries)) {
    throw vatError(source, `VAT field "entries": expected an object mapping file names to cluster lists, found ${JSON.stringify(entries)}.`);
  }

  const sizes = new Map<string, number>();
  const manifestArea = stream.subarray(Math.max(0, stream.length - MANIFEST_AREA));
  const manifest = parseJsonObject(cString(manifestArea));
  if (manifest !== null && Array.isArray(manifest.files)) {
    for (const f of manifest.files as unknown[]) {
      const rec = f as { name?: unknown; size?: unknown };
      if (typeof rec?.name === 'string' && typeof rec.size === 'number' && Number.isSafeInteger(rec.size) && rec.size >= 0) {
        sizes.set(rec.name, rec.size);
      }
    }
  } else {
    warn(`${source}: Infinite Map: no file manifest in the last 64 KiB of the stream; file sizes are rounded up to whole clusters.`);
  }

  const cs = superblock.clusterSize;
  const files: MapFile[] = [];
  for (const [name, list] of Object.entries(entries as Record<string, unknown>)) {
    if (!Array.isArray(list) || !list.every((c) => Array.isArray(c) && c.length === 2 &&
        c.every((v) => Number.isInteger(v) && v >= 0 && v < grid))) {
      throw vatError(source, `VAT entry "${name}": expected a list of [x, y] cluster coordinates within 0..${grid - 1}, found ${JSON.stringify(list).slice(0, 80)}.`);
    }
    const coords = list as Array<[number, number]>;
    const size = sizes.get(name) ?? coords.length * cs;
    if (size > coords.length * cs) {
      throw vatError(source, `file "${name}" is ${size} bytes (manifest) but the VAT lists only ${coords.length} cluster(s) of ${cs} bytes.`);
    }
    const extents: Array<[number, number]> = [];
    for (let i = 0; i * cs < size; i++) {
      const offset = xy2d(grid, coords[i][0], coords[i][1]) * 4;
      const length = Math.min(cs, size - i * cs);
      if (offset + length > stream.length) {
        throw vatError(source, `file "${name}" cluster ${i} at (${coords[i][0]}, ${coords[i][1]}) runs past the end of the stream (byte ${offset + length} > ${stream.length}).`);
      }
      extents.push([offset, length]);
    }
    files.push({ name, type: classifyName(name) ?? 'file', size, extents });
  }
  return { superblock, vat, files };
}
