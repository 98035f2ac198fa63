/**
 * Live snapshots of a running VM: its RAM, devices and disks saved under a name and restored
 * later (QEMU's savevm/loadvm). They live in the disks' qcow2 overlays, so a VM needs a disk to
 * hold them; a `--persist` overlay keeps them across boots, an ephemeral one loses them at exit.
 */
import { PixelrtsError } from '../errors';
import type { QmpExecutor } from '../vm/qmp';

/** One snapshot, as `list()` reports it. */
export interface Snapshot {
  name: string;
  /** Bytes of saved RAM and device state. */
  vmStateSize: number;
  /** When it was taken. */
  date: Date;
  /** The guest's clock then, in ms since it booted. */
  vmClockMs: number;
}

/** Snapshot operations on one VM (see createSnapshots). */
export interface Snapshots {
  save(name: string): Promise<void>;
  load(name: string): Promise<void>;
  list(): Promise<Snapshot[]>;
  delete(name: string): Promise<void>;
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$/;

/**
 * Snapshot operations through `qmp` on the VM `id`. `hasDisk` false makes every call fail with
 * a clear error (there is nowhere to keep a snapshot).
 */
export function createSnapshots(qmp: QmpExecutor, id: string, hasDisk: boolean): Snapshots {
  const check = (name: string): void => {
    if (!hasDisk) {
      throw new PixelrtsError('ERR_PIXELRTS_SNAPSHOT',
        `VM ${id} has no disk to keep snapshots in (they live in the disks' qcow2 overlays): boot a container with a disk segment.`);
    }
    if (!NAME.test(name)) {
      throw new PixelrtsError('ERR_PIXELRTS_SNAPSHOT',
        `snapshot name '${name}': use 1–64 letters, digits, '.', '_' or '-', starting with a letter or digit.`);
    }
  };
  // savevm and friends exist only as monitor commands; their errors come back as text.
  const hmp = async (command: string, what: string): Promise<string> => {
    const out = String(await qmp.execute('human-monitor-command', { 'command-line': command }) ?? '');
    const error = out.split('\n').find((l) => /^Error:|^Could not|^Snapshot .* does not exist/i.test(l.trim()));
    if (error) throw new PixelrtsError('ERR_PIXELRTS_SNAPSHOT', `${what} on VM ${id} failed: ${error.trim().replace(/^Error:\s*/, '')}`);
    return out;
  };
  const list = async (): Promise<Snapshot[]> => {
    if (!hasDisk) return [];
    const devices = await qmp.execute('query-block') as Array<{ inserted?: { ro?: boolean; image?: { snapshots?: Array<Record<string, number | string>> } } }>;
    const disk = devices.find((d) => d.inserted && !d.inserted.ro);
    return (disk?.inserted?.image?.snapshots ?? []).map((s) => ({
      name: String(s.name),
      vmStateSize: Number(s['vm-state-size']),
      date: new Date(Number(s['date-sec']) * 1000 + Math.floor(Number(s['date-nsec']) / 1e6)),
      vmClockMs: Number(s['vm-clock-sec']) * 1000 + Math.floor(Number(s['vm-clock-nsec']) / 1e6),
    }));
  };
  const exists = async (name: string): Promise<boolean> => (await list()).some((s) => s.name === name);
  return {
    async save(name) {
      check(name);
      await hmp(`savevm ${name}`, `saving snapshot '${name}'`);
    },
    async load(name) {
      check(name);
      if (!(await exists(name))) throw new PixelrtsError('ERR_PIXELRTS_SNAPSHOT', `VM ${id} has no snapshot '${name}' (pixelrts snapshot list ${id}).`);
      await hmp(`loadvm ${name}`, `loading snapshot '${name}'`);
    },
    list,
    async delete(name) {
      check(name);
      if (!(await exists(name))) throw new PixelrtsError('ERR_PIXELRTS_SNAPSHOT', `VM ${id} has no snapshot '${name}' (pixelrts snapshot list ${id}).`);
      await hmp(`delvm ${name}`, `deleting snapshot '${name}'`);
    },
  };
}
