/**
 * The guest console as events. Bytes from the guest's first UART are split into lines (in
 * order, none lost); a line still incomplete after `flushTimeout` ms is delivered as a partial
 * line (a shell prompt has no newline); a line longer than `maxLineBytes` is cut there and the
 * rest of it up to the newline is counted, not kept. Bytes are decoded as UTF-8 with
 * replacement characters, so binary noise cannot break anything. A line is the text a terminal
 * would show: carriage returns overwrite as they do on a screen (`10%\r20%` is `20%`) and escape
 * sequences (colours, cursor moves, titles) and other control characters are removed; the line
 * as the guest printed it is in `LineInfo.raw`, and every byte in `console.raw`. Lines that parse as the
 * message schema (lib/vm/messages.ts) also become `message` events; JSON objects that do not fit
 * become `invalid-message` events.
 *
 * ```ts
 * vm.console.on('line', (text, info) => console.log('VM:', text));
 * vm.console.on('message', (msg) => console.log(msg.type, msg.data.message));
 * await vm.console.waitFor(/pixelrts-demo: init reached/, { timeout: 10000 });
 * vm.console.write('uname -a\n');
 * ```
 */
import { EventEmitter } from 'node:events';
import { PassThrough, type Readable, type Writable } from 'node:stream';
import { PixelrtsError } from '../errors';
import { parseMessageLine, stripEscapes, type InvalidMessage, type VmMessage } from './messages';

/** Details of one `line` event. */
export interface LineInfo {
  /** Delivered because no newline came within the flush timeout (the rest follows as a new line). */
  partial: boolean;
  /** The line was longer than the cap and was cut. */
  truncated: boolean;
  /** Bytes of the line that were dropped by the cap. */
  droppedBytes: number;
  /** The line as the guest printed it: carriage returns and escape sequences included. */
  raw: string;
}

/**
 * What a terminal shows of `raw`: each carriage return starts over from the left, overwriting
 * what was there (a progress counter ends as its last value); escape sequences and other
 * control characters are dropped.
 */
export function screenText(raw: string): string {
  if (!/[\x00-\x08\x0b-\x1f\x7f]/.test(raw)) return raw;
  return raw.split('\r').map(stripEscapes).reduce((shown, part) => part + shown.slice(part.length), '');
}

export interface ConsoleOptions {
  /** Deliver an incomplete line after this many ms without a newline (default 100). */
  flushTimeout?: number;
  /** Cap for one line in bytes (default 65536). */
  maxLineBytes?: number;
  /** Where `write` sends input (QEMU's stdin); null for a read-only console. */
  input?: Writable | null;
  /**
   * Hold the guest's output until someone listens (a `line`, `message`, `invalid-message` or
   * `end` listener, `raw`, `waitFor`, or `release()`), so that nothing printed before the
   * caller attached its listeners is lost. At most `HOLD_LIMIT` bytes are held; beyond that
   * output is processed whether or not anyone listens. Default false.
   */
  hold?: boolean;
  /** Also told about every message / invalid message, without counting as a listener (the VM uses it to re-emit them). */
  forward?: { message?: (msg: VmMessage) => void; invalid?: (invalid: InvalidMessage) => void };
}

/** The most console output held while nobody listens (bytes). */
export const HOLD_LIMIT = 1 << 20;
const CONSUMER_EVENTS = new Set<string | symbol>(['line', 'message', 'invalid-message', 'end']);

/**
 * A guest console. Events: `line` (text, LineInfo), `message` (VmMessage), `invalid-message`
 * (InvalidMessage), `end` (the guest's output ended: QEMU exited).
 */
export class Console extends EventEmitter {
  readonly flushTimeout: number;
  readonly maxLineBytes: number;
  private readonly inputStream: Writable | null;
  private chunks: Buffer[] = [];
  private pendingBytes = 0;
  private dropped = 0;
  private flushTimer: NodeJS.Timeout | null = null;
  private rawStream: PassThrough | null = null;
  private ended = false;
  private readonly decoder = new TextDecoder('utf-8', { fatal: false });
  private held: Buffer[] | null;
  private heldBytes = 0;
  private releaseScheduled = false;
  private readonly forward: NonNullable<ConsoleOptions['forward']>;
  /** Lines delivered so far. */
  lineCount = 0;

  constructor(options: ConsoleOptions = {}) {
    super();
    this.flushTimeout = options.flushTimeout ?? 100;
    this.maxLineBytes = options.maxLineBytes ?? 65536;
    this.inputStream = options.input ?? null;
    this.forward = options.forward ?? {};
    this.held = options.hold ? [] : null;
    if (this.held) this.on('newListener', (event) => { if (CONSUMER_EVENTS.has(event)) this.scheduleRelease(); });
  }

  /**
   * Starts processing held output (see ConsoleOptions.hold). Called for you when a consumer
   * appears; the release happens on the next macrotask, so listeners attached together in
   * one synchronous block all see the first line.
   */
  release(): void {
    const held = this.held;
    if (!held) return;
    this.held = null;
    this.heldBytes = 0;
    for (const chunk of held) this.process(chunk);
  }

  private scheduleRelease(): void {
    if (!this.held || this.releaseScheduled) return;
    this.releaseScheduled = true;
    setImmediate(() => this.release());
  }

  /**
   * The raw console bytes as a stream, from the moment it is first asked for (escape
   * sequences and all). Consume it: it buffers what is not read.
   */
  get raw(): Readable {
    this.scheduleRelease();
    if (!this.rawStream) {
      this.rawStream = new PassThrough();
      if (this.ended) this.rawStream.end();
    }
    return this.rawStream;
  }

