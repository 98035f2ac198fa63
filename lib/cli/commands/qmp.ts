/** `pixelrts qmp <id> <command> ['<args-json>']`: one QMP command on a running VM. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import { controlQmp } from '../../boot/control';
import { findVm } from '../../boot/registry';
import type { Command } from './command';

const usage = `Usage: pixelrts qmp <id> <command> ['<args-json>']

Executes one QMP command (https://www.qemu.org/docs/master/interop/qemu-qmp-ref.html) on a
running VM and prints its return value as JSON. QMP errors exit 1 with QEMU's class and
description.

Examples:
  pixelrts qmp demo-3f2a query-status
  pixelrts qmp demo-3f2a human-monitor-command '{"command-line":"info registers"}'`;

export const qmp: Command = {
  usage,
  async run(argv) {
    const { positionals } = parseArgs(argv, {}, { minPositionals: 2, maxPositionals: 3, positionalsName: '<id> <command>' });
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
    process.stdout.write(`${JSON.stringify(result ?? {})}\n`);
    return 0;
  },
};
