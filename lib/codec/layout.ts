/**
 * Where things lie in a container file pixelrts wrote, read from its head only: the chunks
 * before the image data, the band index (where each band's deflate data starts in the zlib
 * stream), the hash tree's band hashes, and the IDAT run (chunks of one size up to IEND). With
 * it a band's compressed bytes can be found in the file without reading the rest: what `pull`
 * needs to compare two versions band by band and fetch only the bands that differ.
 * docs/codec-format.md describes the chunks.
 */
import { PixelrtsError } from '../errors';

/** Reads `length` bytes at `position` (fewer only at the end of the file). */
export type ReadAt = (position: number, length: number) => Promise<Buffer>;

export interface ContainerLayout {
  /** The file's size. */
  size: number;
  /** Offset of the first IDAT chunk: everything before it is the head. */
  headEnd: number;
  width: number;
  height: number;
  /** Where band i's deflate data starts in the zlib stream (band count + 1 entries; the last: the adler32 trailer). */
  bandOffsets: number[];
  /** SHA-256 of each band's tiles (the hash tree's band hashes), band count × 32 bytes. */
  bandHashes: Buffer;
  /** Data bytes of every IDAT chunk but the last. */
  idatChunk: number;
}

const SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
/** A header, the hash tree's 16-byte header and the band index stay far below this. */
const MAX_INDEX_CHUNK = 64 << 20;

function notLaidOut(name: string, why: string): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_LAYOUT', `${name}: ${why}, so its bands cannot be found from its head (only files pixelrts writes can).`);
}

/**
 * The layout of the container `name` of `size` bytes, read through `readAt`. Throws
 * ERR_PIXELRTS_LAYOUT when the file is not laid out as pixelrts writes (no band index or hash
 * tree, IDAT chunks of varying size): such a file can only be taken whole.
 */
export async function readLayout(readAt: ReadAt, size: number, name: string): Promise<ContainerLayout> {
  const exact = async (position: number, length: number): Promise<Buffer> => {
    const b = await readAt(position, length);
    if (b.length !== length) throw notLaidOut(name, `it ends at byte ${position + b.length}, inside a chunk`);
    return b;
  };
  if (!(await exact(0, 8)).equals(SIGNATURE)) throw notLaidOut(name, 'it is not a PNG file');
  let width = 0;
  let height = 0;
  let offsets: number[] | undefined;
  let tree: { data: number; length: number } | undefined;
  let pos = 8;
  for (;;) {
    const header = await exact(pos, 8);
    const length = header.readUInt32BE(0);
    const type = header.toString('latin1', 4, 8);
    if (type === 'IDAT') break;
    if (type === 'IEND' || pos + 12 + length > size) throw notLaidOut(name, 'it has no image data');
    if (type === 'IHDR' || type === 'pxBI') {
      if (length > MAX_INDEX_CHUNK) throw notLaidOut(name, `its ${type} chunk is ${length} bytes`);
      const data = await exact(pos + 8, length);
      if (type === 'IHDR') {
        width = data.readUInt32BE(0);
        height = data.readUInt32BE(4);
      } else {
        const count = data.readUInt32BE(8);
        if (data.readUInt32BE(0) !== 1 || length !== 12 + (count + 1) * 8) throw notLaidOut(name, 'its band index is not version 1');
        offsets = Array.from({ length: count + 1 }, (_, i) => Number(data.readBigUInt64BE(12 + i * 8)));
      }
    } else if (type === 'pxHT') {
      tree = { data: pos + 8, length };
    }
    pos += 12 + length;
  }
  if (!offsets) throw notLaidOut(name, 'it has no band index');
  if (!tree) throw notLaidOut(name, 'it has no hash tree');
  const treeHead = await exact(tree.data, 16);
  const bands = treeHead.readUInt32BE(8);
  const tilesPerBand = treeHead.readUInt32BE(12);
  const bandHashesAt = 16 + bands * tilesPerBand * 32;
  if (bands !== offsets.length - 1 || bandHashesAt + bands * 32 + 32 !== tree.length) {
    throw notLaidOut(name, 'its hash tree does not match its band index');
  }
  const bandHashes = await exact(tree.data + bandHashesAt, bands * 32);
  // The IDAT run: chunks of the first one's size, the last shorter, then IEND (12 bytes).
  const idatChunk = (await exact(pos, 4)).readUInt32BE(0);
  const streamSize = offsets[offsets.length - 1] + 4;
  const chunks = Math.max(1, Math.ceil(streamSize / idatChunk));
  if (idatChunk === 0 || pos + chunks * 12 + streamSize + 12 !== size) throw notLaidOut(name, 'its IDAT chunks are not of one size');
  return { size, headEnd: pos, width, height, bandOffsets: offsets, bandHashes, idatChunk };
}

/** The file ranges ([position, length]) holding bytes [begin, end) of the zlib stream. */
export function streamRanges(layout: ContainerLayout, begin: number, end: number): Array<[number, number]> {
  const ranges: Array<[number, number]> = [];
  for (let at = begin; at < end;) {
    const chunk = Math.floor(at / layout.idatChunk);
    const within = at - chunk * layout.idatChunk;
    const take = Math.min(end - at, layout.idatChunk - within);
    ranges.push([layout.headEnd + chunk * (layout.idatChunk + 12) + 8 + within, take]);
    at += take;
  }
  return ranges;
}
