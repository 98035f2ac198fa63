/** `pixelrts view <id>`: the URL of a running VM's screen in the browser. */
import { parseArgs } from '../args';
import { EventWriter } from '../../boot/events';
import { controlRequest } from '../../boot/control';
import { findVm } from '../../boot/registry';
import { openInBrowser } from '../../boot/session';
import type { Command } from './command';

const usage = `Usage: pixelrts view <id> [--open] [--json]

Prints the address of the running VM's live view: a page on 127.0.0.1 that plays its screen
(H.264, decoded by the browser with WebCodecs) and sends your keyboard and mouse back. The
address carries a secret token; without it the page answers 403. The VM must have been
booted with --view (or --screen --frame-export); the view starts on the first request.

Options:
  --open   open the page in your browser (xdg-open)
  --json   print {type: "view", time, id, url}

Examples:
  pixelrts boot demo.rts.png --view --detach
  pixelrts view demo-3f2a --open`;

export const view: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { open: { type: 'boolean' }, json: { type: 'boolean' } },
      { minPositionals: 1, maxPositionals: 1, positionalsName: '<id>' });
    const vm = findVm(positionals[0]);
    const { url } = await controlRequest(vm.controlSocket, { op: 'view' }, 30_000) as { url: string };
    if (options.json) new EventWriter().write('view', { id: vm.id, url });
    else process.stdout.write(`${url}\n`);
    if (options.open) openInBrowser(url, (text) => process.stderr.write(`pixelrts view: ${text}\n`));
    return 0;
  },
};
