/**
 * The command channel: a second, bidirectional byte pipe between host and guest (a second
 * UART, ttyS1, or the virtio-serial port `org.pixelrts.channel`), which QEMU serves on a Unix
 * socket. Both directions carry one JSON message (lib/vm/messages.ts) per line. Host → guest:
 * commands; guest → host: replies (carrying the request's `id`), heartbeats, status and error
 * messages. Keeping this traffic off the console keeps the console clean for people.
 *
 * Readiness: bytes sent before the guest's agent has opened its end are lost (a UART drops
 * them; a virtio port not yet open discards them). So what is sent is held until the guest has
 * spoken on the channel (its agent announces itself, or any message), then written in order;
 * `agent` is emitted then, and `ready()` waits for it. A request's timeout counts from the call.
 *
 * Liveness: once the first heartbeat has arrived, `unresponsive` is emitted when none has come
 * for `heartbeatTimeout` ms, and `responsive` when they resume. If the socket drops while QEMU
 * lives, the channel reconnects; lines sent in between are queued.
 *
 * ```ts
 * const reply = await vm.request({ data: { message: 'ping' } }, { timeout: 2000 });
 * vm.on('unresponsive', ({ silentMs }) => console.warn(`guest silent for ${silentMs} ms`));
 * ```
 */
import { EventEmitter } from 'node:events';
import type net from 'node:net';
import { PixelrtsError } from '../errors';
import { parseMessageLine, toWireMessage, type InvalidMessage, type OutgoingMessage, type VmMessage } from './messages';
import { connectUnixSocket } from './unix-socket';

export interface ChannelOptions {
  /** The Unix socket QEMU serves the channel on. */
  socketPath: string;
  /** Declare the guest unresponsive after this long without a heartbeat (ms, default 3000). */
  heartbeatTimeout?: number;
  /** While this returns true a dropped socket is reconnected (default: always). */
  shouldReconnect?: () => boolean;
  /** Cap of a received line in bytes (default 65536); longer lines are cut and reported. */
  maxLineBytes?: number;
}

export interface RequestOptions {
  /** Reject with ERR_PIXELRTS_TIMEOUT after this many ms (default 5000). */
  timeout?: number;
}

/** Payload of `unresponsive` / `responsive`. */
export interface LivenessEvent {
  /** Milliseconds since the last heartbeat (for `responsive`: how long the silence lasted). */
  silentMs: number;
}

interface PendingRequest {
  resolve: (m: VmMessage) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
  command: string;
}

/** The events of a Channel and their arguments (Channel.on is typed by them). */
export interface ChannelEvents {
  /** The guest spoke for the first time: it can be sent to. */
  agent: [message: VmMessage];
  message: [message: VmMessage];
  /** A line that is not JSON. */
  line: [text: string];
  'invalid-message': [invalid: InvalidMessage];
  heartbeat: [];
  unresponsive: [event: LivenessEvent];
  responsive: [event: LivenessEvent];
  disconnect: [];
  reconnect: [];
  /** close() was called. */
  closed: [];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** One command channel; its events are ChannelEvents. */
export class Channel extends EventEmitter {
  readonly socketPath: string;
  readonly heartbeatTimeout: number;
  private readonly maxLineBytes: number;
  private readonly shouldReconnect: () => boolean;
  private sock: net.Socket | null = null;
  private closed = false;
  private buffered = '';
  private queue: string[] = [];
  private readonly pending = new Map<string, PendingRequest>();
  private nextId = 1;
  private lastHeartbeat = 0;
  private isResponsive: boolean | null = null;
  private watchdog: NodeJS.Timeout | null = null;
  private connecting: Promise<void> | null = null;
  private agentSeen = false;

  constructor(options: ChannelOptions) {
    super();
    this.socketPath = options.socketPath;
    this.heartbeatTimeout = options.heartbeatTimeout ?? 3000;
    this.maxLineBytes = options.maxLineBytes ?? 65536;
    this.shouldReconnect = options.shouldReconnect ?? (() => true);
  }

  /** Whether the guest is sending heartbeats: null until the first one arrives. */
  get responsive(): boolean | null {
    return this.isResponsive;
  }

  /** True once the guest has spoken on the channel (its agent reads it). */
  get agentReady(): boolean {
    return this.agentSeen;
  }

