/** `pixelrts qmp <id> <command> ['<args-json>']`: one QMP command on a running VM. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import { controlQmp } from '../../boot/control';
import { findVm } from '../../boot/registry';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts qmp <id> <command> ['<args-json>'] [--json]

Executes one QMP command (https://www.qemu.org/docs/master/interop/qemu-qmp-ref.html) on a
running VM and prints its return value as JSON. QMP errors exit 1 with QEMU's class and
description.

Options:
  --json   one NDJSON event: {"type":"result","time":…, id, command, result} (without it:
           the return value alone, as QEMU gave it)

Examples:
  pixelrts qmp demo-3f2a query-status
  pixelrts qmp demo-3f2a human-monitor-command '{"command-line":"info registers"}'`;

export const qmp: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } }, { minPositionals: 2, maxPositionals: 3, positionalsName: '<id> <command>' });
    const [id, command, argsText] = positionals;
    let args: Record<string, unknown> | undefined;
    if (argsText !== undefined) {
      let parsed: unknown;
      try {
        parsed = JSON.parse(argsText);
      } catch (err) {
        throw new UsageError(`the arguments are not valid JSON (${(err as Error).message}): ${argsText}.`);
      }
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed)) {
        throw new UsageError('the arguments must be a JSON object, e.g. \'{"command-line":"info status"}\'.');
      }
      args = parsed as Record<string, unknown>;
    }
    const vm = findVm(id);
    const result = await controlQmp(vm.controlSocket, 30_000).execute(command, args);
    if (options.json) new EventWriter().write('result', { id: vm.id, command, result: result ?? {} });
    else process.stdout.write(`${JSON.stringify(result ?? {})}\n`);
    return 0;
  },
};
