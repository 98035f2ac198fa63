/**
 * Stopping a booted VM: Ctrl-C / SIGTERM / SIGHUP, the console's escape key, `--timeout` and
 * `pixelrts stop` all end up here. The first request shuts the guest down gracefully
 * (`vm.shutdown`: system_powerdown, then QMP quit, then SIGKILL, each with a timeout); any
 * further request forces it off at once (`vm.kill`). Teardown (unmount, runtime directory)
 * follows from QEMU's exit in `boot()`.
 */
import os from 'node:os';

/**
 * Why a stop was requested (`output`: the reader of stdout went away; `abort`: the session's
 * owner gave it up, e.g. the command that started a detached VM died before reporting it).
 */
export type StopReason = 'signal' | 'escape' | 'timeout' | 'control' | 'output' | 'abort';

/** What a stop needs from the VM. */
export interface Stoppable {
  shutdown(options?: { timeout?: number }): Promise<unknown>;
  kill(): void;
}

export interface StopControllerOptions {
  /** Budget of the graceful shutdown in ms (default 10000: 70% for the guest to power off after system_powerdown, 20% for QMP quit, then SIGKILL). */
  shutdownTimeoutMs?: number;
  /** Told about every request (e.g. to print "shutting down, press Ctrl-C again to force"). */
  onStop?: (info: { reason: StopReason; detail: string; forced: boolean }) => void;
}

/** Tracks stop requests for one VM and turns them into a graceful shutdown or a forced kill. */
export class StopController {
  private requests = 0;
  private firstReason: StopReason | undefined;
  private firstDetail = '';
  private timer: NodeJS.Timeout | undefined;
  private readonly signalHandlers = new Map<NodeJS.Signals, () => void>();

  constructor(private readonly vm: Stoppable, private readonly options: StopControllerOptions = {}) {}

  /** The first stop request's reason, or undefined while none was made. */
  get reason(): StopReason | undefined {
    return this.firstReason;
  }

  /** The first request's detail: the signal's name, the timeout, … */
  get detail(): string {
    return this.firstDetail;
  }

  /** Requests a stop: graceful the first time, forced afterwards. */
  stop(reason: StopReason, detail: string): void {
    this.requests++;
    const forced = this.requests > 1;
    if (this.firstReason === undefined) {
      this.firstReason = reason;
      this.firstDetail = detail;
    }
    this.options.onStop?.({ reason, detail, forced });
    if (forced) {
      this.vm.kill();
    } else {
      // A failure of the graceful path ends in a kill, never in a VM left running.
      this.vm.shutdown({ timeout: this.options.shutdownTimeoutMs ?? 10_000 }).catch(() => this.vm.kill());
    }
  }

  /** Forces the VM off now (the second Ctrl-C, `stop --force`). */
  force(reason: StopReason, detail: string): void {
    if (this.requests === 0) this.requests = 1;
    this.stop(reason, detail);
  }

  /** SIGINT, SIGTERM and SIGHUP request a stop instead of killing this process. */
  handleSignals(signals: NodeJS.Signals[] = ['SIGINT', 'SIGTERM', 'SIGHUP']): void {
    for (const sig of signals) {
      const handler = (): void => this.stop('signal', sig);
      this.signalHandlers.set(sig, handler);
      process.on(sig, handler);
    }
  }

  /** Requests a graceful stop after `seconds`. */
  armTimeout(seconds: number): void {
    this.timer = setTimeout(() => this.stop('timeout', `${seconds} s`), seconds * 1000);
    this.timer.unref();
  }

  /** Removes the signal handlers and the timeout (call once the VM has exited). */
  dispose(): void {
    for (const [sig, handler] of this.signalHandlers) process.off(sig, handler);
    this.signalHandlers.clear();
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }

  /**
   * The exit code for the CLI when the VM stopped after a request: 128+n after signal n
   * (the shell's convention), 141 when the output was closed (as SIGPIPE), 1 after
   * `--timeout`, 0 after Ctrl-a x or `pixelrts stop`, else `vmExitCode`.
   */
  exitCode(vmExitCode: number): number {
    if (this.firstReason === 'signal') {
      const n = (os.constants.signals as Record<string, number>)[this.firstDetail];
      return n ? 128 + n : 1;
    }
    if (this.firstReason === 'timeout' || this.firstReason === 'abort') return 1;
    if (this.firstReason === 'output') return 128 + os.constants.signals.SIGPIPE;
    // Ctrl-a x or `pixelrts stop`: the VM ended because the user asked, however it went down
    // (powered off, QMP quit, or killed when forced); only QEMU's own error status is kept.
    if (this.firstReason === 'escape' || this.firstReason === 'control') return vmExitCode > 1 && vmExitCode < 128 ? vmExitCode : 0;
    return vmExitCode;
  }
}
