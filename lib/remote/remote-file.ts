/**
 * A container on an HTTP(S) server, read on demand: the server is asked once for the file's
 * size and version (a one-byte range request, which also proves it serves ranges), then the
 * native reader (native/remote/remote_file.h) fetches only the blocks a read touches, with
 * range requests pinned to that version, into a sparse copy in the user's cache. The copy
 * persists: the next open reads what is there without the network, and when the server cannot
 * be reached at all the last version seen is opened from the cache alone.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write';
import { PixelrtsError } from '../errors';
import { native, type PayloadHandle } from '../native';
import { remoteCacheDir } from './fetch';
import type { RemoteStats } from './binding';
import './binding';

export type { RemoteStats } from './binding';

export interface RemoteFileOptions {
  /** Where the copy lives (default: $XDG_CACHE_HOME/pixelrts/remote). */
  cacheDir?: string;
  /** Attempts after a failed request before a read fails (default 5). */
  retries?: number;
  /** A response that sends nothing for this long is dropped and resumed (ms, default 15000). */
  stallTimeout?: number;
  /** Told when the server could not be reached and the cached copy is used alone. */
  onWarning?: (message: string) => void;
}

/** A remote file opened for reading on demand. */
export interface RemoteFile {
  url: string;
  /** The file's name, from the URL's path. */
  name: string;
  size: number;
  /** The version read: the server's strong ETag, else its Last-Modified ('' when it sends neither). */
  validator: string;
  /** Last-Modified, as a time (ms), when the server sent it. */
  mtimeMs?: number;
  /** The server could not be reached: only the blocks already in the cache can be read. */
  offline: boolean;
  /** The bytes, as a payload a mount serves (native reads, no JavaScript per read). */
  handle: PayloadHandle;
  /** A key naming this URL and version, for caches built on top (the decoded cache). */
  identity: string;
  stats(): RemoteStats;
}

/** What the cache keeps of the last version of a URL that was opened. */
interface Record {
  url: string;
  size: number;
  validator: string;
  mtimeMs?: number;
  data: string;
}

interface Probe {
  size: number;
  validator: string;
  mtimeMs?: number;
}

/** The file name a URL names (safe characters), e.g. `x.rts.png`. */
export function remoteName(url: string): string {
  const raw = path.posix.basename(new URL(url).pathname);
  let base = raw;
  try {
    base = decodeURIComponent(raw);
  } catch {
    // a malformed escape: the name as it is written
  }
  return base.replace(/[^A-Za-z0-9_.-]+/g, '-').replace(/^[-.]+/, '').slice(-96) || 'container.rts.png';
}

/** Asks for byte 0: the size from Content-Range, the version from ETag or Last-Modified. */
async function probe(url: string, timeoutMs: number): Promise<Probe> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(new Error(`no answer within ${timeoutMs} ms`)), timeoutMs);
  try {
    const res = await fetch(url, { headers: { range: 'bytes=0-0', 'accept-encoding': 'identity' }, redirect: 'follow', signal: abort.signal });
    await res.body?.cancel().catch(() => undefined);
    if (res.status === 200) {
      throw new PixelrtsError('ERR_PIXELRTS_FETCH_NO_RANGES',
        `${url}: the server does not serve byte ranges (it answered a range request with the whole file), so the container cannot be read on demand from it; fetch it whole instead.`);
    }
    if (res.status !== 206) {
      const err = new PixelrtsError('ERR_PIXELRTS_FETCH', `${url}: the server answered ${res.status} ${res.statusText}. Check the URL.`);
      throw Object.assign(err, { final: res.status >= 400 && res.status < 500 });
    }
    const size = Number(/\/(\d+)\s*$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN);
    if (!Number.isSafeInteger(size) || size <= 0) {
      throw Object.assign(new PixelrtsError('ERR_PIXELRTS_FETCH',
        `${url}: the server did not say how big the file is (Content-Range: ${res.headers.get('content-range') ?? 'none'}), so it cannot be read on demand.`), { final: true });
    }
    const etag = res.headers.get('etag') ?? '';
    const lastModified = res.headers.get('last-modified') ?? '';
    const mtime = lastModified ? Date.parse(lastModified) : NaN;
    // A weak ETag cannot pin byte ranges (RFC 9110 §13.1.5); Last-Modified can.
    const validator = etag && !etag.startsWith('W/') ? etag : lastModified;
    return { size, validator, ...(Number.isFinite(mtime) ? { mtimeMs: mtime } : {}) };
  } finally {
    clearTimeout(timer);
  }
}

function readRecord(file: string): Record | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(file, 'utf8')) as Record;
    return typeof r.size === 'number' && typeof r.validator === 'string' && typeof r.data === 'string' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Opens the file at `url` for reading on demand. Errors: ERR_PIXELRTS_FETCH (the server could
 * not be reached on any attempt and nothing is cached, or it answered an error),
 * ERR_PIXELRTS_FETCH_NO_RANGES (it does not serve ranges: fetch the file whole),
 * ERR_PIXELRTS_DEPENDENCY (no libcurl).
 */
