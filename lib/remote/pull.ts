/**
 * `pull`: brings a local copy of a container up to the version at a URL by fetching only the
 * bands that changed, the job zsync and casync do for other files. Both versions' heads say
 * where each band's compressed bytes lie (lib/codec/layout.ts) and what its tiles hash to (the
 * hash tree's band hashes). A band whose hash and compressed length are the same in both is
 * copied from the local file; every other band is fetched with range requests (the remote
 * file's reader: keep-alive, retries, resume). The new file is written beside the old one and
 * renamed over it once complete, so an interrupted pull leaves the old version intact.
 *
 * The new file's IDAT chunks are framed here (same chunk size as the remote's, CRCs computed),
 * and everything in its head (band index, hash tree, metadata) is the remote's: every block of
 * it is checked against the new version's hash tree whenever it is read, as for any container,
 * and `pixelrts verify` checks it whole. With the same encoder on both sides the result is the
 * remote file byte for byte.
 */
import fs from 'node:fs';
import path from 'node:path';
import zlib from 'node:zlib';
import { PixelrtsError, type PixelrtsErrorCode } from '../errors';
import { readLayout, streamRanges, type ContainerLayout, type ReadAt } from '../codec/layout';
import { openRemoteFile, type RemoteFile } from './remote-file';

export interface PullOptions {
  /** The local copy (default: the URL's file name in the current directory). */
  output?: string;
  /** Told as the new file is written: bytes written and the total. */
  onProgress?: (done: number, total: number) => void;
  /** Where fetched blocks are kept (default $XDG_CACHE_HOME/pixelrts/remote). */
  cacheDir?: string;
  retries?: number;
  stallTimeout?: number;
}

export interface PullResult {
  url: string;
  /** The local copy, now the remote version. */
  path: string;
  /** The remote file's size. */
  size: number;
  /** Bytes received from the server (whole blocks of 256 KiB around what was needed). */
  fetched: number;
  /** Bands copied from the old local copy, and fetched. */
  bandsReused: number;
  bandsFetched: number;
  /** The local copy was already this version: nothing was written. */
  unchanged: boolean;
  /** Why the file was taken whole, when it was (no local copy of the same layout, or the remote has no band index). */
  whole?: string;
}

/** Bytes written to the new file per step (and read or fetched before it). */
const STEP = 8 << 20;

function reader(remote: RemoteFile): ReadAt {
  return async (position, length) => {
    const n = Math.max(0, Math.min(length, remote.size - position));
    const rc = await remote.handle.waitReadyAsync(position, n);
    if (rc !== 0) {
      const failure = remote.stats().failure;
      throw new PixelrtsError((failure?.code ?? 'ERR_PIXELRTS_FETCH') as PixelrtsErrorCode,
        failure?.message ?? `${remote.url}: bytes ${position}-${position + n - 1} could not be fetched.`);
    }
    return Buffer.from(remote.handle.view(position, n));
  };
}

function fileReader(fh: fs.promises.FileHandle): ReadAt {
  return async (position, length) => {
    const b = Buffer.alloc(length);
    const { bytesRead } = await fh.read(b, 0, length, position).catch((err: Error) => {
      throw new PixelrtsError('ERR_PIXELRTS_IO', `cannot read the local copy: ${err.message}.`, { cause: err });
    });
    return b.subarray(0, bytesRead);
  };
}

/** The layout of `file` when it has one pixelrts can use, else undefined (it is then replaced whole). */
async function localLayout(fh: fs.promises.FileHandle, file: string): Promise<ContainerLayout | undefined> {
  try {
    return await readLayout(fileReader(fh), (await fh.stat()).size, file);
  } catch {
    return undefined;
  }
}

/** Writes the zlib stream given in pieces as IDAT chunks of `chunk` data bytes each. */
class IdatWriter {
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  written = 0;

  constructor(private readonly fh: fs.promises.FileHandle, private position: number, private readonly chunk: number) {}

  async add(bytes: Buffer): Promise<void> {
    this.pending.push(bytes);
    this.pendingBytes += bytes.length;
    while (this.pendingBytes >= this.chunk) await this.flush(this.chunk);
  }

  /** Writes what is left as the last (shorter) chunk. */
  async end(): Promise<void> {
    if (this.pendingBytes > 0) await this.flush(this.pendingBytes);
  }

  private async flush(n: number): Promise<void> {
    const all = Buffer.concat(this.pending);
    const data = all.subarray(0, n);
    this.pending = n < all.length ? [all.subarray(n)] : [];
    this.pendingBytes = all.length - n;
    const head = Buffer.alloc(8);
    head.writeUInt32BE(n, 0);
    head.write('IDAT', 4, 'latin1');
    const crc = Buffer.alloc(4);
    crc.writeUInt32BE(zlib.crc32(data, zlib.crc32(head.subarray(4))), 0);
    for (const part of [head, data, crc]) {
      await this.fh.write(part, 0, part.length, this.position);
      this.position += part.length;
      this.written += part.length;
    }
  }
}

/**
 * Makes `options.output` the version of the container at `url`, fetching only what differs
 * from it. Errors: ERR_PIXELRTS_FETCH (the server, after the retries), ERR_PIXELRTS_FETCH_CHANGED
 * (the file changed on the server meanwhile), ERR_PIXELRTS_IO (the local file).
 */
