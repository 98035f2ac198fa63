/**
 * The registry of running VMs started by the CLI: one private directory per VM under the
 * per-user runtime root (see runtime-dir.ts), holding `vm.json` (this record), QEMU's sockets,
 * the control socket (control.ts) and, for detached VMs, the console log. The directory is
 * the VM's runtime directory, so it disappears with the VM; a record whose owner process died
 * without cleaning up is pruned by `listVms()`.
 */
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import type { VncEndpoint } from '../vm/vm';
import type { NetworkAddress } from '../net/addressing';
import { hasMountsUnder, removeRuntimeDir, runtimeRoot } from './runtime-dir';

/** The record file's name inside a VM's runtime directory. */
export const RECORD_FILE = 'vm.json';

/** What `pixelrts ps` knows about a running VM. */
export interface VmRecord {
  /** The runtime directory's name, e.g. `demo-3f2a`. */
  id: string;
  /** Absolute path of the booted container. */
  image: string;
  /** The process that owns the VM (the CLI, or the detached supervisor). */
  pid: number;
  /** That process's start time (from /proc), so a reused pid is not taken for it. */
  pidStart: string | null;
  /** QEMU's pid. */
  qemuPid: number;
  /** ISO 8601 time the VM started. */
  started: string;
  /** True when a detached supervisor owns it. */
  detached: boolean;
  runtimeDir: string;
  qmpSocket: string;
  channelSocket: string;
  /** pixelrts' own control socket: `send`, `qmp` and `stop` go through it. */
  controlSocket: string;
  /** Where a detached VM's console output goes; null for a VM on a terminal. */
  consoleLog: string | null;
  accel: string;
  cmdline: string;
  /** Where the guest's screen is served (with its password for a TCP display), or null. */
  vnc: VncEndpoint | null;
  /** The container's disks: each one's overlay (`persistent` when --persist keeps it). */
  disks?: Array<{ segment: string; overlay: string; persistent: boolean }>;
  /** Where the VM sits on its private network (`boot --net`), or null. */
  network?: NetworkAddress | null;
}

/** A record with what `ps` computes. */
export interface VmStatus extends VmRecord {
  uptimeMs: number;
}

/** Fields 3 onwards of /proc/PID/stat (state first), or null where there is no such process or no /proc. */
function procStat(pid: number): string[] | null {
  try {
    const stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
    // The command name (field 2) may contain spaces and parentheses: count from the last ')'.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** The start time of process `pid` (field 22 of /proc/PID/stat), or null where there is no /proc. */
export function processStartTime(pid: number): string | null {
  return procStat(pid)?.[19] ?? null;
}

/**
 * True while the record's owner process runs: not a reused pid (its start time is compared)
 * and not a zombie (an exited owner whose parent has not reaped it yet is gone for us).
 */
export function isAlive(record: Pick<VmRecord, 'pid' | 'pidStart'>): boolean {
  try {
    process.kill(record.pid, 0);
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
  const stat = procStat(record.pid);
  if (stat === null) return record.pidStart === null;  // no /proc (macOS): kill(0) is all we have
  if (stat[0] === 'Z' || stat[0] === 'X') return false;
  return record.pidStart === null || stat[19] === record.pidStart;
}

/** Writes `record` into its runtime directory (atomically, mode 0600). */
export function writeRecord(record: VmRecord): void {
  const file = path.join(record.runtimeDir, RECORD_FILE);
  const tmp = `${file}.tmp`;
  fs.writeFileSync(tmp, `${JSON.stringify(record, null, 2)}\n`, { mode: 0o600 });
  fs.renameSync(tmp, file);
}

function readRecord(dir: string): VmRecord | undefined {
  try {
    const r = JSON.parse(fs.readFileSync(path.join(dir, RECORD_FILE), 'utf8')) as VmRecord;
    return typeof r.id === 'string' && typeof r.pid === 'number' ? r : undefined;
  } catch {
    return undefined;
  }
}

/**
 * The running VMs, oldest first. Records whose owner is gone are removed (with their runtime
 * directory, unless something is still mounted there) when `prune` is true (the default).
 */
export function listVms(options: { prune?: boolean; root?: string } = {}): VmStatus[] {
  const root = options.root ?? runtimeRoot();
  const out: VmStatus[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(root);
  } catch {
    return [];
  }
  for (const name of names) {
    const dir = path.join(root, name);
    const record = readRecord(dir);
    if (!record) continue;
    if (isAlive(record)) {
      out.push({ ...record, uptimeMs: Date.now() - Date.parse(record.started) });
    } else if (options.prune !== false && !hasMountsUnder(dir)) {
      try {
        removeRuntimeDir(dir);
      } catch {
        // Someone else removed it at the same moment; nothing to prune.
      }
    }
  }
  return out.sort((a, b) => Date.parse(a.started) - Date.parse(b.started));
}

/**
 * The running VM whose id is `idOrPrefix` or starts with it; throws ERR_PIXELRTS_NO_VM
 * listing the running ids when none or several match.
 */
export function findVm(idOrPrefix: string, options: { root?: string } = {}): VmStatus {
  const vms = listVms(options);
  const exact = vms.find((v) => v.id === idOrPrefix);
  if (exact) return exact;
  const matches = vms.filter((v) => v.id.startsWith(idOrPrefix));
  if (matches.length === 1) return matches[0];
  const running = vms.length ? `running: ${vms.map((v) => v.id).join(', ')}` : 'no VM is running';
  if (matches.length > 1) {
    throw new PixelrtsError('ERR_PIXELRTS_NO_VM', `'${idOrPrefix}' matches several VMs (${matches.map((v) => v.id).join(', ')}); give more of the id.`);
  }
  throw new PixelrtsError('ERR_PIXELRTS_NO_VM',
    `no running VM has the id '${idOrPrefix}' (${running}). List them with \`pixelrts ps\`; start one with \`pixelrts boot --detach <file>\`.`);
}
