/** `pixelrts screenshot <id> out.png`: the guest's screen as a PNG file. */
import path from 'node:path';
import { parseArgs } from '../args';
import { writeFileAtomic } from '../../atomic-write';
import { pngSize } from '../../screen/screen';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { vmScreen } from './vm-input';

const usage = `Usage: pixelrts screenshot <id> <out.png> [--json]

Writes the running VM's screen, as it is now, to out.png (replaced whole or not at all).
The VM needs a screen: boot it with --screen or --vnc.

Options:
  --json   print {type: "screenshot", time, id, file, width, height, bytes}

Examples:
  pixelrts boot demo.rts.png --screen --detach
  pixelrts screenshot demo-3f2a screen.png`;

export const screenshot: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
      { minPositionals: 2, maxPositionals: 2, positionalsName: '<id> <out.png>' });
    const { id, screen } = vmScreen(positionals[0]);
    const png = await screen.screenshot();
    const file = path.resolve(positionals[1]);
    await writeFileAtomic(file, png);
    const { width, height } = pngSize(png);
    if (options.json) new EventWriter().write('screenshot', { id, file, width, height, bytes: png.length });
    else process.stderr.write(`pixelrts: ${width}×${height} screen of ${id} written to ${file}\n`);
    return 0;
  },
};
