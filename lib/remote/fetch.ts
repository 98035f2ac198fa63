/**
 * Containers at an http(s) URL, fetched into the user's cache: streamed to disk (memory does
 * not grow with the file), resumed with byte ranges after a dropped connection (If-Range on the
 * server's ETag, so a file that changed meanwhile starts over), retried with backoff, and
 * revalidated on the next use (If-None-Match: a 304 costs no bytes). The file appears under its
 * final name only once complete. The container's own hashes are checked when it is opened,
 * verified or booted, as for any local file.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { PixelrtsError } from '../errors';

export interface FetchProgress {
  /** Bytes of the file on disk so far (resumed bytes included). */
  done: number;
  /** The file's size, once the server has said. */
  total?: number;
}

export interface FetchOptions {
  /** Where fetched containers are kept (default: $XDG_CACHE_HOME/pixelrts/remote). */
  cacheDir?: string;
  onProgress?: (p: FetchProgress) => void;
  /** Attempts after a failure before giving up (default 5). */
  retries?: number;
  /** A response that sends nothing for this long is dropped and retried (ms, default 30000). */
  stallTimeout?: number;
}

export interface FetchedContainer {
  /** The local copy. */
  path: string;
  /** Bytes transferred by this call (0 when the cached copy was still current). */
  fetched: number;
  size: number;
  /** The cached copy was current (the server answered 304 Not Modified). */
  cached: boolean;
  /** Attempts that failed and were retried. */
  retries: number;
}

/** True for the sources fetchContainer takes. */
export function isUrl(source: string): boolean {
  return /^https?:\/\//i.test(source);
}

/** Where containers from URLs are kept: $XDG_CACHE_HOME/pixelrts/remote (else ~/.cache/…). */
export function remoteCacheDir(): string {
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pixelrts', 'remote');
}

interface CacheMeta {
  url: string;
  etag?: string;
  lastModified?: string;
  size?: number;
}

function readMeta(file: string): CacheMeta | undefined {
  try {
    return JSON.parse(fs.readFileSync(file, 'utf8')) as CacheMeta;
  } catch {
    return undefined;
  }
}

/** Fetches (or revalidates) the container at `url`; resolves with its local copy. */
export async function fetchContainer(url: string, options: FetchOptions = {}): Promise<FetchedContainer> {
  const dir = options.cacheDir ?? remoteCacheDir();
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  const name = path.basename(new URL(url).pathname).replace(/[^A-Za-z0-9_.-]+/g, '-').slice(-64) || 'container';
  const key = crypto.createHash('sha256').update(url).digest('hex').slice(0, 16);
  const target = path.join(dir, `${key}-${name}`);
  const part = `${target}.part`;
  const metaFile = `${target}.json`;
  const retries = options.retries ?? 5;
  const stallTimeout = options.stallTimeout ?? 30_000;
  let meta = readMeta(metaFile);
  let fetched = 0;
  let failures = 0;

  for (;;) {
    const complete = fs.existsSync(target) && meta?.url === url;
    const partial = !complete && fs.existsSync(part) && meta?.url === url && meta.etag !== undefined ? fs.statSync(part).size : 0;
    const headers: Record<string, string> = {};
    if (complete && meta?.etag) headers['if-none-match'] = meta.etag;
    else if (complete && meta?.lastModified) headers['if-modified-since'] = meta.lastModified;
    if (partial > 0 && meta?.etag) {
      headers.range = `bytes=${partial}-`;
      headers['if-range'] = meta.etag;
    }
    const abort = new AbortController();
    let stall = setTimeout(() => abort.abort(new Error(`nothing arrived for ${stallTimeout} ms`)), stallTimeout);
    try {
      const res = await fetch(url, { headers, signal: abort.signal, redirect: 'follow' });
      if (res.status === 304 && complete) {
        clearTimeout(stall);
        return { path: target, fetched, size: fs.statSync(target).size, cached: true, retries: failures };
      }
      if (res.status !== 200 && res.status !== 206) {
        clearTimeout(stall);
        const err = new PixelrtsError('ERR_PIXELRTS_FETCH', `${url}: the server answered ${res.status} ${res.statusText}. Check the URL.`);
        // A client error will not change on a retry.
        if (res.status >= 400 && res.status < 500) throw Object.assign(err, { final: true });
        throw err;
      }
      const resumed = res.status === 206;
      const length = Number(res.headers.get('content-length') ?? NaN);
      const size = resumed ? Number(/\/(\d+)$/.exec(res.headers.get('content-range') ?? '')?.[1] ?? NaN) : length;
      meta = { url, ...(res.headers.get('etag') ? { etag: res.headers.get('etag') as string } : {}),
        ...(res.headers.get('last-modified') ? { lastModified: res.headers.get('last-modified') as string } : {}),
        ...(Number.isFinite(size) ? { size } : {}) };
      fs.writeFileSync(metaFile, JSON.stringify(meta));
      const out = fs.openSync(part, resumed ? 'a' : 'w', 0o600);
      let done = resumed ? partial : 0;
      try {
        if (!res.body) throw new Error('the response has no body');
        for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
          clearTimeout(stall);
          stall = setTimeout(() => abort.abort(new Error(`nothing arrived for ${stallTimeout} ms`)), stallTimeout);
          fs.writeSync(out, chunk);
          done += chunk.length;
          fetched += chunk.length;
          options.onProgress?.({ done, ...(Number.isFinite(size) ? { total: size } : {}) });
        }
      } finally {
        fs.closeSync(out);
        clearTimeout(stall);
      }
      if (Number.isFinite(size) && done !== size) throw new Error(`the connection ended after ${done} of ${size} bytes`);
      fs.renameSync(part, target);
      return { path: target, fetched, size: done, cached: false, retries: failures };
    } catch (err) {
      clearTimeout(stall);
      if ((err as { final?: boolean }).final || failures >= retries) {
        throw err instanceof PixelrtsError ? err : new PixelrtsError('ERR_PIXELRTS_FETCH',
          `${url}: ${(err as Error).message} (after ${failures + 1} attempt${failures ? 's' : ''}); check the URL and the network, then run again: what arrived is kept and resumed.`,
          { cause: err });
      }
      failures++;
      await new Promise((r) => setTimeout(r, Math.min(250 * 2 ** (failures - 1), 8000)));
    }
  }
}
