/** `pixelrts stop <id>` / `stop --all`: shuts running VMs down. */
import { parseArgs } from '../args';
import { PixelrtsError, UsageError } from '../../errors';
import { controlRequest } from '../../boot/control';
import { findVm, isAlive, listVms, type VmStatus } from '../../boot/registry';
import type { Command } from './command';
import { EventWriter } from '../../boot/events';

const usage = `Usage: pixelrts stop <id> [--force] [--timeout SECONDS] [--json]
       pixelrts stop --all [--force] [--timeout SECONDS] [--json]

Shuts a VM down gracefully (ACPI power button, then QMP quit, then SIGKILL, each with a
timeout) and waits until it is gone: QEMU exited, the container unmounted, the runtime
directory removed. The id is from \`pixelrts ps\` (a unique prefix is enough).

Options:
  --all               every VM of yours that \`pixelrts ps\` lists, all at once
  --force             force the VM off at once (an owner that does not answer
                      within 1 s, e.g. a stopped one, is killed)
  --timeout SECONDS   how long to wait for the VM to be gone (default 30); after that its
                      owner process is killed and the safety nets clean up
  --json              one NDJSON event once it is gone: {"type":"stopped","time":…, id, how}
                      (how: "graceful", or why its owner was killed)`;

/** Waits until the owner process of `vm` has exited; true when it did within `ms`. */
async function waitGone(vm: VmStatus, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  while (Date.now() < deadline) {
    if (!isAlive(vm)) return true;
    await new Promise((r) => setTimeout(r, 50));
  }
  return !isAlive(vm);
}

export const stop: Command = {
  usage,
  async run(argv) {
    const { options, positionals } = parseArgs(argv,
      { all: { type: 'boolean' }, force: { type: 'boolean' }, timeout: { type: 'integer', min: 1, max: 3600 }, json: { type: 'boolean' } },
      { maxPositionals: 1, positionalsName: '<id>' });
    if (options.all !== true && positionals.length === 0) throw new UsageError('missing <id>: give a VM id (from `pixelrts ps`), or --all for every running VM.');
    if (options.all === true && positionals.length === 1) throw new UsageError('give a VM id or --all, not both.');
    const how = { force: options.force === true, waitMs: (options.timeout ?? 30) * 1000, json: options.json === true };
    if (!options.all) return stopVm(findVm(positionals[0]), how);
    const vms = listVms();
    if (vms.length === 0 && !how.json) process.stderr.write('pixelrts: no VM is running\n');
    // Every VM at once; the exit status is the worst of them (a VM that would not stop: 1).
    const results = await Promise.allSettled(vms.map((vm) => stopVm(vm, how)));
    const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
    for (const r of failed) process.stderr.write(`pixelrts stop: ${(r.reason as Error).message}\n`);
    return failed.length === 0 ? 0 : 1;
  },
};

/** Stops one VM (see the usage); resolves with the exit code. */
async function stopVm(vm: VmStatus, options: { force: boolean; waitMs: number; json: boolean }): Promise<number> {
  const { force, waitMs } = options;
  const report = (how?: string): number => {
    if (options.json) new EventWriter().write('stopped', { id: vm.id, how: how ?? 'graceful' });
    else process.stderr.write(`pixelrts: stopped ${vm.id}${how ? `: ${how}` : ''}\n`);
    return 0;
  };
  try {
    await controlRequest(vm.controlSocket, { op: 'stop', force }, force ? 1000 : 5000);
  } catch {
    if (force) {
      // --force promises "at once": an owner that does not answer within a second (stopped,
      // hung) is killed; QEMU dies with it and the safety nets clean up (see below).
      return killOwner(vm, `its owner (pid ${vm.pid}) did not answer within 1 s and was killed`, report);
    }
    // The owner does not answer: signal it (its handler shuts down).
    process.kill(vm.pid, 'SIGTERM');
  }
  if (await waitGone(vm, waitMs)) return report();
  return killOwner(vm, `it did not stop within ${waitMs / 1000} s; its owner (pid ${vm.pid}) was killed`, report);
}

/**
 * SIGKILLs the owner of a VM that would not stop: QEMU dies with it (parent-death signal), the
 * mount unmounts itself (auto_unmount) and the cleanup watcher removes the directory.
 */
async function killOwner(vm: VmStatus, why: string, report: (how: string) => number): Promise<number> {
  try {
    if (isAlive(vm)) process.kill(vm.pid, 'SIGKILL');
  } catch {
    // exited just now
  }
  if (await waitGone(vm, 5000)) return report(why);
  throw new PixelrtsError('ERR_PIXELRTS_STOP', `VM ${vm.id} (owner pid ${vm.pid}) is still running after SIGKILL; check \`ps -p ${vm.pid}\`.`);
}
