/**
 * A progress line for long CLI work. It draws only when the stream is a terminal and only once
 * the work has taken longer than a second, so quick commands and scripts (pipes, files, CI)
 * never see it. Work of unknown length shows the elapsed time and a spinner.
 */

import { formatBytes } from '../format';

export interface ProgressOptions {
  /** Where to draw (default process.stderr, so stdout stays clean for data and --json). */
  stream?: NodeJS.WriteStream;
  /** Draw nothing until this much time has passed (default 1000 ms). */
  delayMs?: number;
  /** 'bytes' shows sizes in KiB/MiB/GiB, 'items' plain counts (default 'bytes'). */
  unit?: 'bytes' | 'items';
}

const SPINNER = ['|', '/', '-', '\\'];
const BAR_WIDTH = 24;

/** One progress line; call update() as work advances and finish() when done (also on failure). */
export class Progress {
  private readonly stream: NodeJS.WriteStream;
  private readonly started = Date.now();
  private readonly delayMs: number;
  private readonly unit: 'bytes' | 'items';
  private readonly timer: NodeJS.Timeout | undefined;
  private phaseStarted = Date.now();
  private done = 0;
  private frame = 0;
  private drawn = false;

  /** `total` undefined means the amount of work is unknown (spinner and elapsed time). */
  constructor(private label: string, private total?: number, options: ProgressOptions = {}) {
    this.stream = options.stream ?? process.stderr;
    this.delayMs = options.delayMs ?? 1000;
    this.unit = options.unit ?? 'bytes';
    if (this.stream.isTTY) {
      // A timer rather than drawing in update(): work that reports nothing (one native call) still
      // shows that it is alive. unref() so a forgotten finish() never keeps the process running.
      this.timer = setInterval(() => this.draw(), 100);
      this.timer.unref();
    }
  }

  /**
   * Records how much is done (same unit as total). A new `label` starts a new phase of the work:
   * its rate and time left are measured from then on.
   */
  update(done: number, total?: number, label?: string): void {
    if (label !== undefined && label !== this.label) {
      this.label = label;
      this.phaseStarted = Date.now();
    }
    this.done = done;
    if (total !== undefined) this.total = total;
  }

  /** Stops drawing and clears the line. Safe to call more than once. */
  finish(): void {
    if (this.timer) clearInterval(this.timer);
    if (this.drawn) {
      this.stream.write('\r\x1b[K');
      this.drawn = false;
    }
  }

  /** ", 412 MiB/s, 12s left" once the phase has run for half a second; "" before. */
  private rateAndEta(): string {
    const secs = (Date.now() - this.phaseStarted) / 1000;
    if (secs < 0.5 || this.done <= 0 || this.total === undefined) return '';
    const rate = this.done / secs;
    const left = Math.max(0, (this.total - this.done) / rate);
    const perSec = this.unit === 'bytes' ? `${formatBytes(Math.round(rate))}/s` : `${rate.toFixed(1)}/s`;
    const eta = left >= 60 ? `${Math.floor(left / 60)}m${String(Math.round(left % 60)).padStart(2, '0')}s` : `${Math.ceil(left)}s`;
    return `, ${perSec}, ${eta} left`;
  }

  private draw(): void {
    const elapsed = Date.now() - this.started;
    if (elapsed < this.delayMs) return;
    const secs = `${(elapsed / 1000).toFixed(1)}s`;
    const fmt = (n: number): string => (this.unit === 'bytes' ? formatBytes(n) : String(n));
    let line: string;
    if (this.total !== undefined && this.total > 0) {
      const frac = Math.min(1, this.done / this.total);
      const filled = Math.round(frac * BAR_WIDTH);
      line = `${this.label} [${'#'.repeat(filled)}${'.'.repeat(BAR_WIDTH - filled)}] ` +
        `${Math.floor(frac * 100)}% ${fmt(this.done)}/${fmt(this.total)}${this.rateAndEta()} ${secs}`;
    } else {
      line = `${this.label} ${SPINNER[this.frame++ % SPINNER.length]} ${secs}`;
    }
    // A terminal that reports no width (0: a serial console, some emulators) gets 80 columns.
    const columns = this.stream.columns || 80;
    this.stream.write(`\r${line.slice(0, Math.max(10, columns - 1))}\x1b[K`);
    this.drawn = true;
  }
}

/**
 * Runs `work` with a progress line that is cleared afterwards, whether the work succeeds or
 * throws. `total` undefined shows a spinner.
 */
export async function withProgress<T>(label: string, work: (progress: Progress) => Promise<T>,
  total?: number, options?: ProgressOptions): Promise<T> {
  const progress = new Progress(label, total, options);
  try {
    return await work(progress);
  } finally {
    progress.finish();
  }
}
