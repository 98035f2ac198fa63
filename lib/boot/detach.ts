/**
 * `pixelrts boot --detach`: a supervisor process (node, detached in its own session, stdio to
 * `supervisor.log` in the VM's runtime directory) owns the mount and QEMU; the command that
 * started it prints the VM's id once QEMU runs, and exits. The guest's console goes to
 * `console.log` in the same directory. `pixelrts ps/stop/send/qmp` reach the supervisor
 * through the registry (registry.ts) and its control socket (control.ts).
 *
 * This file is also the supervisor's entry point: `node boot/detach.js`. Its job comes over the
 * IPC channel, not on its command line, which every local user can read in /proc (the kernel
 * command line may hold secrets). Until the parent has taken the VM's id (`adopted`), the
 * supervisor belongs to it: if the parent goes away first, killed or interrupted, nobody knows
 * the VM exists, so the supervisor forces it off and cleans up.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError, errorCode } from '../errors';
import type { BootOptions } from './boot';
import { runSession } from './session';
import { createRuntimeDir, idBase, removeRuntimeDir, runtimeRoot } from './runtime-dir';
import type { VmRecord } from './registry';
import { isUrl } from '../remote/fetch';
import { remoteName } from '../remote/remote-file';

/** What the parent hands the supervisor (its first IPC message). */
interface SupervisorJob {
  image: string;
  runtimeDir: string;
  boot: Omit<BootOptions, 'onStage' | 'runtimeDir'>;
  timeoutSeconds?: number;
  frameExport?: number;
  /** Serve the browser view (its URL: `pixelrts view <id>`). */
  view?: boolean;
}

/** What a detached boot is asked to do besides booting. */
export type DetachOptions = Pick<SupervisorJob, 'boot' | 'timeoutSeconds' | 'frameExport' | 'view'>;

/** Messages from the supervisor to the parent over the IPC channel. */
type SupervisorMessage =
  | { type: 'ready'; record: VmRecord }
  | { type: 'error'; code: string; message: string };

/** Messages from the parent to the supervisor: its job, then that the VM's id was taken. */
type ParentMessage = { type: 'job'; job: SupervisorJob } | { type: 'adopted' };

/** How long the parent waits for the supervisor to report that QEMU runs. */
const START_TIMEOUT_MS = 120_000;

/**
 * Starts a detached supervisor that boots `image`; resolves with the VM's record once QEMU
 * runs, or rejects with the boot's error (the supervisor is gone by then). A SIGINT, SIGTERM
 * or SIGHUP before that stops the VM; the rejection (ERR_PIXELRTS_INTERRUPTED, with `signal`)
 * comes once the supervisor has cleaned up.
 */
