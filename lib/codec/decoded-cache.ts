/**
 * The decoded cache: where the payloads of large containers are decoded to, band by band and
 * on demand (native/codec/decoded_cache.h), so reading, verifying, mounting and booting them
 * takes memory for a band or two instead of the whole payload, and a second open reads what
 * the first decoded at disk speed.
 *
 * An entry is three files in the cache directory, named by a key made of the container file's
 * identity (device, inode, size, modification time), so a container that is replaced or
 * changed never reads another's bytes: `KEY.payload` (the decoded payload, sparse until
 * filled), `KEY.payload.bands` (which bands are in), `KEY.json` (what it belongs to, for
 * `pixelrts cache`) and, once a verify() has hashed the whole entry against the container's
 * data_hash, `KEY.verified` (that hash).
 */
import crypto from 'node:crypto';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { writeFileAtomic } from '../atomic-write';

/** Payloads from this size up are decoded into the cache; smaller ones are decoded in memory. */
export const DISK_CACHE_MIN = 64 * 1024 * 1024;

/** What `KEY.json` records about an entry. */
export interface CacheEntryInfo {
  /** The container's absolute path when the entry was made. */
  container: string;
  /** The container file's size and modification time (ns) then: the entry is stale when they differ. */
  size: number;
  mtimeNs: string;
  dev: number;
  ino: number;
  payloadSize: number;
  /** The entry holds the payload read along the legacy transposed curve (see Container). */
  transposed?: boolean;
  /**
   * For a container read from a URL: the URL. The entry is then keyed by the URL and the version
   * the server named (the local path is a mount that changes every run), and counts as current
   * until `pixelrts cache prune --all`.
   */
  remote?: string;
  created: string;
}

/** `PIXELRTS_CACHE_DIR`, else `$XDG_CACHE_HOME/pixelrts/decoded`, else `~/.cache/pixelrts/decoded`. */
export function decodedCacheDir(): string {
  if (process.env.PIXELRTS_CACHE_DIR) return path.resolve(process.env.PIXELRTS_CACHE_DIR);
  const base = process.env.XDG_CACHE_HOME || path.join(os.homedir(), '.cache');
  return path.join(base, 'pixelrts', 'decoded');
}

/** What names a container other than its file's identity: a URL and the version it served. */
export interface CacheIdentity {
  /** Unique for the bytes (e.g. a hash of the URL, the server's ETag and the size). */
  key: string;
  /** Shown as the entry's container (the URL). */
  source: string;
}

/**
 * The data file of the cache entry for the container at `pngPath` (created with its
 * description when new). The directory is made private (0700): decoded payloads are the
 * user's data.
 */
export async function cacheEntryFor(pngPath: string, payloadSize: number, dir = decodedCacheDir(),
  options: { transposed?: boolean; identity?: CacheIdentity } = {}): Promise<string> {
  const st = await fs.stat(pngPath, { bigint: true });
  const identity = { dev: Number(st.dev), ino: Number(st.ino), size: Number(st.size), mtimeNs: st.mtimeNs.toString() };
  const curve = options.transposed ? { transposed: true } : {};
  const keyed = options.identity ? { identity: options.identity.key } : identity;
  const key = crypto.createHash('sha256').update(JSON.stringify({ ...keyed, payloadSize, ...curve })).digest('hex').slice(0, 32);
  await fs.mkdir(dir, { recursive: true, mode: 0o700 });
  const description = path.join(dir, `${key}.json`);
  const exists = await fs.stat(description).then(() => true, () => false);
  if (!exists) {
    const info: CacheEntryInfo = { container: options.identity?.source ?? path.resolve(pngPath), ...identity, payloadSize, ...curve,
      ...(options.identity ? { remote: options.identity.source } : {}), created: new Date().toISOString() };
    // Not flushed to disk: the entry is a cache, and one that loses its description is pruned.
    await writeFileAtomic(description, `${JSON.stringify(info, null, 2)}\n`, 0o600, { durable: false });
  }
  return path.join(dir, `${key}.payload`);
}

