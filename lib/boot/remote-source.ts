/**
 * A container named by an http(s) URL, made a local path for the commands and boot():
 *
 * - **On demand** (files pixelrts writes: a band index and a hash tree): the remote file is
 *   mounted as one file in a private runtime directory (lib/remote/remote-file.ts reads its
 *   blocks with range requests as they are read) and the container is opened from there with
 *   its payload decoded into the decoded cache band by band. Reading the head, the band index
 *   and the hash tree costs a few blocks; a boot then fetches only the bands the guest reads,
 *   every tile checked against the hash tree before it is served, and the next boot finds them
 *   in the cache.
 * - **Whole** otherwise (no hash tree, so the payload must be verified whole before use; or a
 *   server without ranges): fetched whole into the cache first (lib/remote/fetch.ts), and
 *   `reason` says why.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError, type PixelrtsErrorCode } from '../errors';
import type { PixelrtsWarning } from '../codec/codec';
import { open, type Container, type OpenOptions } from '../codec/container';
import { mountTable, type Mount } from '../fuse/mount';
import { fetchContainer, type FetchProgress } from '../remote/fetch';
import { openRemoteFile, type RemoteFile, type RemoteStats } from '../remote/remote-file';
import { createRuntimeDir, idBase, removeRuntimeDir, runtimeRoot, type CleanupWatcher } from './runtime-dir';

export interface RemoteSourceOptions {
  /** Warnings (the server unreachable, so the cached copy is read alone). */
  onWarning?: (message: string) => void;
  /** Progress of a whole fetch. */
  onProgress?: (p: FetchProgress) => void;
  /** Attempts after a failed request (default 5). */
  retries?: number;
  /** A response that sends nothing for this long is dropped and resumed (ms). */
  stallTimeout?: number;
  /** Where fetched bytes are kept (default $XDG_CACHE_HOME/pixelrts/remote). */
  cacheDir?: string;
  /** The container's own warnings, as open()'s onWarning receives them. */
  onContainerWarning?: (warning: PixelrtsWarning) => void;
}

export interface RemoteSource {
  url: string;
  /** The container's local path: a file in a private mount, or the fetched copy. */
  path: string;
  mode: 'on-demand' | 'whole';
  /** Why the container was fetched whole. */
  reason?: string;
  /** Options to open `path` with (the decoded cache keyed by the URL and version). */
  openOptions: OpenOptions;
  /** The container, opened from `path` with `openOptions`: use it rather than opening it again. */
  container: Container;
  /** Bytes fetched so far, requests and retries (of a whole fetch: its total). */
  stats(): RemoteStats;
  /** Unmounts and removes what on-demand reading set up (nothing for a whole fetch). */
  close(): Promise<void>;
}

/** Mounts `remote` as `<runtime dir>/mnt/<name>`, with a watcher that removes it if this process dies. */
async function mountRemote(remote: RemoteFile): Promise<{ mount: Mount; dir: string; watcher: CleanupWatcher }> {
  const { dir, watcher } = await createRuntimeDir(runtimeRoot(), `remote-${idBase(remote.name)}`);
  try {
    const mnt = path.join(dir, 'mnt');
    fs.mkdirSync(mnt, { mode: 0o700 });
    const mount = await mountTable({
      payload: remote.handle,
      files: [{ path: `/${remote.name}`, extents: [[0, remote.size]] }],
      mtimeMs: remote.mtimeMs ?? Date.now(),
      fsname: `pixelrts-remote:${remote.name}`,
    }, mnt);
    return { mount, dir, watcher };
  } catch (err) {
    removeRuntimeDir(dir);
    watcher.release();
    throw err;
  }
}

async function fetchWhole(url: string, reason: string, options: RemoteSourceOptions): Promise<RemoteSource> {
  const got = await fetchContainer(url, { ...options, onProgress: options.onProgress });
  const stats: RemoteStats = { bytesFetched: got.fetched, requests: got.retries + 1, retries: got.retries,
    blocksPresent: 1, blocks: 1, blockSize: got.size };
  const container = await open(got.path, { onWarning: options.onContainerWarning });
  return { url, path: got.path, mode: 'whole', reason, openOptions: {}, container, stats: () => stats, close: async () => undefined };
}

/**
 * The error to report for `err`, raised by a read of `remote`: the fetch's own failure (what
 * the network or the server did) when a fetch failed, since the reader saw only an I/O error.
 */
function remoteFailure(remote: { stats(): RemoteStats }, err: unknown): unknown {
  const failure = remote.stats().failure;
  if (!failure) return err;
  return new PixelrtsError(failure.code as PixelrtsErrorCode, failure.message, { cause: err });
}

/**
 * The container at `url` as a local path (see the top of this file). Close it when done; if
 * this process dies first, the mount and its directory are removed anyway.
 */
export async function openRemoteSource(url: string, options: RemoteSourceOptions = {}): Promise<RemoteSource> {
  let remote: RemoteFile;
  try {
    remote = await openRemoteFile(url, options);
  } catch (err) {
    if (err instanceof PixelrtsError && err.code === 'ERR_PIXELRTS_FETCH_NO_RANGES') {
      return fetchWhole(url, 'the server does not serve byte ranges', options);
    }
    throw err;
  }
  const { mount, dir, watcher } = await mountRemote(remote);
  const close = async (): Promise<void> => {
    await mount.unmount().catch(() => undefined);
    removeRuntimeDir(dir);
    watcher.release();
  };
  const local = path.join(mount.mountpoint, remote.name);
  const openOptions: OpenOptions = { cacheIdentity: { key: remote.identity, source: url }, readOnDemand: true };
  let container: Container;
  try {
    container = await open(local, { ...openOptions, onWarning: options.onContainerWarning });
    if (!container.verifiedReads) {
      await close();
      return fetchWhole(url, 'its blocks cannot be checked one by one (it has no hash tree, or its payload is compressed, as in files the ' +
        'original encoder writes), so the payload must be verified whole before it is used', options);
    }
  } catch (err) {
    await close();
    throw remoteFailure(remote, err);
  }
  return { url, path: local, mode: 'on-demand', openOptions, container, stats: () => remote.stats(), close };
}
