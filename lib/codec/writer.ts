/**
 * `writeContainer`: packs Buffers or files into a `.rts.png` and its sidecar, in memory that
 * does not grow with the input. Files are read twice and never held whole: once here to hash
 * them (the metadata, which precedes the image data, carries their sha256), then by the native
 * encoder, which reads each tile's run where it lies and writes the PNG band by band into an
 * unnamed file that replaces the target only when complete (native/codec/png_file_writer.h).
 * The PNG is byte for byte what `encode()` returns for the same bytes.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import fsp from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import zlib from 'node:zlib';
import './binding';
import type { StreamPiece } from './binding';
import {
  checkSegments, CheckedSegment, EncodeOptions, gridOption, levelOption, nativeEncodeOptions, userKeys,
} from './codec';
import { PixelrtsError } from '../errors';
import { buildMetadata, PixelRTSMetadata, SegmentInput, writeSidecar } from './metadata';
import { native } from '../native';

/** What writeContainer packs: one payload (a Buffer or a file) or the segments of a boot bundle. */
export type WriteInput = Buffer | { path: string } | SegmentInput[];

/** Where a long write is: hashing the inputs, compressing them (`compress`), encoding the PNG. */
export interface WriteProgress {
  phase: 'hash' | 'compress' | 'encode';
  /** Bytes of this phase done, out of total. */
  done: number;
  total: number;
}

export interface WriteOptions extends EncodeOptions {
  /** Called as the write advances (at most a few times a second per phase). */
  onProgress?: (progress: WriteProgress) => void;
}

/** One input as it was hashed: where its bytes are, their size and their sha256. */
interface HashedInput {
  segment: CheckedSegment | undefined;
  piece: StreamPiece;
  size: number;
  sha256: string;
}

const READ_CHUNK = 4 << 20;

function inputError(file: string, err: unknown): PixelrtsError {
  const e = err as NodeJS.ErrnoException;
  if (e instanceof PixelrtsError) return e;
  return new PixelrtsError(e.code === 'ENOENT' ? 'ERR_PIXELRTS_NOT_FOUND' : 'ERR_PIXELRTS_IO',
    `input ${file}: cannot read it (${e.code === 'ENOENT' ? 'no such file' : e.message}).`, { cause: err });
}

function changedError(file: string): PixelrtsError {
  return new PixelrtsError('ERR_PIXELRTS_INPUT_CHANGED',
    `input ${file} changed while it was being hashed; nothing was written. Convert it again once nothing writes to it.`);
}

/** Reports at most every 100 ms, plus the end. */
function throttled(report: ((p: WriteProgress) => void) | undefined, phase: WriteProgress['phase'], total: number) {
  let last = 0;
  return (done: number): void => {
    const now = Date.now();
    if (!report || (done < total && now - last < 100)) return;
    last = now;
    report({ phase, done, total });
  };
}

/**
 * Hashes every input (segment sha256s and the payload's data_hash in one read) and records
 * each file's size and mtime, which the encoder checks again so the hashes describe what it packs.
 */
