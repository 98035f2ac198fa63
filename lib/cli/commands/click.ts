/** `pixelrts click <id> X Y`: clicks on the guest's screen. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import type { PointerButton } from '../../screen/input';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';
import { vmScreen } from './vm-input';

const usage = `Usage: pixelrts click <id> <x> <y> [--button left|right|middle] [--double] [--json]

Moves the running VM's pointer to pixel (x, y) of its screen, (0, 0) top left, and clicks
there. The pointer is absolute (a tablet): the VM needs a screen (--screen or --vnc).

Options:
  --button B   left (default), right or middle
  --double     click twice
  --json       print {type: "click", time, id, x, y, button}

Examples:
  pixelrts click demo-3f2a 320 200
  pixelrts click demo-3f2a 10 10 --button right`;

const BUTTONS = ['left', 'right', 'middle'];

export const click: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv,
      { button: { type: 'string' }, double: { type: 'boolean' }, json: { type: 'boolean' } },
      { minPositionals: 3, maxPositionals: 3, positionalsName: '<id> <x> <y>' });
    const [x, y] = positionals.slice(1).map((v, i) => {
      if (!/^\d{1,5}$/.test(v)) throw new UsageError(`${i === 0 ? 'x' : 'y'}: expected a whole number of pixels, found '${v}'.`);
      return Number(v);
    });
    const button = options.button ?? 'left';
    if (!BUTTONS.includes(button)) throw new UsageError(`--button: expected left, right or middle, found '${button}'.`);
    const { id, input } = vmScreen(positionals[0]);
    await input.click(x, y, { button: button as PointerButton, double: options.double === true });
    if (options.json) new EventWriter().write('click', { id, x, y, button });
    return 0;
  },
};
