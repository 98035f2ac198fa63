/** `pixelrts send <id> '<json>'`: a message to the guest on the command channel. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import { controlRequest } from '../../boot/control';
import { findVm } from '../../boot/registry';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts send <id> '<json>' [--wait] [--timeout MS] [--json]

Writes one JSON message on the VM's command channel (the guest reads it from its second
serial port). With --wait, waits for the guest's reply (correlated by "id"; one is added
when the message has none) and prints it as JSON.

Options:
  --wait         wait for the reply and print it
  --timeout MS   how long to wait for the reply (default 5000)
  --json         one NDJSON event: {"type":"reply","time":…, id, reply} with --wait,
                 {"type":"sent", …, id, message} without (without --json: the reply alone)

Examples:
  pixelrts send demo-3f2a '{"type":"command","data":{"message":"ping"}}' --wait`;

export const send: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv,
      { wait: { type: 'boolean' }, timeout: { type: 'integer', min: 1, max: 3_600_000 }, json: { type: 'boolean' } },
      { minPositionals: 2, maxPositionals: 2, positionalsName: "<id> '<json>'" });
    let message: unknown;
    try {
      message = JSON.parse(positionals[1]);
    } catch (err) {
      throw new UsageError(`the message is not valid JSON (${(err as Error).message}): ${positionals[1]}. Quote it for the shell, e.g. '{"type":"command","data":{"message":"ping"}}'.`);
    }
    if (typeof message !== 'object' || message === null || Array.isArray(message)) {
      throw new UsageError(`the message must be a JSON object, found ${Array.isArray(message) ? 'an array' : typeof message}.`);
    }
    const vm = findVm(positionals[0]);
    const msg = message as Record<string, unknown>;
    if (options.wait) {
      const timeout = options.timeout ?? 5000;
      const reply = await controlRequest(vm.controlSocket, { op: 'request', message: msg, timeout }, timeout + 2000);
      if (options.json) new EventWriter().write('reply', { id: vm.id, reply });
      else process.stdout.write(`${JSON.stringify(reply)}\n`);
    } else {
      await controlRequest(vm.controlSocket, { op: 'send', message: msg });
      if (options.json) new EventWriter().write('sent', { id: vm.id, message: msg });
    }
    return 0;
  },
};
