/** `pixelrts ps`: the VMs pixelrts runs for this user. */
import { parseArgs } from '../args';
import { tableLines } from '../table';
import { listVms, type VmStatus } from '../../boot/registry';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts ps [--json]

Lists the VMs started by \`pixelrts boot\` (detached or in another terminal) that are still
running: id, owner pid, QEMU pid, uptime, private network and address (boot --net), image
and sockets. Records of VMs whose owner died are removed on the way.

Options:
  --json   one NDJSON event per VM: {"type":"vm","time":…, id, image, pid, qemuPid, started,
           uptimeMs, detached, qmpSocket, channelSocket, controlSocket, consoleLog,
           runtimeDir, accel, cmdline, network} (nothing when none runs); network is
           {network, index, ip, prefix, subnet, mac} on a private network, else null`;

/** Uptime as `1h02m`, `3m05s` or `12s`. */
function formatUptime(ms: number): string {
  const s = Math.max(0, Math.floor(ms / 1000));
  if (s < 60) return `${s}s`;
  if (s < 3600) return `${Math.floor(s / 60)}m${String(s % 60).padStart(2, '0')}s`;
  return `${Math.floor(s / 3600)}h${String(Math.floor((s % 3600) / 60)).padStart(2, '0')}m`;
}

function table(vms: VmStatus[]): string {
  const rows = [['ID', 'PID', 'QEMU', 'UPTIME', 'MODE', 'NETWORK', 'IMAGE', 'SOCKETS']];
  for (const v of vms) {
    rows.push([v.id, String(v.pid), String(v.qemuPid), formatUptime(v.uptimeMs), v.detached ? 'detached' : 'terminal',
      v.network ? `${v.network.network} ${v.network.ip}` : '-', v.image, `qmp=${v.qmpSocket} channel=${v.channelSocket} control=${v.controlSocket}`]);
  }
  return tableLines(rows).join('\n');
}

export const ps: Command = {
  usage,
  async run(argv) {
    const { options } = parseArgs(argv, { json: { type: 'boolean' } }, { maxPositionals: 0 });
    const vms = listVms();
    if (options.json) {
      const events = new EventWriter();
      for (const vm of vms) events.write('vm', { ...vm });
    } else if (vms.length === 0) {
      process.stdout.write('no VMs running\n');
    } else {
      process.stdout.write(`${table(vms)}\n`);
    }
    return 0;
  },
};
