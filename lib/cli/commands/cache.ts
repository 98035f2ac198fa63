/** `pixelrts cache [list|prune]`: the decoded cache of large containers. */
import { parseArgs } from '../args';
import { printable } from '../printable';
import { tableLines } from '../table';
import { formatBytes } from '../../format';
import { CacheEntry, decodedCacheDir, listCacheEntries, pruneCache } from '../../codec/decoded-cache';
import { UsageError } from '../../errors';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts cache [list] [--json]
       pixelrts cache prune [--all] [--json]

Large containers pixelrts wrote (payloads of 64 MiB and more) are decoded on demand into the
decoded cache, so they are read, mounted and booted in bounded memory and a second read costs
no decode. The cache is $PIXELRTS_CACHE_DIR, else $XDG_CACHE_HOME/pixelrts/decoded
(~/.cache/pixelrts/decoded).

  list    each entry: its container, how much of its payload is decoded (space on disk),
          and whether it is current or stale (the container changed or is gone)
  prune   removes the stale entries; --all removes every entry

Options:
  --all    with prune: every entry, current ones too
  --json   one NDJSON event per entry: {"type":"entry" (list) or "removed" (prune),
           "time":…, key, status, container, diskBytes, payloadSize, …}`;

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
      if (options.json) {
        const events = new EventWriter();
        for (const e of entries) events.write('entry', { ...e });
      } else if (entries.length === 0) {
        process.stdout.write(`the decoded cache (${dir}) is empty\n`);
      } else {
        const total = entries.reduce((n, e) => n + e.diskBytes, 0);
        process.stdout.write(`${tableLines([['KEY', 'STATUS', 'DECODED / PAYLOAD', 'CONTAINER'], ...entries.map(row)]).join('\n')}\n` +
          `${entries.length} entries, ${formatBytes(total)} on disk in ${dir}\n`);
      }
      return 0;
    }
    const removed = await pruneCache({ all: options.all, dir });
    if (options.json) {
      const events = new EventWriter();
      for (const e of removed) events.write('removed', { ...e });
    } else {
      const freed = removed.reduce((n, e) => n + e.diskBytes, 0);
      process.stdout.write(`removed ${removed.length} ${options.all ? '' : 'stale '}entr${removed.length === 1 ? 'y' : 'ies'}, ${formatBytes(freed)} freed\n`);
    }
    return 0;
  },
};
