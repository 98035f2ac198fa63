/** `pixelrts snapshot save|load|list|delete <id> [NAME]`: live snapshots of a running VM. */
import { parseArgs } from '../args';
import { UsageError } from '../../errors';
import { controlQmp } from '../../boot/control';
import { findVm } from '../../boot/registry';
import { createSnapshots } from '../../boot/snapshots';
import { tableLines } from '../table';
import { formatBytes } from '../../format';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts snapshot save|load|delete <id> NAME [--json]
       pixelrts snapshot list <id> [--json]

Live snapshots of a running VM (pixelrts ps): its memory, devices and disks, saved under NAME
and restored later; loading one puts the guest back where it was. They are kept in the disks'
qcow2 overlays, so the VM needs a disk; those of a --persist overlay outlive the VM, the others
go with it.

Options:
  --json   NDJSON events: list, one {"type":"snapshot","time":…, name, vmStateSize, date,
           vmClockMs} per snapshot; save/load/delete, {"type":"saved"|"loaded"|"deleted", …,
           id, name} once done

Examples:
  pixelrts snapshot save debian-3f2a before-upgrade
  pixelrts snapshot load debian-3f2a before-upgrade`;

export const snapshot: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv, { json: { type: 'boolean' } },
      { minPositionals: 2, maxPositionals: 3, positionalsName: '<save|load|list|delete> <id> [NAME]' });
    const [op, id, name] = positionals;
    if (!['save', 'load', 'list', 'delete'].includes(op)) throw new UsageError(`expected save, load, list or delete, found '${op}'.`);
    if (op !== 'list' && name === undefined) throw new UsageError(`snapshot ${op} needs a NAME.`);
    const vm = findVm(id);
    // savevm of a large guest can take minutes: the QMP calls get a long bound.
    const snapshots = createSnapshots(controlQmp(vm.controlSocket, 300_000), vm.id, (vm.disks?.length ?? 0) > 0);
    if (op === 'list') {
      const list = await snapshots.list();
      if (options.json) {
        const events = new EventWriter();
        for (const s of list) events.write('snapshot', { ...s, date: s.date.toISOString() });
      } else if (list.length === 0) {
        process.stderr.write(`pixelrts: VM ${vm.id} has no snapshots\n`);
      } else {
        const rows = [['NAME', 'STATE', 'TAKEN', 'GUEST CLOCK'],
          ...list.map((s) => [s.name, formatBytes(s.vmStateSize), s.date.toISOString(), `${(s.vmClockMs / 1000).toFixed(1)} s`])];
        process.stdout.write(`${tableLines(rows, [1, 3]).join('\n')}\n`);
      }
      return 0;
    }
    await snapshots[op as 'save' | 'load' | 'delete'](name as string);
    const done = op === 'save' ? 'saved' : op === 'load' ? 'loaded' : 'deleted';
    if (options.json) new EventWriter().write(done, { id: vm.id, name });
    else process.stderr.write(`pixelrts: ${done} snapshot '${name}' of ${vm.id}\n`);
    return 0;
  },
};