  /**
   * Resolves once the guest's agent has announced itself (at once if it has); rejects with
   * ERR_PIXELRTS_TIMEOUT after `timeout` ms (default 30000) or ERR_PIXELRTS_CHANNEL_CLOSED.
   */
  ready(options: { timeout?: number } = {}): Promise<void> {
    if (this.agentSeen) return Promise.resolve();
    if (this.closed) return Promise.reject(new PixelrtsError('ERR_PIXELRTS_CHANNEL_CLOSED', 'the command channel is closed (the VM has exited)'));
    const timeout = options.timeout ?? 30_000;
    return new Promise<void>((resolve, reject) => {
      const done = (err?: Error): void => {
        clearTimeout(timer);
        this.off('agent', onAgent);
        this.off('closed', onClosed);
        if (err) reject(err); else resolve();
      };
      const onAgent = (): void => done();
      const onClosed = (): void => done(new PixelrtsError('ERR_PIXELRTS_CHANNEL_CLOSED', 'the VM exited before its agent announced itself'));
      const timer = setTimeout(() => done(new PixelrtsError('ERR_PIXELRTS_TIMEOUT',
        `no agent announced itself on the command channel ${this.socketPath} within ${timeout} ms: ` +
        'is an agent reading the channel in the guest? (the demo image runs one)')), timeout);
      this.on('agent', onAgent);
      this.on('closed', onClosed);
    });
  }

  /** True while the socket to QEMU is connected. */
  get connected(): boolean {
    return this.sock !== null && !this.sock.destroyed;
  }

  /** Connects to QEMU's channel socket (retrying until it exists, up to `timeout` ms). */
  connect(options: { timeout?: number; abort?: () => string | null } = {}): Promise<void> {
    if (this.connecting) return this.connecting;
    this.connecting = (async () => {
      try {
        const sock = await connectUnixSocket(this.socketPath, { timeout: options.timeout ?? 5000, abort: options.abort, what: 'command channel socket' });
        if (this.closed) { sock.destroy(); return; }
        this.attach(sock);
      } finally {
        this.connecting = null;
      }
    })();
    return this.connecting;
  }

  /**
   * Sends one message to the guest (type defaults to `command`; direction and timestamp are
   * filled in). Queued while the socket is reconnecting.
   */
  send(message: OutgoingMessage): VmMessage {
    if (this.closed) throw new PixelrtsError('ERR_PIXELRTS_CHANNEL_CLOSED', 'cannot send: the command channel is closed (the VM has exited)');
    const wire = toWireMessage(message);
    this.writeLine(JSON.stringify(wire));
    return wire;
  }

  /**
   * Sends `message` with a fresh `id` and resolves with the guest's message carrying the same
   * id. Rejects with ERR_PIXELRTS_TIMEOUT when no reply comes within `timeout`.
   */
  request(message: OutgoingMessage, options: RequestOptions = {}): Promise<VmMessage> {
    if (this.closed) return Promise.reject(new PixelrtsError('ERR_PIXELRTS_CHANNEL_CLOSED', 'cannot send: the command channel is closed (the VM has exited)'));
    const id = message.id ?? `h${this.nextId++}`;
    const timeout = options.timeout ?? 5000;
    const wire = toWireMessage(message, id);
    const line = JSON.stringify(wire);
    return new Promise<VmMessage>((resolve, reject) => {
      const timer = setTimeout(() => {
        this.pending.delete(id);
        // Still held (no agent yet): it must not reach the guest after its caller gave up.
        const held = this.queue.indexOf(line);
        if (held >= 0) this.queue.splice(held, 1);
        reject(new PixelrtsError('ERR_PIXELRTS_TIMEOUT', held >= 0
          ? `no agent announced itself on the command channel ${this.socketPath} within ${timeout} ms, so '${wire.data.message}' (id ${id}) was never sent: ` +
            'is an agent reading the channel in the guest? (the demo image runs one)'
          : `the guest did not answer '${wire.data.message}' (id ${id}) within ${timeout} ms on ${this.socketPath}.`));
      }, timeout);
      this.pending.set(id, { resolve, reject, timer, command: wire.data.message });
      this.writeLine(line);
    });
  }

  /** Closes the channel: pending requests reject, no reconnection. */
  close(reason = 'the command channel was closed'): void {
    if (this.closed) return;
    this.closed = true;
    if (this.watchdog) clearInterval(this.watchdog);
    this.watchdog = null;
    this.sock?.destroy();
    this.sock = null;
    this.queue = [];
    this.emit('closed');
    for (const [id, p] of this.pending) {
      this.pending.delete(id);
      clearTimeout(p.timer);
      p.reject(new PixelrtsError('ERR_PIXELRTS_CHANNEL_CLOSED', `no reply to '${p.command}' (id ${id}): ${reason}`));
    }
  }

