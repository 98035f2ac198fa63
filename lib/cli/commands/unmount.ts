/** `pixelrts unmount <mountpoint>`: remove a pixelrts mount, whichever process serves it. */
import { parseArgs } from '../args';
import { unmountPath } from '../../fuse/mount';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts unmount [--json] <mountpoint>

Unmounts a container mounted by \`pixelrts mount\` (or the mount() API), lazily: files still
open keep working until closed. The process serving it then ends its mount. Refuses mounts
that are not pixelrts mounts.

Options:
  --json   one NDJSON event: {"type":"unmounted","time":…, mountpoint}

Example:
  pixelrts unmount /mnt/boot`;

export const unmount: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
      { minPositionals: 1, maxPositionals: 1, positionalsName: '<mountpoint>' });
    await unmountPath(positionals[0]);
    if (options.json) new EventWriter().write('unmounted', { mountpoint: positionals[0] });
    else process.stdout.write(`Unmounted ${positionals[0]}.\n`);
    return 0;
  },
};
