/**
 * What `pixelrts boot` tells the user about the boot itself (not the guest's console):
 * stage progress on stderr (a live line with timings on a terminal, plain `[ok] stage (12 ms)`
 * lines otherwise) or, with `--json`, one NDJSON event per line on stdout.
 *
 * NDJSON schema: every object has `type` and `time` (ISO 8601):
 *   {"type":"stage","stage":"mount","status":"done","ms":12.3,"at":40.1,"detail":"..."}
 *   {"type":"ready","id":"demo-3f2a","pid":1234,"runtimeDir":"...","mountpoint":"...","qmpSocket":"...",
 *    "channelSocket":"...","controlSocket":"...","accel":"tcg","cmdline":"..."}   QEMU runs (pid: QEMU's)
 *   {"type":"console","line":"...","raw":"..."}   raw: as printed (\r, escapes), only when it differs
 *   {"type":"message","message":{...}}           a guest line that is a structured message
 *   {"type":"qmp-event","event":"SHUTDOWN","data":{...}}
 *   {"type":"liveness","state":"unresponsive"|"responsive"}
 *   {"type":"stopping","reason":"signal","detail":"SIGINT","forced":false}
 *   {"type":"warning","code":"ERR_PIXELRTS_...","message":"..."}   trouble that does not stop the VM
 *   {"type":"note","message":"..."}             something the user should know (a signal while starting, …)
 *   {"type":"error","code":"ERR_PIXELRTS_...","message":"..."}   the boot failed (then exit status 1)
 *   {"type":"exit","exitCode":0,"code":0,"signal":null,"poweredOff":true,"reason":"..."}
 */
import type { Writable } from 'node:stream';
import type { BootStageEvent } from './boot';
import { colorAllowed } from '../format';

/** Formats milliseconds for the progress lines: `12 ms`, `1.24 s`. */
export function formatMs(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : `${(ms / 1000).toFixed(2)} s`;
}

/** An event's own fields: anything but the envelope's `type` and `time`. */
export type EventFields = Record<string, unknown> & { type?: never; time?: never };

/**
 * Writes NDJSON events, one object per line: `type`, `time` (ISO 8601), then the fields. Every
 * `--json` of the CLI writes through it, so every command's output has the same envelope
 * (docs/cli.md lists the events of each).
 */
/** Errors already printed as an `error` event (a boot session's), which the CLI must not print again. */
const reported = new WeakSet<object>();

/** Records that `err` went out as an `error` event. */
export function markReported(err: unknown): void {
  if (typeof err === 'object' && err !== null) reported.add(err);
}

/** True when `err` already went out as an `error` event. */
export function wasReported(err: unknown): boolean {
  return typeof err === 'object' && err !== null && reported.has(err);
}

export class EventWriter {
  constructor(private readonly out: Writable = process.stdout) {}

  /** Writes one event (nothing once the output has failed, e.g. the reader of a pipe left). */
  write(type: string, fields: EventFields = {}): void {
    if (this.out.destroyed || this.out.writableEnded) return;
    // 64-bit counters (the frame server's) are bigints, which JSON has no form for: decimal strings.
    const line = JSON.stringify({ type, time: new Date().toISOString(), ...fields }, (_k, v: unknown) => (typeof v === 'bigint' ? v.toString() : v));
    this.out.write(`${line}\n`);
  }
}

const STAGE_LABELS: Record<string, string> = {
  remote: 'open URL',
  open: 'open container',
  verify: 'verify hashes',
  mount: 'mount',
  accel: 'accelerator',
  'qemu-start': 'start QEMU',
  'first-console-line': 'first console line',
  exit: 'exit',
};

/**
 * Shows boot stages on stderr. `tty`: a live line for the running stage, then `✓ stage  12 ms`;
 * `plain`: `[ok] stage (12 ms): detail`; `none`: nothing.
 */
export class StageReporter {
  private live: { label: string; started: number } | undefined;
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(private readonly mode: 'tty' | 'plain' | 'none', private readonly out: Writable = process.stderr) {}

  /** Handles one stage event from `boot()`'s onStage. */
  stage(ev: BootStageEvent): void {
    if (this.mode === 'none') return;
    const label = STAGE_LABELS[ev.stage] ?? ev.stage;
    // On a terminal the guest's own output shows when its console comes alive; a progress line
    // there would land in the middle of it.
    if (this.mode === 'tty' && ev.stage === 'first-console-line') return;
    if (ev.status === 'start') {
      if (this.mode === 'tty') this.startLive(label);
      return;
    }
    this.clear();
    const paint = (code: string, text: string): string => (colorAllowed({ isTTY: this.mode === 'tty' }) ? `\x1b[${code}m${text}\x1b[0m` : text);
    const detail = ev.detail ? (this.mode === 'tty' ? `  ${paint('2', this.fit(ev.detail, label))}` : `: ${ev.detail}`) : '';
    if (this.mode === 'tty') {
      const mark = ev.status === 'done' ? paint('32', '✓') : ev.status === 'skipped' ? paint('33', '-') : paint('31', '✗');
      const time = ev.status === 'skipped' ? '' : `  ${formatMs(ev.ms)}`;
      this.out.write(`${mark} ${label}${time}${detail}\n`);
    } else {
      const state = ev.status === 'done' ? 'ok' : ev.status === 'skipped' ? 'skip' : 'failed';
      const time = ev.status === 'skipped' ? '' : ` (${formatMs(ev.ms)})`;
      this.out.write(`[${state}] ${ev.stage}${time}${detail}\n`);
    }
  }

  /** Prints a note between stage lines (`[note] ...` in plain mode). */
  note(text: string): void {
    if (this.mode === 'none') return;
    this.clear();
    this.out.write(this.mode === 'tty' ? `${text}\n` : `[note] ${text}\n`);
  }

  /** Clears the live line; call before the guest's output takes the terminal. */
  clear(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    if (this.drawn) this.out.write('\r\x1b[K');
    this.drawn = false;
    this.live = undefined;
  }

  /** On a terminal a detail is cut to the line (the accelerator's reason can be long); --json has it whole. */
  private fit(detail: string, label: string): string {
    // No width reported (0: a serial console) is taken as 100 columns, not as none.
    const columns = (this.out as { columns?: number }).columns || 100;
    const room = Math.max(20, columns - label.length - 14);
    return detail.length <= room ? detail : `${detail.slice(0, room - 1)}…`;
  }

  private startLive(label: string): void {
    this.clear();
    this.live = { label, started: performance.now() };
    this.draw();
    this.timer = setInterval(() => this.draw(), 100);
    this.timer.unref();
  }

  private draw(): void {
    if (!this.live) return;
    this.out.write(`\r\x1b[K… ${this.live.label} ${formatMs(performance.now() - this.live.started)}`);
    this.drawn = true;
  }
}
