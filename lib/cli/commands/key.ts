/** `pixelrts key <id> COMBO`: presses a key combination on the guest's keyboard. */
import { parseArgs } from '../args';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { vmScreen } from './vm-input';

const usage = `Usage: pixelrts key <id> <combo> [--json]

Presses a key combination on the running VM's keyboard and releases it: keys joined by
"-", pressed in order and released in reverse. Names: letters, digits, unshifted
punctuation, ctrl, alt, shift, meta, del, backspace, enter, esc, tab, space, up, down,
left, right, home, end, pgup, pgdn, insert, f1 to f12.

Options:
  --json   print {type: "key", time, id, combo}

Examples:
  pixelrts key demo-3f2a ctrl-alt-del
  pixelrts key demo-3f2a alt-f2`;

export const key: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
      { minPositionals: 2, maxPositionals: 2, positionalsName: '<id> <combo>' });
    const { id, input } = vmScreen(positionals[0]);
    await input.key(positionals[1]);
    if (options.json) new EventWriter().write('key', { id, combo: positionals[1] });
    return 0;
  },
};
