/**
 * A QMP (QEMU Machine Protocol) client over a Unix socket, in-process (no helper process).
 *
 * Protocol: the server greets with `{"QMP": {...}}`; the client sends `qmp_capabilities` to
 * leave negotiation mode; then every `{"execute": cmd, "arguments": {...}, "id": n}` is answered
 * by `{"return": ..., "id": n}` or `{"error": {"class", "desc"}, "id": n}`, and asynchronous
 * `{"event": NAME, "data": {...}, "timestamp": {...}}` messages arrive at any time.
 *
 * ```ts
 * const qmp = await QmpClient.connect('/run/user/0/pixelrts-x/qmp.sock');
 * const status = await qmp.execute<{ status: string }>('query-status');
 * for await (const ev of qmp.events()) if (ev.event === 'SHUTDOWN') break;
 * await qmp.close();
 * ```
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { PixelrtsError } from '../errors';
import { connectUnixSocket } from './unix-socket';

/** The server's greeting. */
export interface QmpGreeting {
  QMP: { version: { qemu: { major: number; minor: number; micro: number }; package: string }; capabilities: string[] };
}

/** An asynchronous QMP event (SHUTDOWN, POWERDOWN, RESET, STOP, RESUME, ...). */
export interface QmpEvent {
  event: string;
  data?: Record<string, unknown>;
  timestamp: { seconds: number; microseconds: number };
}

/** What runs QMP commands: a QmpClient, or a VM owner's control socket (its qmp op). */
export interface QmpExecutor {
  execute(command: string, args?: Record<string, unknown>): Promise<unknown>;
}

/** An error QEMU returned for a command: `errorClass` is QMP's `class` (e.g. `CommandNotFound`). */
export class QmpError extends PixelrtsError {
  readonly errorClass: string;
  readonly desc: string;
  readonly command: string;

  constructor(command: string, errorClass: string, desc: string) {
    super('ERR_PIXELRTS_QMP', `QMP command '${command}' failed: ${errorClass}: ${desc}`);
    this.name = 'QmpError';
    this.errorClass = errorClass;
    this.desc = desc;
    this.command = command;
  }
}

export interface QmpConnectOptions {
  /** How long to wait for the socket to appear and the greeting to arrive (ms, default 5000). */
  timeout?: number;
  /** Checked between connection attempts; a reason string aborts (e.g. "QEMU exited"). */
  abort?: () => string | null;
}

export interface QmpExecuteOptions {
  /** Reject with ERR_PIXELRTS_TIMEOUT after this many ms (default 10000; 0 = wait forever). */
  timeout?: number;
}

interface Pending {
  command: string;
  resolve: (value: unknown) => void;
  reject: (err: Error) => void;
  timer: NodeJS.Timeout | null;
}

/** The events of a QmpClient and their arguments (QmpClient.on is typed by them). */
export interface QmpClientEvents {
  /** An asynchronous event from QEMU. */
  event: [event: QmpEvent];
  /** QEMU sent a line that is not JSON (it is skipped). */
  'protocol-error': [error: PixelrtsError];
  /** The connection ended, and why. */
  close: [error: Error];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** A connected QMP session; its events are QmpClientEvents. */
export class QmpClient extends EventEmitter {
  /** The greeting QEMU sent (version, capabilities). */
  readonly greeting: QmpGreeting;
  /** The socket path this client is connected to. */
  readonly path: string;
  private readonly sock: net.Socket;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private buffered = '';
  private closedError: Error | null = null;
  private readonly closedPromise: Promise<void>;
  private readonly waiters = new Set<(ev: QmpEvent | null) => void>();

  private constructor(path: string, sock: net.Socket, greeting: QmpGreeting, rest: string) {
    super();
    this.path = path;
    this.sock = sock;
    this.greeting = greeting;
    this.buffered = rest;
    this.closedPromise = new Promise((resolve) => {
      sock.on('close', () => {
        this.shutdownState(new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED',
          `QMP connection to ${path} closed (QEMU exited or closed the monitor)`));
        resolve();
      });
    });
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', (err) => { this.closedError ??= err; });
    if (rest.length > 0) setImmediate(() => this.onData(''));
  }

