/** `pixelrts cache [list|prune]`: the decoded cache of large containers. */
import { parseArgs } from '../args';
import { printable } from '../printable';
import { tableLines } from '../table';
import { formatBytes } from '../../format';
import { CacheEntry, decodedCacheDir, listCacheEntries, pruneCache } from '../../codec/decoded-cache';
import { listRemoteCache, pruneRemoteCache, type RemoteCacheEntry } from '../../remote/remote-file';
import { remoteCacheDir } from '../../remote/fetch';
import { UsageError } from '../../errors';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts cache [list] [--json]
       pixelrts cache prune [--all] [--json]

Large containers pixelrts wrote (payloads of 64 MiB and more) are decoded on demand into the
decoded cache, so they are read, mounted and booted in bounded memory and a second read costs
no decode. The cache is $PIXELRTS_CACHE_DIR, else $XDG_CACHE_HOME/pixelrts/decoded
(~/.cache/pixelrts/decoded).

Containers read on demand from URLs keep the blocks fetched in
$XDG_CACHE_HOME/pixelrts/remote, listed and pruned with them.

  list    each entry: its container, how much of its payload is decoded (space on disk),
          and whether it is current or stale (the container changed or is gone); then each
          URL read on demand and how much of it was fetched
  prune   removes the stale entries (and blocks of versions no longer read); --all removes
          every entry and every URL's blocks

Options:
  --all    with prune: every entry, current ones too
  --json   one NDJSON event per entry: {"type":"entry" (list) or "removed" (prune),
           "time":…, key, status, container, diskBytes, payloadSize, …}; per URL
           {"type":"remote" (list) or "removed-remote" (prune), url, size, validator, diskBytes}`;

/** The URLs read on demand and what of them is kept, before the decoded cache's table. */
function printRemote(remote: RemoteCacheEntry[]): void {
  if (remote.length === 0) return;
  const rows = remote.map((r) => [`${formatBytes(r.diskBytes)} / ${formatBytes(r.size)}`, printable(r.url)]);
  process.stdout.write(`${tableLines([['FETCHED / SIZE', 'URL'], ...rows]).join('\n')}\n` +
    `${remote.length} URL${remote.length === 1 ? '' : 's'} read on demand, blocks in ${remoteCacheDir()}\n\n`);
}

function row(e: CacheEntry): string[] {
  return [e.key, e.status, `${formatBytes(e.diskBytes)} / ${formatBytes(e.payloadSize)}`, `${printable(e.container)}${e.transposed ? ' (legacy transposed curve)' : ''}`];
}

export const cache: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { all: { type: 'boolean' }, json: { type: 'boolean' } }, { maxPositionals: 1 });
    const action = positionals[0] ?? 'list';
    if (action !== 'list' && action !== 'prune') throw new UsageError(`unknown action "${action}": expected list or prune.`);
    if (options.all && action !== 'prune') throw new UsageError('--all goes with prune.');
    const dir = decodedCacheDir();
    if (action === 'list') {
      const entries = await listCacheEntries(dir);
      const remote = listRemoteCache();
      if (options.json) {
        const events = new EventWriter();
        for (const e of entries) events.write('entry', { ...e });
        for (const r of remote) events.write('remote', { ...r });
        return 0;
      }
      printRemote(remote);
      if (entries.length === 0) {
        process.stdout.write(`the decoded cache (${dir}) is empty\n`);
      } else {
        const total = entries.reduce((n, e) => n + e.diskBytes, 0);
        process.stdout.write(`${tableLines([['KEY', 'STATUS', 'DECODED / PAYLOAD', 'CONTAINER'], ...entries.map(row)]).join('\n')}\n` +
          `${entries.length} entries, ${formatBytes(total)} on disk in ${dir}\n`);
      }
      return 0;
    }
    const removed = await pruneCache({ all: options.all, dir });
    const removedRemote = pruneRemoteCache({ all: options.all });
    if (options.json) {
      const events = new EventWriter();
      for (const e of removed) events.write('removed', { ...e });
      for (const r of removedRemote) events.write('removed-remote', { ...r });
    } else {
      const freed = [...removed, ...removedRemote].reduce((n, e) => n + e.diskBytes, 0);
      process.stdout.write(`removed ${removed.length} ${options.all ? '' : 'stale '}entr${removed.length === 1 ? 'y' : 'ies'}` +
        `${options.all ? ` and the blocks of ${removedRemote.length} URL${removedRemote.length === 1 ? '' : 's'}` : ''}, ${formatBytes(freed)} freed\n`);
    }
    return 0;
  },
};