async function hashInputs(inputs: Array<CheckedSegment | { path?: string; data?: Buffer; name?: undefined }>,
  onProgress: WriteOptions['onProgress']): Promise<{ hashed: HashedInput[]; dataHash: string; dataSize: number }> {
  const sizes: Array<{ size: number; mtimeNs: bigint } | undefined> = [];
  for (const input of inputs) {
    if (input.data) { sizes.push(undefined); continue; }
    const file = input.path as string;
    let st: fs.BigIntStats;
    try {
      st = await fsp.stat(file, { bigint: true });
    } catch (err) {
      throw inputError(file, err);
    }
    if (!st.isFile()) {
      throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `input ${file} is not a regular file; copy it into one first (for a block device: dd if=${file} of=disk.img).`);
    }
    sizes.push({ size: Number(st.size), mtimeNs: st.mtimeNs });
  }
  const total = inputs.reduce((n, input, i) => n + (input.data?.length ?? sizes[i]?.size ?? 0), 0);
  const report = throttled(onProgress, 'hash', total);
  const data = crypto.createHash('sha256');
  const hashed: HashedInput[] = [];
  let done = 0;
  report(0);
  for (const [i, input] of inputs.entries()) {
    const h = crypto.createHash('sha256');
    if (input.data) {
      h.update(input.data);
      data.update(input.data);
      done += input.data.length;
      hashed.push({ segment: input.name === undefined ? undefined : input as CheckedSegment, piece: input.data,
        size: input.data.length, sha256: h.digest('hex') });
      report(done);
      continue;
    }
    const file = input.path as string;
    const { size, mtimeNs } = sizes[i] as { size: number; mtimeNs: bigint };
    let read = 0;
    try {
      for await (const chunk of fs.createReadStream(file, { highWaterMark: READ_CHUNK })) {
        const b = chunk as Buffer;
        h.update(b);
        data.update(b);
        read += b.length;
        report(done + read);
      }
      const after = await fsp.stat(file, { bigint: true });
      if (read !== size || after.size !== BigInt(size) || after.mtimeNs !== mtimeNs) throw changedError(file);
    } catch (err) {
      throw inputError(file, err);
    }
    done += size;
    hashed.push({ segment: input.name === undefined ? undefined : input as CheckedSegment, piece: { path: file, size, mtimeNs },
      size, sha256: h.digest('hex') });
  }
  report(total);
  return { hashed, dataHash: data.digest('hex'), dataSize: total };
}

/**
 * The payload as one zlib stream in an unnamed temporary file beside the output (created,
 * then unlinked at once, so nothing is left behind whatever happens); null when it would not
 * be smaller. The encoder reads it through /proc/self/fd while the handle stays open.
 */
async function compressToTemp(hashed: HashedInput[], dataSize: number, level: number, dir: string,
  onProgress: WriteOptions['onProgress']): Promise<{ handle: fsp.FileHandle; piece: StreamPiece; size: number } | null> {
  const tmp = path.join(dir, `.pixelrts-compress.${process.pid}.${crypto.randomBytes(4).toString('hex')}.tmp`);
  const handle = await fsp.open(tmp, 'wx+', 0o600).catch((err: NodeJS.ErrnoException) => {
    throw new PixelrtsError('ERR_PIXELRTS_IO', `cannot create a temporary file in ${dir} to compress the payload (${err.message}).`, { cause: err });
  });
  try {
    await fsp.unlink(tmp);
    const report = throttled(onProgress, 'compress', dataSize);
    let done = 0;
    async function* payload(): AsyncGenerator<Buffer> {
      for (const h of hashed) {
        if (Buffer.isBuffer(h.piece)) {
          yield h.piece;
        } else {
          for await (const chunk of fs.createReadStream(h.piece.path, { highWaterMark: READ_CHUNK })) yield chunk as Buffer;
        }
      }
    }
    const counted = async function* (source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
      for await (const chunk of source) {
        done += chunk.length;
        report(done);
        yield chunk;
      }
    };
    // zlib's levels stop at 9; libdeflate's 10–12 map to zlib's best.
    await pipeline(payload(), counted, zlib.createDeflate({ level: Math.min(level, 9) }), async (source: AsyncIterable<Buffer>) => {
      for await (const chunk of source) await handle.write(chunk);
    });
    const st = await handle.stat({ bigint: true });
    if (Number(st.size) >= dataSize) {
      await handle.close();
      return null;
    }
    return { handle, piece: { path: `/proc/self/fd/${handle.fd}`, size: Number(st.size), mtimeNs: st.mtimeNs }, size: Number(st.size) };
  } catch (err) {
    await handle.close();
    if (err instanceof PixelrtsError) throw err;
    const e = err as NodeJS.ErrnoException;
    throw new PixelrtsError(e.code === 'ENOSPC' ? 'ERR_PIXELRTS_NO_SPACE' : 'ERR_PIXELRTS_IO',
      `cannot compress the payload into a temporary file in ${dir} (${e.message}).`, { cause: err });
  }
}

