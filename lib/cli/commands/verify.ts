/** `pixelrts verify <file> [--json]`: checks data_hash and every file's sha256. */
import { withProgress } from '../progress';
import type { Command } from './command';
import { openFromArgs, printWarnings, type OpenedFromArgs } from './container-args';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts verify <file.rts.png> [--json]

Decodes the container and checks the payload's sha256 (data_hash) and every file's sha256.
Exits 0 when everything matches, 1 naming each file that does not.
<file.rts.png> may be an http(s) URL: the container is then read on demand (only the
parts this command reads are fetched, with range requests, and kept in the cache), or
fetched whole first when it has no hash tree.

Options:
  --json   one NDJSON event: {"type":"verify","time":…, path, ok, dataHash, files, warnings}

Example:
  pixelrts verify boot.rts.png`;

/** The command's work on the opened container. */
async function verifyOpened({ container: c, json, warnings, source }: OpenedFromArgs): Promise<number> {
  const report = await withProgress(`verifying ${source}`, (progress) => c.verify({ onProgress: (done, total) => progress.update(done, total) }));
  if (json) {
    new EventWriter().write('verify', { ...report, warnings });
  } else {
    printWarnings('verify', warnings);
    const lines: string[] = [];
    if (report.dataHash) lines.push(`${report.dataHash.ok ? 'ok      ' : 'MISMATCH'}  payload (data_hash)`);
    for (const f of report.files) {
      const tag = f.status === 'ok' ? 'ok      ' : f.status === 'mismatch' ? 'MISMATCH' : 'no hash ';
      lines.push(`${tag}  ${f.name}${f.status === 'mismatch' ? `  expected ${f.expected}, found ${f.found}` : ''}`);
    }
    process.stdout.write(`${lines.join('\n')}\n`);
  }
  if (report.ok) return 0;
  const bad = report.files.filter((f) => f.status === 'mismatch').map((f) => f.name);
  const what = bad.length > 0 ? `${bad.map((n) => `"${n}"`).join(', ')} ${bad.length === 1 ? 'does' : 'do'} not match ${bad.length === 1 ? 'its' : 'their'} sha256`
    : `the payload does not match data_hash (expected ${report.dataHash!.expected}, found ${report.dataHash!.found})`;
  process.stderr.write(`pixelrts verify: ${source}: ${what}. The container is damaged; re-create it from its sources.\n`);
  return 1;
}

export const verify: Command = {
  usage,
  async run(argv) {
    const opened = await openFromArgs(argv, 'verify');
    try {
      return await verifyOpened(opened);
    } finally {
      await opened.close();
    }
  },
};