export async function pull(url: string, options: PullOptions = {}): Promise<PullResult> {
  const remote = await openRemoteFile(url, options);
  const output = path.resolve(options.output ?? remote.name);
  const readRemote = reader(remote);
  const base = { url, path: output, size: remote.size };
  let remoteLayout: ContainerLayout | undefined;
  let whole: string | undefined;
  try {
    remoteLayout = await readLayout(readRemote, remote.size, url);
  } catch (err) {
    if (!(err instanceof PixelrtsError) || err.code !== 'ERR_PIXELRTS_LAYOUT') throw err;
    whole = err.message;
  }

  const old = fs.existsSync(output) ? await fs.promises.open(output, 'r') : undefined;
  const tmp = `${output}.pull-${process.pid}`;
  const fh = await fs.promises.open(tmp, 'w', 0o644);
  try {
    const local = old !== undefined && remoteLayout ? await localLayout(old, output) : undefined;
    const reusable = (b: number): boolean => local !== undefined && remoteLayout !== undefined &&
      local.bandOffsets.length === remoteLayout.bandOffsets.length && local.width === remoteLayout.width &&
      local.bandHashes.subarray(b * 32, b * 32 + 32).equals(remoteLayout.bandHashes.subarray(b * 32, b * 32 + 32)) &&
      local.bandOffsets[b + 1] - local.bandOffsets[b] === remoteLayout.bandOffsets[b + 1] - remoteLayout.bandOffsets[b];
    if (!remoteLayout) {
      // Taken whole, in steps, through the same reader (ranges, retries, resume).
      for (let at = 0; at < remote.size; at += STEP) {
        const bytes = await readRemote(at, Math.min(STEP, remote.size - at));
        await fh.write(bytes, 0, bytes.length, at);
        options.onProgress?.(at + bytes.length, remote.size);
      }
    } else {
      const layout = remoteLayout;
      if (!local) whole = old === undefined ? `there is no local copy at ${output}` : `${output} is not a container laid out as pixelrts writes`;
      const head = await readRemote(0, layout.headEnd);
      const bands = layout.bandOffsets.length - 1;
      if (local && bands > 0 && Array.from({ length: bands }, (_, b) => reusable(b)).every(Boolean) &&
        (await fileReader(old as fs.promises.FileHandle)(0, layout.headEnd)).equals(head) && local.size === layout.size) {
        return { ...base, fetched: remote.stats().bytesFetched, bandsReused: bands, bandsFetched: 0, unchanged: true };
      }
      await fh.write(head, 0, head.length, 0);
      const idat = new IdatWriter(fh, layout.headEnd, layout.idatChunk);
      const fetchStream = async (begin: number, end: number): Promise<Buffer> =>
        Buffer.concat(await Promise.all(streamRanges(layout, begin, end).map(([p, n]) => readRemote(p, n))));
      const copyStream = async (from: ContainerLayout, begin: number, end: number): Promise<Buffer> =>
        Buffer.concat(await Promise.all(streamRanges(from, begin, end).map(([p, n]) => fileReader(old as fs.promises.FileHandle)(p, n))));
      // The zlib header, each band (copied or fetched, consecutive fetched bands in one go),
      // then the adler32 trailer: the remote's own.
      await idat.add(await fetchStream(0, layout.bandOffsets[0]));
      let bandsReused = 0;
      for (let b = 0; b < bands;) {
        if (reusable(b)) {
          await idat.add(await copyStream(local as ContainerLayout, (local as ContainerLayout).bandOffsets[b], (local as ContainerLayout).bandOffsets[b + 1]));
          bandsReused++;
          b++;
        } else {
          let e = b + 1;
          while (e < bands && !reusable(e) && layout.bandOffsets[e + 1] - layout.bandOffsets[b] <= STEP) e++;
          await idat.add(await fetchStream(layout.bandOffsets[b], layout.bandOffsets[e]));
          b = e;
        }
        options.onProgress?.(layout.headEnd + idat.written, layout.size);
      }
      const streamEnd = layout.bandOffsets[bands] + 4;
      await idat.add(await fetchStream(layout.bandOffsets[bands], streamEnd));
      await idat.end();
      const tail = await readRemote(layout.size - 12, 12);
      await fh.write(tail, 0, 12, layout.headEnd + idat.written);
      if (layout.headEnd + idat.written + 12 !== layout.size) {
        throw new PixelrtsError('ERR_PIXELRTS_LAYOUT', `${url}: the file rebuilt is ${layout.headEnd + idat.written + 12} bytes, not ${layout.size}.`);
      }
      await fh.sync();
      fs.renameSync(tmp, output);
      return { ...base, fetched: remote.stats().bytesFetched, bandsReused, bandsFetched: bands - bandsReused, unchanged: false, ...(whole ? { whole } : {}) };
    }
    await fh.sync();
    fs.renameSync(tmp, output);
    return { ...base, fetched: remote.stats().bytesFetched, bandsReused: 0, bandsFetched: 0, unchanged: false, whole: whole ?? '' };
  } finally {
    await fh.close();
    await old?.close();
    // Gone once renamed; otherwise an unfinished or unneeded new file.
    fs.rmSync(tmp, { force: true });
  }
}