  /** The writable end of the guest's console input (QEMU's stdin), for piping a terminal in. */
  get input(): Writable | null {
    return this.inputStream;
  }

  /** Types `data` into the guest console. */
  write(data: string | Buffer): void {
    if (!this.inputStream || this.inputStream.destroyed || this.inputStream.writableEnded) {
      throw new PixelrtsError('ERR_PIXELRTS_CONSOLE_CLOSED', 'cannot write to the guest console: QEMU is not running (or the console is read-only)');
    }
    this.inputStream.write(data);
  }

  /** Feeds bytes the guest printed (called by the VM with QEMU's stdout). */
  push(chunk: Buffer): void {
    if (this.ended) return;
    if (this.held) {
      this.held.push(Buffer.from(chunk));
      this.heldBytes += chunk.length;
      if (this.heldBytes > HOLD_LIMIT) this.release();
      return;
    }
    this.process(chunk);
  }

  private process(chunk: Buffer): void {
    this.rawStream?.write(chunk);
    let start = 0;
    for (;;) {
      const nl = chunk.indexOf(0x0a, start);
      const end = nl < 0 ? chunk.length : nl;
      this.append(chunk.subarray(start, end));
      if (nl < 0) break;
      this.emitLine(false);
      start = nl + 1;
    }
    this.armFlush();
  }

  /** Marks the end of the guest's output: delivers what is pending and emits `end`. */
  end(): void {
    if (this.ended) return;
    this.release();
    if (this.pendingBytes > 0 || this.dropped > 0) this.emitLine(false);
    this.ended = true;
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    this.rawStream?.end();
    this.emit('end');
  }

  /**
   * Resolves with the first line from now on that contains `pattern` (string) or matches it
   * (RegExp); rejects with ERR_PIXELRTS_TIMEOUT after `timeout` ms or when the console ends.
   */
  waitFor(pattern: string | RegExp, options: { timeout?: number } = {}): Promise<string> {
    const timeout = options.timeout ?? 30000;
    return new Promise((resolve, reject) => {
      const matches = (l: string) => (typeof pattern === 'string' ? l.includes(pattern) : pattern.test(l));
      const cleanup = () => { clearTimeout(timer); this.off('line', onLine); this.off('end', onEnd); };
      const onLine = (l: string) => { if (matches(l)) { cleanup(); resolve(l); } };
      const onEnd = () => { cleanup(); reject(new PixelrtsError('ERR_PIXELRTS_CONSOLE_CLOSED', `the guest console ended before a line matching ${String(pattern)}`)); };
      const timer = setTimeout(() => {
        cleanup();
        reject(new PixelrtsError('ERR_PIXELRTS_TIMEOUT', `no console line matching ${String(pattern)} within ${timeout} ms`));
      }, timeout);
      this.on('line', onLine);
      this.once('end', onEnd);
    });
  }

  private append(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const room = this.maxLineBytes - this.pendingBytes;
    if (room <= 0) {
      this.dropped += bytes.length;
      return;
    }
    const kept = bytes.length <= room ? bytes : bytes.subarray(0, room);
    // Copy: the caller's chunk may be reused by the stream machinery.
    this.chunks.push(Buffer.from(kept));
    this.pendingBytes += kept.length;
    this.dropped += bytes.length - kept.length;
  }

  private armFlush(): void {
    if (this.flushTimer) clearTimeout(this.flushTimer);
    this.flushTimer = null;
    if (this.pendingBytes === 0 && this.dropped === 0) return;
    this.flushTimer = setTimeout(() => {
      this.flushTimer = null;
      if (this.pendingBytes > 0 || this.dropped > 0) this.emitLine(true);
    }, this.flushTimeout);
  }

  private emitLine(partial: boolean): void {
    let bytes = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks, this.pendingBytes);
    if (!partial && bytes.length > 0 && bytes[bytes.length - 1] === 0x0d) bytes = bytes.subarray(0, bytes.length - 1);
    const dropped = this.dropped;
    this.chunks = [];
    this.pendingBytes = 0;
    this.dropped = 0;
    // Cutting at the cap may split a multi-byte character: it decodes to U+FFFD, not an error.
    const raw = this.decoder.decode(bytes);
    const text = screenText(raw);
    const info: LineInfo = { partial, truncated: dropped > 0, droppedBytes: dropped, raw };
    this.lineCount++;
    this.emit('line', text, info);
    const parsed = parseMessageLine(text);
    if (parsed === null) return;
    if (parsed.ok) {
      this.forward.message?.(parsed.message);
      this.emit('message', parsed.message);
    } else {
      const invalid: InvalidMessage = { line: text, error: parsed.error };
      this.forward.invalid?.(invalid);
      this.emit('invalid-message', invalid);
    }
  }
}

/** The events of a Console and their arguments (Console.on is typed by them). */
export interface ConsoleEvents {
  /** One line as a terminal shows it, and how it was delivered (its raw text included). */
  line: [text: string, info: LineInfo];
  message: [message: VmMessage];
  'invalid-message': [invalid: InvalidMessage];
  /** The guest's output ended: QEMU exited. */
  end: [];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface Console {
  on<E extends keyof ConsoleEvents>(event: E, listener: (...args: ConsoleEvents[E]) => void): this;
  once<E extends keyof ConsoleEvents>(event: E, listener: (...args: ConsoleEvents[E]) => void): this;
  off<E extends keyof ConsoleEvents>(event: E, listener: (...args: ConsoleEvents[E]) => void): this;
  emit<E extends keyof ConsoleEvents>(event: E, ...args: ConsoleEvents[E]): boolean;
}