/** Records that the whole entry whose data file is `entry` matched `dataHash`. */
export async function markVerified(entry: string, dataHash: string): Promise<void> {
  await writeFileAtomic(entry.replace(/\.payload$/, '.verified'), `${dataHash}\n`, 0o600, { durable: false });
}

/** Whether the entry was recorded as matching `dataHash` (see markVerified). */
export async function wasVerified(entry: string, dataHash: string): Promise<boolean> {
  const text = await fs.readFile(entry.replace(/\.payload$/, '.verified'), 'utf8').catch(() => '');
  return text.trim() === dataHash;
}

/** One entry of the decoded cache, as `pixelrts cache` lists it. */
export interface CacheEntry extends CacheEntryInfo {
  key: string;
  /** Bytes of the entry on disk (its data file is sparse: only decoded bands take space). */
  diskBytes: number;
  /** 'current' while the container is there unchanged; 'stale' when it changed or is gone. */
  status: 'current' | 'stale';
}

async function diskUse(file: string): Promise<number> {
  const st = await fs.stat(file).catch(() => null);
  return st ? st.blocks * 512 : 0;
}

/** The entries in `dir`, oldest first. Files that belong to no described entry are ignored. */
export async function listCacheEntries(dir = decodedCacheDir()): Promise<CacheEntry[]> {
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  const entries: CacheEntry[] = [];
  for (const name of names) {
    if (!/^[0-9a-f]{32}\.json$/.test(name)) continue;
    const key = name.slice(0, 32);
    let info: CacheEntryInfo;
    try {
      info = JSON.parse(await fs.readFile(path.join(dir, name), 'utf8')) as CacheEntryInfo;
    } catch {
      continue;  // being written by another process, or not ours
    }
    const st = info.remote ? null : await fs.stat(info.container, { bigint: true }).catch(() => null);
    const current = info.remote !== undefined || st !== null && Number(st.dev) === info.dev && Number(st.ino) === info.ino &&
      Number(st.size) === info.size && st.mtimeNs.toString() === info.mtimeNs;
    const payload = path.join(dir, `${key}.payload`);
    const diskBytes = (await diskUse(payload)) + (await diskUse(`${payload}.bands`)) + (await diskUse(path.join(dir, `${key}.verified`))) +
      (await diskUse(path.join(dir, name)));
    entries.push({ ...info, key, diskBytes, status: current ? 'current' : 'stale' });
  }
  return entries.sort((a, b) => a.created.localeCompare(b.created));
}

/**
 * Removes stale entries (their container changed or is gone), or every entry with `all`.
 * A process still reading an entry keeps its open files; the space is freed when it closes them.
 */
export async function pruneCache(options: { all?: boolean; dir?: string } = {}): Promise<CacheEntry[]> {
  const dir = options.dir ?? decodedCacheDir();
  const removed: CacheEntry[] = [];
  for (const e of await listCacheEntries(dir)) {
    if (!options.all && e.status === 'current') continue;
    // The description goes last: an entry without one is invisible, never half-described.
    for (const f of [`${e.key}.payload`, `${e.key}.payload.bands`, `${e.key}.verified`, `${e.key}.json`]) {
      await fs.rm(path.join(dir, f), { force: true });
    }
    removed.push(e);
  }
  // Data files whose description was lost (a crash before it reached the disk) belong to no
  // entry anyone can find again: descriptions are written before their data files.
  const names = await fs.readdir(dir).catch(() => [] as string[]);
  for (const name of names) {
    const m = /^([0-9a-f]{32})\.(payload|payload\.bands|verified)$/.exec(name);
    if (m && !names.includes(`${m[1]}.json`)) await fs.rm(path.join(dir, name), { force: true });
  }
  return removed;
}
