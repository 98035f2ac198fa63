/** `pixelrts pull <URL> [-o FILE]`: update a local copy to the URL's version, fetching only changed bands. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import { printable } from '../printable';
import { withProgress } from '../progress';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { formatBytes } from '../../format';
import { isUrl } from '../../remote/fetch';
import { pull as pullContainer } from '../../remote/pull';

const usage = `Usage: pixelrts pull <URL> [-o FILE] [--json]

Makes FILE the version of the container at the http(s) URL, fetching only what differs: the
two versions' hash trees say which bands changed, and only those are fetched (range requests,
retried and resumed); the others are copied from FILE. The new version is written beside FILE
and renamed over it when complete, so an interrupted pull leaves the old one. Without FILE (or
when it is not a container pixelrts wrote) the container is fetched whole. Prints the bytes
fetched against the file's size.

Options:
  -o, --output FILE   the local copy to update (default: the URL's file name, here)
  --json              one NDJSON event: {"type":"pulled","time":…, url, path, size, fetched,
                      bandsReused, bandsFetched, unchanged, whole?}

Examples:
  pixelrts pull https://images.example.com/os.rts.png -o os.rts.png
  pixelrts pull http://127.0.0.1:8080/files/os.rts.png --json`;

export const pull: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, {
      output: { type: 'string', short: 'o' },
      json: { type: 'boolean' },
    }, { minPositionals: 1, maxPositionals: 1, positionalsName: '<URL>' });
    const url = positionals[0];
    if (!isUrl(url)) throw new UsageError(`pull takes the http(s) URL of a container, not ${JSON.stringify(url)}; a local file needs no pull.`);
    const result = await withProgress(`pulling ${url}`, (progress) => pullContainer(url, {
      ...(options.output !== undefined ? { output: options.output } : {}),
      onProgress: (done, total) => progress.update(done, total),
    }));
    if (options.json) {
      new EventWriter().write('pulled', { ...result });
      return 0;
    }
    const pct = result.size > 0 ? ((100 * result.fetched) / result.size).toFixed(1) : '0';
    const what = result.unchanged ? 'already this version'
      : result.whole !== undefined ? `fetched whole (${result.whole})`
        : `${result.bandsFetched} band${result.bandsFetched === 1 ? '' : 's'} fetched, ${result.bandsReused} kept`;
    process.stdout.write(`${printable(result.path)}: ${what}; ${formatBytes(result.fetched)} fetched of ${formatBytes(result.size)} (${pct}%)\n`);
    return 0;
  },
};