  /**
   * Connects to the QMP socket at `path` (retrying until it exists, up to `timeout`), reads the
   * greeting and negotiates capabilities. Resolves with a client ready for `execute`.
   */
  static async connect(path: string, options: QmpConnectOptions = {}): Promise<QmpClient> {
    const timeout = options.timeout ?? 5000;
    const started = Date.now();
    const sock = await connectUnixSocket(path, { timeout, abort: options.abort, what: 'QMP socket' });
    sock.setEncoding('utf8');
    sock.setNoDelay?.(true);
    let greeting: QmpGreeting;
    let rest: string;
    try {
      [greeting, rest] = await readGreeting(sock, path, Math.max(100, timeout - (Date.now() - started)));
    } catch (err) {
      sock.destroy();
      throw err;
    }
    const client = new QmpClient(path, sock, greeting, rest);
    try {
      await client.execute('qmp_capabilities', undefined, { timeout: Math.max(1000, timeout - (Date.now() - started)) });
    } catch (err) {
      await client.close();
      throw err;
    }
    return client;
  }

  /** True once the connection has ended. */
  get closed(): boolean {
    return this.sock.destroyed;
  }

  /**
   * Runs `command` with `args` and resolves with its `return` value. Rejects with QmpError
   * (class, desc) when QEMU reports an error, ERR_PIXELRTS_TIMEOUT after `timeout`, and
   * ERR_PIXELRTS_QMP_CLOSED when the connection closes before the reply.
   */
  execute<T = unknown>(command: string, args?: Record<string, unknown>, options: QmpExecuteOptions = {}): Promise<T> {
    if (this.sock.destroyed || !this.sock.writable) {
      return Promise.reject(new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED',
        `cannot run QMP command '${command}': the connection to ${this.path} is closed`));
    }
    const id = this.nextId++;
    const timeout = options.timeout ?? 10000;
    return new Promise<T>((resolve, reject) => {
      const entry: Pending = { command, resolve: resolve as (v: unknown) => void, reject, timer: null };
      if (timeout > 0) {
        entry.timer = setTimeout(() => {
          this.pending.delete(id);
          reject(new PixelrtsError('ERR_PIXELRTS_TIMEOUT',
            `QMP command '${command}' got no reply within ${timeout} ms (is QEMU hung? try a longer timeout)`));
        }, timeout);
      }
      this.pending.set(id, entry);
      const msg: Record<string, unknown> = { execute: command, id };
      if (args !== undefined) msg.arguments = args;
      this.sock.write(JSON.stringify(msg) + '\n');
    });
  }

  /**
   * An async iterator over the events that arrive from now on; it ends when the connection
   * closes (or when the consumer breaks out of its loop). Each iterator has its own queue.
   */
  events(): AsyncIterableIterator<QmpEvent> {
    const queue: QmpEvent[] = [];
    let wake: ((ev: QmpEvent | null) => void) | null = null;
    let done = this.sock.destroyed;
    const listener = (ev: QmpEvent | null) => {
      if (ev === null) done = true;
      if (wake) { const w = wake; wake = null; w(ev); } else if (ev) queue.push(ev);
    };
    this.waiters.add(listener);
    const finish = (): IteratorResult<QmpEvent> => {
      this.waiters.delete(listener);
      done = true;
      return { value: undefined, done: true };
    };
    const iterator: AsyncIterableIterator<QmpEvent> = {
      next: async () => {
        if (queue.length > 0) return { value: queue.shift() as QmpEvent, done: false };
        if (done) return finish();
        const ev = await new Promise<QmpEvent | null>((r) => { wake = r; });
        return ev === null ? finish() : { value: ev, done: false };
      },
      return: async () => finish(),
      [Symbol.asyncIterator]() { return iterator; },
    };
    return iterator;
  }

  /** Waits for the next event named `name` (optionally matching `filter`), or rejects after `timeout` ms. */
  waitForEvent(name: string, options: { timeout?: number; filter?: (ev: QmpEvent) => boolean } = {}): Promise<QmpEvent> {
    const timeout = options.timeout ?? 10000;
    return new Promise((resolve, reject) => {
      const cleanup = () => { clearTimeout(timer); this.off('event', onEvent); this.off('close', onClose); };
      const onEvent = (ev: QmpEvent) => {
        if (ev.event === name && (!options.filter || options.filter(ev))) { cleanup(); resolve(ev); }
      };
      const onClose = () => {
        cleanup();
        reject(new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED', `QMP connection to ${this.path} closed while waiting for event ${name}`));
      };
      const timer = setTimeout(() => {
        cleanup();
        reject(new PixelrtsError('ERR_PIXELRTS_TIMEOUT', `no QMP event ${name} within ${timeout} ms`));
      }, timeout);
      this.on('event', onEvent);
      this.once('close', onClose);
    });
  }

  /** Closes the connection; pending commands reject with ERR_PIXELRTS_QMP_CLOSED. */
  async close(): Promise<void> {
    if (!this.sock.destroyed) this.sock.end();
    const timer = setTimeout(() => this.sock.destroy(), 500);
    await this.closedPromise;
    clearTimeout(timer);
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).trim();
      this.buffered = this.buffered.slice(nl + 1);
      if (line.length > 0) this.onMessage(line);
    }
  }

  private onMessage(line: string): void {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      this.emit('protocol-error', new PixelrtsError('ERR_PIXELRTS_QMP', `QMP sent a line that is not JSON: ${line.slice(0, 200)}`));
      return;
    }
    if (typeof msg.event === 'string') {
      const ev = msg as unknown as QmpEvent;
      this.emit('event', ev);
      for (const w of this.waiters) w(ev);
      return;
    }
    const id = typeof msg.id === 'number' ? msg.id : Number.NaN;
    const entry = this.pending.get(id);
    if (!entry) return; // a reply to a command that already timed out
    this.pending.delete(id);
    if (entry.timer) clearTimeout(entry.timer);
    if ('error' in msg) {
      const e = (msg.error ?? {}) as { class?: string; desc?: string };
      entry.reject(new QmpError(entry.command, e.class ?? 'GenericError', e.desc ?? 'no description'));
    } else {
      entry.resolve(msg.return);
    }
  }

  private shutdownState(err: Error): void {
    const reason = this.closedError ? `${err.message}: ${this.closedError.message}` : err.message;
    this.closedError ??= err;
    for (const [id, entry] of this.pending) {
      this.pending.delete(id);
      if (entry.timer) clearTimeout(entry.timer);
      entry.reject(new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED',
        `QMP command '${entry.command}' got no reply: ${reason}`));
    }
    for (const w of this.waiters) w(null);
    this.waiters.clear();
    this.emit('close', err);
  }
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface QmpClient {
  on<E extends keyof QmpClientEvents>(event: E, listener: (...args: QmpClientEvents[E]) => void): this;
  once<E extends keyof QmpClientEvents>(event: E, listener: (...args: QmpClientEvents[E]) => void): this;
  off<E extends keyof QmpClientEvents>(event: E, listener: (...args: QmpClientEvents[E]) => void): this;
  emit<E extends keyof QmpClientEvents>(event: E, ...args: QmpClientEvents[E]): boolean;
}