  private writeLine(line: string): void {
    if (this.agentSeen && this.sock && !this.sock.destroyed) this.sock.write(line + '\n');
    else this.queue.push(line);
  }

  private flushQueue(): void {
    if (!this.agentSeen || !this.sock || this.sock.destroyed) return;
    for (const line of this.queue) this.sock.write(line + '\n');
    this.queue = [];
  }

  private attach(sock: net.Socket): void {
    this.sock = sock;
    sock.setEncoding('utf8');
    sock.on('data', (chunk: string) => this.onData(chunk));
    sock.on('error', () => { /* 'close' follows and decides about reconnecting */ });
    sock.on('close', () => this.onClose(sock));
    this.flushQueue();
  }

  private onClose(sock: net.Socket): void {
    if (this.sock !== sock) return;
    this.sock = null;
    if (this.closed) return;
    this.emit('disconnect');
    if (!this.shouldReconnect()) return;
    const retry = () => {
      if (this.closed || !this.shouldReconnect()) return;
      this.connect({ timeout: 1000, abort: () => (this.closed ? 'the channel was closed' : null) }).then(
        () => { if (this.connected) this.emit('reconnect'); },
        () => { setTimeout(retry, 100).unref(); },
      );
    };
    retry();
  }

  private onData(chunk: string): void {
    this.buffered += chunk;
    let nl: number;
    while ((nl = this.buffered.indexOf('\n')) >= 0) {
      const line = this.buffered.slice(0, nl).replace(/\r$/, '');
      this.buffered = this.buffered.slice(nl + 1);
      this.onLine(line);
    }
    if (this.buffered.length > this.maxLineBytes) {
      // A guest writing without newlines: deliver what we have as a cut line, keep going.
      const line = this.buffered.slice(0, this.maxLineBytes);
      this.buffered = '';
      this.emit('invalid-message', { line, error: `line longer than ${this.maxLineBytes} bytes without a newline; cut` } satisfies InvalidMessage);
    }
  }

  private onLine(line: string): void {
    if (line.trim().length === 0) return;
    const parsed = parseMessageLine(line);
    if (parsed === null) {
      this.emit('line', line);
      return;
    }
    if (!parsed.ok) {
      this.emit('invalid-message', { line, error: parsed.error } satisfies InvalidMessage);
      return;
    }
    const msg = parsed.message;
    // Before the guest puts its end of a UART in raw mode, the tty echoes what we sent: drop it.
    if (msg.direction === 'host-to-vm') return;
    if (!this.agentSeen) {
      this.agentSeen = true;
      this.emit('agent', msg);
      this.flushQueue();
    }
    if (msg.type === 'heartbeat') this.onHeartbeat();
    if (msg.id !== undefined) {
      const p = this.pending.get(msg.id);
      if (p) {
        this.pending.delete(msg.id);
        clearTimeout(p.timer);
        p.resolve(msg);
      }
    }
    this.emit('message', msg);
  }

  private onHeartbeat(): void {
    const now = Date.now();
    const silentMs = this.lastHeartbeat === 0 ? 0 : now - this.lastHeartbeat;
    this.lastHeartbeat = now;
    this.emit('heartbeat');
    if (this.isResponsive === false) {
      this.isResponsive = true;
      this.emit('responsive', { silentMs } satisfies LivenessEvent);
    } else if (this.isResponsive === null) {
      this.isResponsive = true;
      this.watchdog = setInterval(() => this.checkLiveness(), Math.min(250, this.heartbeatTimeout / 4));
      this.watchdog.unref();
    }
  }

  private checkLiveness(): void {
    const silentMs = Date.now() - this.lastHeartbeat;
    if (this.isResponsive && silentMs > this.heartbeatTimeout) {
      this.isResponsive = false;
      this.emit('unresponsive', { silentMs } satisfies LivenessEvent);
    }
  }
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface Channel {
  on<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this;
  once<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this;
  off<E extends keyof ChannelEvents>(event: E, listener: (...args: ChannelEvents[E]) => void): this;
  emit<E extends keyof ChannelEvents>(event: E, ...args: ChannelEvents[E]): boolean;
}
