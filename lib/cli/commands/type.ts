/** `pixelrts type <id> TEXT`: types text on the guest's keyboard. */
import { parseArgs } from '../args';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { vmScreen } from './vm-input';

const usage = `Usage: pixelrts type <id> <text> [--enter] [--json]

Types text on the running VM's keyboard (US layout; "\\n" in the text is Enter), one key
every 10 ms or so, in order. Characters the layout has no key for are refused before
anything is typed. The keys go where the guest's keyboard input goes: its screen's
console (boot it with --screen or --vnc to see that), not the serial console.

Options:
  --enter   press Enter after the text
  --json    print {type: "typed", time, id, characters}

Examples:
  pixelrts type demo-3f2a 'echo hello' --enter`;

export const type: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { enter: { type: 'boolean' }, json: { type: 'boolean' } },
      { minPositionals: 2, maxPositionals: 2, positionalsName: '<id> <text>' });
    const { id, input } = vmScreen(positionals[0]);
    const text = positionals[1] + (options.enter ? '\n' : '');
    await input.type(text);
    if (options.json) new EventWriter().write('typed', { id, characters: [...text].length });
    return 0;
  },
};