export async function startDetached(image: string, options: DetachOptions): Promise<VmRecord> {
  // A URL is opened by the supervisor itself: its mount must live as long as the VM.
  const abs = isUrl(image) ? image : path.resolve(image);
  if (!isUrl(image) && !fs.existsSync(abs)) {
    throw new PixelrtsError('ERR_PIXELRTS_NOT_FOUND', `${abs}: no such file. Check the path of the container to boot.`);
  }
  // Ctrl-C while the VM is starting: nobody will learn its id, so it must not stay behind,
  // and this command must not print an id or succeed. The supervisor is told to stop; what it
  // says afterwards (even `ready`) is only waited out. Handled from before the runtime
  // directory exists.
  let interrupted: NodeJS.Signals | undefined;
  let child: ChildProcess | undefined;
  const abandon = (sig: NodeJS.Signals): void => {
    interrupted ??= sig;
    child?.kill(sig);
  };
  const signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP'];
  for (const sig of signals) process.on(sig, abandon);
  // The directory is watched from birth: if this process dies before the supervisor has its
  // own watcher (until `ready`), this one removes it.
  const { dir: runtimeDir, watcher } = await createRuntimeDir(runtimeRoot(), idBase(isUrl(image) ? remoteName(image) : abs)).catch((err: unknown) => {
    for (const sig of signals) process.off(sig, abandon);
    throw err;
  });
  let disowned = false;
  const log = path.join(runtimeDir, 'supervisor.log');
  let logFd: number | undefined;
  try {
    if (interrupted) throw interruptedError(interrupted);
    logFd = fs.openSync(log, 'a', 0o600);
    const job: SupervisorJob = { ...options, image: abs, runtimeDir };
    const supervisor = spawn(process.execPath, [__filename], {
      detached: true,
      stdio: ['ignore', logFd, logFd, 'ipc'],
      cwd: '/',
    });
    child = supervisor;
    fs.closeSync(logFd);
    logFd = undefined;
    const tell = (msg: ParentMessage): void => { if (supervisor.connected) supervisor.send(msg); };
    tell({ type: 'job', job });
    return await new Promise<VmRecord>((resolve, reject) => {
      const timer = setTimeout(() => {
        supervisor.kill('SIGTERM');
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH', `the supervisor did not start the VM within ${START_TIMEOUT_MS / 1000} s; see ${log}.`));
      }, START_TIMEOUT_MS);
      supervisor.on('message', (msg: SupervisorMessage) => {
        if (interrupted) return;
        clearTimeout(timer);
        if (msg.type === 'ready') {
          // The id is ours now: let the supervisor run on its own (no IPC channel, no reference
          // from this process). The watcher goes first: dying between the two leaves a VM the
          // supervisor still stops (not adopted), never a running VM without its directory.
          watcher.disown();
          disowned = true;
          tell({ type: 'adopted' });
          supervisor.disconnect();
          supervisor.unref();
          resolve(msg.record);
        } else {
          reject(new PixelrtsError(errorCode(msg.code, 'ERR_PIXELRTS_DETACH'), msg.message));
        }
      });
      supervisor.on('error', (err) => {
        clearTimeout(timer);
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH', `cannot start the supervisor (${process.execPath}): ${err.message}.`, { cause: err }));
      });
      supervisor.on('exit', (code, signal) => {
        clearTimeout(timer);
        if (interrupted) {
          reject(interruptedError(interrupted));
          return;
        }
        let tail = '';
        try {
          tail = fs.readFileSync(log, 'utf8').trim().split('\n').slice(-5).join('\n');
        } catch {
          // The supervisor removed its directory on the way out.
        }
        reject(new PixelrtsError('ERR_PIXELRTS_DETACH',
          `the supervisor exited (${signal ?? `status ${code}`}) before the VM started${tail ? `:\n${tail}` : ''}`));
      });
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
  } finally {
    for (const sig of signals) process.off(sig, abandon);
    if (!disowned) watcher.release();
  }
}

/** The rejection of a start interrupted by `signal` (the CLI exits 128+n). */
function interruptedError(signal: NodeJS.Signals): PixelrtsError & { signal: NodeJS.Signals } {
  return Object.assign(new PixelrtsError('ERR_PIXELRTS_INTERRUPTED',
    `${signal} received while the VM was starting: it was stopped and nothing of it is left.`), { signal });
}

/**
 * The supervisor: boots the job, reports to the parent, runs the VM until it exits. `orphaned`
 * aborts when the parent went away before it took the VM's id.
 */
async function supervise(job: SupervisorJob, orphaned: AbortSignal): Promise<number> {
  const tell = (msg: SupervisorMessage): void => {
    if (process.connected) process.send?.(msg);
  };
  try {
    return await runSession(job.image, {
      boot: { ...job.boot, runtimeDir: job.runtimeDir },
      console: { log: path.join(job.runtimeDir, 'console.log') },
      progress: 'plain',
      detached: true,
      ...(job.timeoutSeconds !== undefined ? { timeoutSeconds: job.timeoutSeconds } : {}),
      ...(job.frameExport !== undefined ? { frameExport: job.frameExport } : {}),
      ...(job.view ? { view: true } : {}),
      onReady: (record) => tell({ type: 'ready', record }),
      abort: orphaned,
    });
  } catch (err) {
    const e = err as Error & { code?: string };
    process.stderr.write(`pixelrts supervisor: ${e.stack ?? e.message}\n`);
    tell({ type: 'error', code: e.code ?? 'ERR_PIXELRTS_DETACH', message: e.message });
    return 1;
  }
}

if (require.main === module) {
  const orphaned = new AbortController();
  let adopted = false;
  process.on('message', (msg: ParentMessage) => {
    if (msg.type === 'adopted') {
      adopted = true;
    } else if (msg.type === 'job') {
      supervise(msg.job, orphaned.signal).then((code) => {
        process.exitCode = code;
        // Leave once the parent has had the last message (the IPC channel may still be open).
        if (process.connected) process.disconnect();
      });
    }
  });
  // The parent going away after it took the id is normal (it exits once the VM runs); before
  // that, nobody knows this VM: stop it.
  process.on('disconnect', () => {
    if (!adopted) orphaned.abort(new Error('the command that started this VM went away before it reported the VM'));
  });
}
