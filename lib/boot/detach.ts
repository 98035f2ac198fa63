/**
 * `pixelrts boot --detach`: a supervisor process (node, detached in its own session, stdio to
 * `supervisor.log` in the VM's runtime directory) owns the mount and QEMU; the command that
 * started it prints the VM's id once QEMU runs, and exits. The guest's console goes to
 * `console.log` in the same directory. `pixelrts ps/stop/send/qmp` reach the supervisor
 * through the registry (registry.ts) and its control socket (control.ts).
 *
 * This file is also the supervisor's entry point: `node boot/detach.js <json>`.
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import type { BootOptions } from './boot';
import { runSession } from './session';
import { createRuntimeDir, idBase, removeRuntimeDir, runtimeRoot } from './runtime-dir';
import type { VmRecord } from './registry';

/** What the parent hands the supervisor (as JSON on its command line). */
interface SupervisorJob {
  image: string;
  runtimeDir: string;
  boot: Omit<BootOptions, 'onStage' | 'runtimeDir'>;
  timeoutSeconds?: number;
  frameExport?: number;
}

/** What a detached boot is asked to do besides booting. */
export type DetachOptions = Pick<SupervisorJob, 'boot' | 'timeoutSeconds' | 'frameExport'>;

/** Messages from the supervisor to the parent over the IPC channel. */
type SupervisorMessage =
  | { type: 'ready'; record: VmRecord }
  | { type: 'error'; code: string; message: string };

/** How long the parent waits for the supervisor to report that QEMU runs. */
const START_TIMEOUT_MS = 120_000;

/**
 * Starts a detached supervisor that boots `image`; resolves with the VM's record once QEMU
 * runs, or rejects with the boot's error (the supervisor is gone by then).
 */
export async function startDetached(image: string, options: DetachOptions): Promise<VmRecord> {
  const abs = path.resolve(image);
  if (!fs.existsSync(abs)) {
    throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${abs}: no such file. Check the path of the container to boot.`);
  }
  const runtimeDir = createRuntimeDir(runtimeRoot(), idBase(abs));
  const log = path.join(runtimeDir, 'supervisor.log');
  let logFd: number | undefined;
  try {
    logFd = fs.openSync(log, 'a', 0o600);
    const job: SupervisorJob = { ...options, image: abs, runtimeDir };
    const child = spawn(process.execPath, [__filename, JSON.stringify(job)], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      cwd: '/',
    });
    fs.closeSync(logFd);
    logFd = undefined;
    // Ctrl-C while the VM is starting: nobody will learn its id, so it must not stay behind.
    const abandon = (sig: NodeJS.Signals): void => { child.kill(sig); };
    const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
    for (const sig of signals) process.on(sig, abandon);
    return await new Promise<VmRecord>((resolve, reject) => {
      const timer = setTimeout(() => {
        child.kill('SIGTERM');
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH', `the supervisor did not start the VM within ${START_TIMEOUT_MS / 1000} s; see ${log}.`));
      }, START_TIMEOUT_MS);
      child.on('message', (msg: SupervisorMessage) => {
        clearTimeout(timer);
        if (msg.type === 'ready') {
          // Let it run on its own: no IPC channel, no reference from this process.
          child.disconnect();
          child.unref();
          resolve(msg.record);
        } else {
          reject(new PixelrtsError(msg.code, msg.message));
        }
      });
      child.on('error', (err) => {
        clearTimeout(timer);
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH', `cannot start the supervisor (${process.execPath}): ${err.message}.`, { cause: err }));
      });
      child.on('exit', (code, signal) => {
        clearTimeout(timer);
        let tail = '';
        try {
          tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
        } catch {
          // The supervisor removed its directory on the way out.
        }
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH',
          `the supervisor exited (${signal ?? `status ${code}`}) before the VM started${tail ? `:\n${tail}` : ''}`));
      });
    }).finally(() => {
      for (const sig of signals) process.off(sig, abandon);
    });
  } catch (err) {
    if (logFd !== undefined) fs.closeSync(logFd);
    // The supervisor removes the directory when its boot fails; this covers the cases it could not.
    try {
      if (fs.existsSync(runtimeDir)) removeRuntimeDir(runtimeDir);
    } catch {
      // something is still mounted there: the supervisor's cleanup watcher finishes the job
    }
    throw err;
  }
}

/** The supervisor: boots the job, reports to the parent, runs the VM until it exits. */
async function supervise(job: SupervisorJob): Promise<number> {
  const tell = (msg: SupervisorMessage): void => {
    if (process.connected) process.send?.(msg);
  };
  // The parent going away is normal (it exits once the VM runs): keep running.
  process.on('disconnect', () => undefined);
  try {
    return await runSession(job.image, {
      boot: { ...job.boot, runtimeDir: job.runtimeDir },
      console: { log: path.join(job.runtimeDir, 'console.log') },
      progress: 'plain',
      detached: true,
      ...(job.timeoutSeconds !== undefined ? { timeoutSeconds: job.timeoutSeconds } : {}),
      ...(job.frameExport !== undefined ? { frameExport: job.frameExport } : {}),
      onReady: (record) => tell({ type: 'ready', record }),
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`pixelrts supervisor: ${e.stack ?? e.message}\n`);
    tell({ type: 'error', code: e.code ?? 'ERR_PIXELRTS_DETACH', message: e.message });
    return 1;
  }
}

if (require.main === module) {
  const job = JSON.parse(process.argv[2] ?? '{}') as SupervisorJob;
  supervise(job).then((code) => {
    process.exitCode = code;
    // Leave once the parent has had the last message (the IPC channel may still be open).
    if (process.connected) process.disconnect();
  });
}