/**
 * Packs `input` into the container `file` and writes its sidecar `file.meta.json`; returns the
 * metadata written. Memory stays bounded whatever the inputs' size (a few bands of the image,
 * 4 MiB each at most); time is two reads of the inputs and the encode. The old `file`, if any,
 * stays whole until the new one is complete and on disk.
 *
 * @example
 *   await writeContainer('debian.rts.png', [{ name: 'kernel', path: 'vmlinuz' }, { name: 'initrd', path: 'initrd.img' },
 *     { name: 'disk', path: 'rootfs.ext4' }], { cmdline: 'root=/dev/vda console=ttyS0', onProgress: console.log });
 */
export async function writeContainer(file: string, input: WriteInput, options: WriteOptions = {}): Promise<PixelRTSMetadata> {
  const fn = 'writeContainer';
  const level = levelOption(options, fn);
  let inputs: Array<CheckedSegment | { path?: string; data?: Buffer; name?: undefined }>;
  const multi = Array.isArray(input);
  if (Buffer.isBuffer(input)) {
    inputs = [{ data: input }];
  } else if (Array.isArray(input)) {
    inputs = checkSegments(input, fn, true);
  } else if (input !== null && typeof input === 'object' && typeof (input as { path?: unknown }).path === 'string') {
    inputs = [{ path: (input as { path: string }).path }];
  } else {
    throw new PixelrtsError('ERR_PIXELRTS_ARGUMENT', `${fn}: expected a Buffer, {path}, or an array of {name, data} / {name, path} segments.`);
  }
  const target = await fsp.stat(file).catch(() => null);
  if (target?.isDirectory()) {
    throw new PixelrtsError('ERR_PIXELRTS_IO', `cannot write ${file}: EISDIR (it is a directory); name a file to write.`);
  }
  const { hashed, dataHash, dataSize } = await hashInputs(inputs, options.onProgress);
  let segments: Array<{ name: string; type: string; offset: number; size: number; sha256: string }> | undefined;
  if (multi) {
    let offset = 0;
    segments = hashed.map((h) => {
      const s = h.segment as CheckedSegment;
      const entry = { name: s.name, type: s.type, offset, size: h.size, sha256: h.sha256 };
      offset += h.size;
      return entry;
    });
  }

  let pieces: StreamPiece[] = hashed.map((h) => h.piece);
  let storedSize = dataSize;
  let compression: { level: number; compressedSize: number } | undefined;
  let compressed: fsp.FileHandle | undefined;
  try {
    if (options.compress && dataSize > 0) {
      if (pieces.every((p) => Buffer.isBuffer(p))) {
        // Already in memory: libdeflate in one call, as encode() does.
        const z = native().compressZlib(Buffer.concat(pieces as Buffer[]), level);
        if (z.length < dataSize) {
          pieces = [z];
          storedSize = z.length;
        }
      } else {
        const temp = await compressToTemp(hashed, dataSize, level, path.dirname(path.resolve(file)), options.onProgress);
        if (temp) {
          compressed = temp.handle;
          pieces = [temp.piece];
          storedSize = temp.size;
        }
      }
      if (storedSize < dataSize) compression = { level, compressedSize: storedSize };
    }
    const grid = gridOption(options, storedSize, fn);
    const metadata = buildMetadata({ dataHash, dataSize, grid, segments, user: userKeys(options), compression });
    const report = throttled(options.onProgress, 'encode', storedSize);
    await native().writePngFile(file, pieces, nativeEncodeOptions(metadata, grid, level, options), (done) => report(done));
    try {
      await writeSidecar(file, metadata);
    } catch (err) {
      throw new PixelrtsError('ERR_PIXELRTS_IO', `wrote ${file} but not its sidecar: ${(err as Error).message}.`, { cause: err });
    }
    return metadata;
  } finally {
    await compressed?.close();
  }
}