export async function openRemoteFile(url: string, options: RemoteFileOptions = {}): Promise<RemoteFile> {
  const dir = options.cacheDir ?? remoteCacheDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const urlKey = crypto.createHash('sha256').update(url).digest('hex').slice(0, 16);
  const recordFile = path.join(dir, `${urlKey}.lazy.json`);
  const retries = options.retries ?? 5;
  const stallTimeout = options.stallTimeout ?? 15_000;
  const known = readRecord(recordFile);

  let found: Probe | undefined;
  let offline = false;
  for (let failures = 0; found === undefined;) {
    try {
      found = await probe(url, stallTimeout);
    } catch (err) {
      const final = err instanceof PixelrtsError && (err.code === 'ERR_PIXELRTS_FETCH_NO_RANGES' || (err as { final?: boolean }).final);
      if (final) throw err;
      if (failures >= Math.min(retries, 2) && known) {
        // Unreachable: the last version seen, from the cache alone.
        options.onWarning?.(`${url}: the server cannot be reached (${(err as Error).message}); reading the copy cached earlier (${known.validator || 'no version'}), which has only the parts read before.`);
        found = { size: known.size, validator: known.validator, ...(known.mtimeMs !== undefined ? { mtimeMs: known.mtimeMs } : {}) };
        offline = true;
        break;
      }
      if (failures >= retries) {
        throw new PixelrtsError('ERR_PIXELRTS_FETCH',
          `${url}: ${(err as Error).message} (after ${failures + 1} attempts); check the URL and the network, then run again.`, { cause: err });
      }
      failures++;
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (failures - 1), 8000)));
    }
  }
  const identity = crypto.createHash('sha256').update(`${url}\n${found.validator}\n${found.size}`).digest('hex').slice(0, 32);
  const data = path.join(dir, `${urlKey}-${identity.slice(0, 16)}.data`);
  if (known && known.data !== path.basename(data)) {
    // A new version: the old one's blocks can never be read again.
    for (const f of [known.data, `${known.data}.blocks`]) fs.rmSync(path.join(dir, f), { force: true });
  }
  const record: Record = { url, size: found.size, validator: found.validator, ...(found.mtimeMs !== undefined ? { mtimeMs: found.mtimeMs } : {}), data: path.basename(data) };
  await writeFileAtomic(recordFile, `${JSON.stringify(record)}\n`, 0o600, { durable: false });
  const handle = native().openRemote({
    url, cachePath: data, size: found.size, validator: found.validator, retries,
    stallSeconds: Math.max(1, Math.round(stallTimeout / 1000)),
  });
  return {
    url, name: remoteName(url), size: found.size, validator: found.validator, offline, handle, identity,
    ...(found.mtimeMs !== undefined ? { mtimeMs: found.mtimeMs } : {}),
    stats: () => native().remoteStats(handle),
  };
}

/** One container read from a URL, as `pixelrts cache` lists it. */
export interface RemoteCacheEntry {
  url: string;
  size: number;
  validator: string;
  /** Bytes of it fetched and kept (its sparse copy's space on disk, with the block map). */
  diskBytes: number;
}

const diskUse = (file: string): number => {
  try {
    return fs.statSync(file).blocks * 512;
  } catch {
    return 0;
  }
};

/** The containers read on demand whose blocks are in `dir`. */
export function listRemoteCache(dir = remoteCacheDir()): RemoteCacheEntry[] {
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  return names.filter((n) => n.endsWith('.lazy.json')).flatMap((n) => {
    const r = readRecord(path.join(dir, n));
    if (!r) return [];
    const data = path.join(dir, r.data);
    return [{ url: r.url, size: r.size, validator: r.validator, diskBytes: diskUse(data) + diskUse(`${data}.blocks`) + diskUse(path.join(dir, n)) }];
  });
}

/**
 * Removes block copies no record names (left by a process killed while a new version replaced
 * an old one), or with `all` every container read on demand. A process still reading one keeps
 * its open files; the space is freed when it closes them.
 */
export function pruneRemoteCache(options: { all?: boolean; dir?: string } = {}): RemoteCacheEntry[] {
  const dir = options.dir ?? remoteCacheDir();
  const removed = options.all ? listRemoteCache(dir) : [];
  const names = fs.existsSync(dir) ? fs.readdirSync(dir) : [];
  const named = new Set(names.filter((n) => n.endsWith('.lazy.json')).map((n) => readRecord(path.join(dir, n))?.data).filter(Boolean));
  for (const n of names) {
    const data = n.replace(/\.blocks$/, '');
    const ours = /^[0-9a-f]{16}-[0-9a-f]{16}\.data(\.blocks)?$/.test(n) || (options.all === true && n.endsWith('.lazy.json'));
    if (ours && (options.all === true || !named.has(data))) fs.rmSync(path.join(dir, n), { force: true });
  }
  return removed;
}