function readGreeting(sock: net.Socket, path: string, timeout: number): Promise<[QmpGreeting, string]> {
  return new Promise((resolve, reject) => {
    let buf = '';
    const cleanup = () => { clearTimeout(timer); sock.off('data', onData); sock.off('close', onClose); sock.off('error', onClose); };
    const onData = (chunk: string) => {
      buf += chunk;
      const nl = buf.indexOf('\n');
      if (nl < 0) {
        if (buf.length > 65536) { cleanup(); reject(new PixelrtsError('ERR_PIXELRTS_QMP', `${path} is not a QMP socket: no greeting line in 64 KiB`)); }
        return;
      }
      cleanup();
      const line = buf.slice(0, nl);
      try {
        const g = JSON.parse(line) as QmpGreeting;
        if (typeof g !== 'object' || g === null || !('QMP' in g)) throw new Error('no "QMP" key');
        resolve([g, buf.slice(nl + 1)]);
      } catch (err) {
        reject(new PixelrtsError('ERR_PIXELRTS_QMP',
          `${path} is not a QMP socket: expected a {"QMP": ...} greeting, found ${JSON.stringify(line.slice(0, 120))} (${(err as Error).message})`));
      }
    };
    const onClose = () => { cleanup(); reject(new PixelrtsError('ERR_PIXELRTS_QMP_CLOSED', `QMP socket ${path} closed before its greeting (another client connected already?)`)); };
    const timer = setTimeout(() => {
      cleanup();
      reject(new PixelrtsError('ERR_PIXELRTS_TIMEOUT', `no QMP greeting on ${path} within ${timeout} ms (another client may hold the monitor)`));
    }, timeout);
    sock.on('data', onData);
    sock.once('close', onClose);
    sock.once('error', onClose);
  });
}
