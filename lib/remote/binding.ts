/**
 * The remote part's native binding (native/remote/): a file on an HTTP(S) server as a
 * PayloadHandle whose ranges are fetched on demand into a sparse copy in the cache.
 */
export interface OpenRemoteOptions {
  url: string;
  /** The sparse copy (`KEY.data`); its block map is `KEY.data.blocks`. */
  cachePath: string;
  /** The file's size, as the server said. */
  size: number;
  /** The version every request pins with If-Range: a strong ETag, else Last-Modified; '' for none. */
  validator?: string;
  retries?: number;
  stallSeconds?: number;
  connectTimeoutMs?: number;
  backoffMs?: number;
}

/** What a remote file has cost so far. */
export interface RemoteStats {
  /** Body bytes received from the server. */
  bytesFetched: number;
  /** Range requests sent (retries included). */
  requests: number;
  /** Requests that repeated a failed one. */
  retries: number;
  /** Blocks of the file in the cache (fetched now or by an earlier run). */
  blocksPresent: number;
  blocks: number;
  blockSize: number;
  /** The last fetch that failed, if one did. */
  failure?: { code: string; message: string };
}

import '../native';

declare module '../native' {
  interface NativeAddon {
    openRemote(options: OpenRemoteOptions): PayloadHandle;
    remoteStats(handle: PayloadHandle): RemoteStats;
  }
}
