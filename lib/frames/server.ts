/**
 * H.264 frame export over HXFR (spec: ../shared/spec/hxfr.md): a server that guests connect to
 * (vsockenc in request mode, scanout clients in subscribe mode). Sockets, parsing and encoding
 * all run on native threads; JavaScript sees events and calls publish().
 *
 * ```ts
 * const server = await createFrameServer({ tcp: '127.0.0.1:15937' });
 * server.on('frame', (f) => console.log(f.width, f.height, f.bytes));
 * server.publish(0, { width: 1280, height: 720, format: 'AR24', data: pixels });
 * await server.close();
 * ```
 */
import { EventEmitter } from 'node:events';
import './binding';
import type { NativeAddress, NativeFrame, NativeFrameEvent, NativeFrameServer } from './binding';
import { native } from '../native';
import { PixelrtsError, errorCode } from '../errors';

/** Pixel formats: DRM fourcc names, or aliases (BGRA = AR24, RGBA = AB24), or the fourcc number. */
export type FrameFormat = 'NV12' | 'AR24' | 'AB24' | 'BGRA' | 'RGBA' | number;

/** DRM fourcc codes of the formats HXFR carries. */
export const FOURCC = { AR24: 0x34325241, AB24: 0x34324241, NV12: 0x3231564e } as const;

/** Default TCP listener: what a QEMU guest with user-mode networking reaches as 10.0.2.2:15937. */
export const DEFAULT_TCP = { host: '127.0.0.1', port: 15937 };
/** vsockenc's default AF_VSOCK port. */
export const DEFAULT_VSOCK_PORT = 5000;

/**
 * Default limits. maxFrameBytes admits the largest frame the spec allows (8192x8192 at 4 bytes a
 * pixel); the memory budget bounds what all clients together can make the server hold.
 */
export const FRAME_LIMITS = {
  maxClients: 16,
  maxFrameBytes: 8192 * 8192 * 4,
  memoryBudget: 2 ** 30,
  stallTimeout: 10_000,
} as const;

/** The command-line flags behind the options, for messages a `pixelrts` user reads. */
export const FRAME_LIMIT_FLAGS = {
  maxClients: '--max-clients',
  maxFrameBytes: '--max-frame-bytes',
  memoryBudget: '--memory-budget',
  stallTimeout: '--stall-timeout',
} as const;

export interface FrameServerOptions {
  /** TCP listener: "HOST:PORT", "PORT", `{ host, port }` or true for 127.0.0.1:15937; port 0 = any free port. */
  tcp?: string | number | boolean | { host?: string; port?: number };
  /** Unix socket path. */
  unix?: string;
  /** AF_VSOCK listener (Linux): a port, `{ port, cid }` or true for port 5000. */
  vsock?: number | boolean | { port?: number; cid?: number };
  /** Most clients at once; more are sent ERROR -99 and closed (default 16). */
  maxClients?: number;
  /**
   * Largest pixel payload accepted per frame (default 256 MiB, 8192x8192 at 4 bytes a pixel);
   * a larger frame gets ERROR -1, its pixels are skipped unread and the connection stays usable.
   */
  maxFrameBytes?: number;
  /**
   * Bytes of frames being received and answers waiting to be written, all clients together
   * (default 1 GiB; at least twice maxFrameBytes). A frame that does not fit waits, its client
   * unread, until room frees; waiting clients are served in turn.
   */
  memoryBudget?: number;
  /**
   * Milliseconds a client may send nothing before its first whole message, or in the middle of
   * one, before it is dropped (default 10000). Silence between messages is never timed out.
   */
  stallTimeout?: number;
  /**
   * How messages name the limits above: 'options' (maxFrameBytes, the default) or 'flags'
   * (--max-frame-bytes, for servers the pixelrts command line starts).
   */
  settingNames?: 'options' | 'flags';
  /** Directory to write each request-mode connection's H.264 stream to (DIR/conn-N.h264). */
  record?: string;
}

/** A raw frame for publish() or a resolver answer. */
export interface RawFrame {
  /** 1..8192; odd sizes are encoded padded to even, the last column/row repeated (docs/frames.md). */
  width: number;
  height: number;
  format: FrameFormat;
  /** Bytes per row (RGB formats; NV12 when rows are padded). Default: tightly packed. */
  stride?: number;
  data: Uint8Array;
  /** Presentation time in ns, echoed in the pushed FRAME_RESPONSE (default: time since the server started). */
  pts?: bigint;
}

/** What the guest asked the resolver for: a virtio-gpu resource only the hypervisor can read. */
export interface ResolveRequest {
  connection: number;
  resourceId: number;
  width: number;
  height: number;
  format: number;
  stride: number;
  pts: bigint;
}

/** Answers with the resource's pixels, or null when it does not exist (the guest gets ERROR -2). */
export type Resolver = (request: ResolveRequest) => RawFrame | null | Promise<RawFrame | null>;

/** One listener the server is bound to. */
export type FrameServerAddress = NativeAddress;

/** Counters since the server started. */
export interface FrameServerStats {
  /** Clients connected now. */
  clients: number;
  /** Clients accepted since start. */
  connections: number;
  /** Frames encoded (request-mode responses plus published frames). */
  frames: number;
  /** publish() calls queued for encoding. */
  published: number;
  bytesIn: number;
  bytesOut: number;
  /** Frames not delivered: to slow subscribers, or publishes while the encoder was busy. */
  drops: number;
  /** ERROR messages sent and clients refused. */
  errors: number;
  /** Frames too large for the encoder, encoded downscaled (docs/frames.md "Large frames"). */
  downscaled: number;
  /** Mean colour conversion + encoding time per frame, ms. */
  encodeMs: number;
  /** Mean colour conversion time per frame (part of encodeMs), ms. */
  convertMs: number;
}

export interface FrameEvent {
  /** Request-mode connection id (0 for published frames). */
  connection: number;
  /** Scanout of a published frame, -1 in request mode. */
  scanout: number;
  /** The frame's own size. */
  width: number;
  height: number;
  /**
   * The size the H.264 stream decodes to: width x height rounded up to even, halved until it
   * fits the encoder when the frame is too large for it (docs/frames.md "Large frames").
   */
  encodedWidth: number;
  encodedHeight: number;
  format: number;
  bytes: number;
  keyframe: boolean;
  pts: bigint;
  encodeMs: number;
}

export interface ScanoutEvent {
  connection: number;
  scanout: number;
  enabled: boolean;
  width: number;
  height: number;
  refresh: number;
}

/** A client connected: its connection id, transport and peer address. */
export interface ConnectionEvent {
  id: number;
  transport: string;
  peer: string;
}

/** A client left: its connection id and why. */
export interface DisconnectEvent {
  id: number;
  reason: string;
}

/** One client's mistake (or a failed resolve answer), with the connection it came from. */
export type FrameServerError = PixelrtsError & { connection?: number };

/** The events of a FrameServer and their arguments (FrameServer.on is typed by them). */
export interface FrameServerEvents {
  connection: [client: ConnectionEvent];
  disconnect: [client: DisconnectEvent];
  /** A frame was encoded (only computed while someone listens). */
  frame: [frame: FrameEvent];
  scanout: [scanout: ScanoutEvent];
  /**
   * Emitted only when an 'error' listener exists: these are one client's mistakes and never
   * stop the server.
   */
  error: [error: FrameServerError];
  close: [];
  /** Every EventEmitter's own: a listener is being added / was removed. */
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/**
 * A running HXFR server; its events are FrameServerEvents.
 *
 * Like a listening net.Server it keeps the process alive until close() or unref(). An
 * unref'd server that becomes unreachable is closed when garbage-collected, and every
 * server's threads stop when the process exits.
 */
export class FrameServer extends EventEmitter {
  #native: NativeFrameServer | null;
  #resolver: Resolver | null = null;
  readonly #started = process.hrtime.bigint();

  /** @internal Use createFrameServer(). */
  constructor(handle: NativeFrameServer) {
    super();
    this.#native = handle;
    this.on('newListener', (name) => { if (name === 'frame') handle.setFrameEvents(true); });
    this.on('removeListener', (name) => {
      if (name === 'frame' && this.listenerCount('frame') === 0) handle.setFrameEvents(false);
    });
  }

  /** @internal Dispatches one native event. */
  _dispatch(e: NativeFrameEvent): void {
    switch (e.type) {
      case 'connection':
        this.emit('connection', { id: e.connection, transport: e.transport, peer: e.peer });
        break;
      case 'disconnect':
        this.emit('disconnect', { id: e.connection, reason: e.reason });
        break;
      case 'error':
        if (this.listenerCount('error') > 0) {
          const err: FrameServerError = new PixelrtsError(errorCode(e.code, 'ERR_PIXELRTS_FRAMES_INTERNAL'), e.message);
          err.connection = e.connection;
          this.emit('error', err);
        }
        break;
      case 'frame': {
        const { type: _t, ...rest } = e;
        this.emit('frame', rest as FrameEvent);
        break;
      }
      case 'scanout': {
        const { type: _t, ...rest } = e;
        this.emit('scanout', rest as ScanoutEvent);
        break;
      }
      case 'resolve':
        this.#resolve(e);
        break;
    }
  }

  #resolve(e: Extract<NativeFrameEvent, { type: 'resolve' }>): void {
    const handle = this.#native;
    const resolver = this.#resolver;
    if (!handle) return;
    const request: ResolveRequest = {
      connection: e.connection, resourceId: e.resourceId, width: e.width, height: e.height,
      format: e.format, stride: e.stride, pts: e.pts,
    };
    // The guest waits for exactly one answer: every path below gives one, errors included.
    const answer = (frame: RawFrame | null, error?: string): void => {
      if (this.#native === null) return;
      try {
        handle.answerResolve(e.token, frame ? toNative(frame) : null, error);
      } catch (err) {
        // answerResolve already answered the guest with ERROR -2; tell the host's code why.
        if (this.listenerCount('error') > 0) this.emit('error', err as FrameServerError);
      }
    };
    if (!resolver) {
      answer(null);
      return;
    }
    try {
      Promise.resolve(resolver(request)).then(
        (frame) => answer(frame ?? null),
        (err: unknown) => answer(null, `the host's resolver failed: ${(err as Error)?.message ?? String(err)}`));
    } catch (err) {
      answer(null, `the host's resolver failed: ${(err as Error)?.message ?? String(err)}`);
    }
  }

  #handle(): NativeFrameServer {
    if (!this.#native) throw new PixelrtsError('ERR_PIXELRTS_FRAMES_CLOSED', 'the frame server is closed; create a new one');
    return this.#native;
  }

  /** @internal The native server, for sources that publish to it from native code (lib/screen/display.ts). */
  _nativeServer(): NativeFrameServer {
    return this.#handle();
  }

  /** Every listener the server is bound to (ports filled in when 0 was asked for). */
  addresses(): FrameServerAddress[] {
    return this.#native ? this.#native.addresses() : [];
  }

  /** The first listener, like net.Server#address(); null once closed. */
  address(): FrameServerAddress | null {
    return this.addresses()[0] ?? null;
  }

  /**
   * Encodes `frame` once (on a native thread) and pushes it to every subscriber of `scanoutId`.
   * Returns false when nobody subscribes or the scanout's encoder is still busy with two
   * earlier frames (the frame is dropped). Throws ERR_PIXELRTS_FRAMES_FRAME for a bad frame.
   */
  publish(scanoutId: number, frame: RawFrame): boolean {
    const pts = frame.pts ?? process.hrtime.bigint() - this.#started;
    return this.#handle().publish(scanoutId, pts, toNative(frame));
  }

  /**
   * Registers the function that turns a guest's resource id into pixels (null to remove it).
   * Without one, FRAME_REQUESTs that name a resource get ERROR -2.
   */
  setResolver(resolver: Resolver | null): void {
    this.#resolver = resolver;
    this.#handle().setResolver(resolver !== null);
  }

  /** Counters since the server started. */
  stats(): FrameServerStats {
    const s = this.#handle().stats();
    return {
      clients: s.clients, connections: s.connections, frames: s.frames, published: s.published,
      bytesIn: s.bytesIn, bytesOut: s.bytesOut, drops: s.drops, errors: s.errors,
      downscaled: s.downscaled,
      encodeMs: s.frames > 0 ? (s.encodeMsTotal + s.convertMsTotal) / s.frames : 0,
      convertMs: s.frames > 0 ? s.convertMsTotal / s.frames : 0,
    };
  }

  /** Keeps the process alive while the server runs (the default). */
  ref(): this {
    if (this.#native) {
      this.#native.ref();
      live.add(this);
    }
    return this;
  }

  /** Lets the process exit while the server runs; an unreachable unref'd server is closed by GC. */
  unref(): this {
    if (this.#native) {
      this.#native.unref();
      live.delete(this);
    }
    return this;
  }

  /** Stops accepting, closes every client and stops the native threads. */
  async close(): Promise<void> {
    const handle = this.#native;
    if (!handle) return;
    this.#native = null;
    live.delete(this);
    handle.close();
    this.emit('close');
  }
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface FrameServer {
  on<E extends keyof FrameServerEvents>(event: E, listener: (...args: FrameServerEvents[E]) => void): this;
  once<E extends keyof FrameServerEvents>(event: E, listener: (...args: FrameServerEvents[E]) => void): this;
  off<E extends keyof FrameServerEvents>(event: E, listener: (...args: FrameServerEvents[E]) => void): this;
  emit<E extends keyof FrameServerEvents>(event: E, ...args: FrameServerEvents[E]): boolean;
}

// Referenced servers, so a listening server is not collected (it keeps the process alive).
const live = new Set<FrameServer>();

function fourcc(format: FrameFormat): number {
  if (typeof format === 'number') return format;
  switch (format) {
    case 'NV12': return FOURCC.NV12;
    case 'AR24': case 'BGRA': return FOURCC.AR24;
    case 'AB24': case 'RGBA': return FOURCC.AB24;
    default:
      throw new PixelrtsError('ERR_PIXELRTS_FRAMES_FRAME',
        `unknown frame format ${JSON.stringify(format)}: expected NV12, AR24 (BGRA) or AB24 (RGBA)`);
  }
}

function toNative(frame: RawFrame): NativeFrame {
  return { width: frame.width, height: frame.height, format: fourcc(frame.format), stride: frame.stride ?? 0, data: frame.data };
}

function parseTcp(spec: FrameServerOptions['tcp']): { host: string; port: number } | undefined {
  if (spec === undefined || spec === false) return undefined;
  if (spec === true) return { ...DEFAULT_TCP };
  if (typeof spec === 'number') return { host: DEFAULT_TCP.host, port: spec };
  if (typeof spec === 'object') return { host: spec.host ?? DEFAULT_TCP.host, port: spec.port ?? DEFAULT_TCP.port };
  const m = /^(?:(.*):)?(\d+)$/.exec(spec);
  if (!m) {
    throw new PixelrtsError('ERR_PIXELRTS_FRAMES_OPTIONS',
      `tcp: expected HOST:PORT or PORT (e.g. 127.0.0.1:15937), found ${JSON.stringify(spec)}`);
  }
  return { host: (m[1] ?? DEFAULT_TCP.host).replace(/^\[(.*)\]$/, '$1'), port: Number(m[2]) };
}

function parseVsock(spec: FrameServerOptions['vsock']): { port: number; cid?: number } | undefined {
  if (spec === undefined || spec === false) return undefined;
  if (spec === true) return { port: DEFAULT_VSOCK_PORT };
  if (typeof spec === 'number') return { port: spec };
  return { port: spec.port ?? DEFAULT_VSOCK_PORT, ...(spec.cid !== undefined ? { cid: spec.cid } : {}) };
}

function checkPort(name: string, port: number, max: number): void {
  if (!Number.isInteger(port) || port < 0 || port > max) {
    throw new PixelrtsError('ERR_PIXELRTS_FRAMES_OPTIONS', `${name}: port must be an integer 0..${max}, found ${port}`);
  }
}

/**
 * Starts an HXFR server on every transport asked for (TCP 127.0.0.1:15937 when none is) and
 * resolves once all of them listen. Rejects with ERR_PIXELRTS_FRAMES_LISTEN (address in use,
 * bad path, …) or ERR_PIXELRTS_FRAMES_VSOCK (AF_VSOCK unavailable) and leaves nothing open.
 */
export async function createFrameServer(options: FrameServerOptions = {}): Promise<FrameServer> {
  let tcp = parseTcp(options.tcp);
  const vsock = parseVsock(options.vsock);
  if (!tcp && options.unix === undefined && !vsock) tcp = { ...DEFAULT_TCP };
  if (tcp) checkPort('tcp', tcp.port, 65535);
  if (vsock) checkPort('vsock', vsock.port, 0xffffffff);
  const names = options.settingNames === 'flags' ? FRAME_LIMIT_FLAGS
    : { maxClients: 'maxClients', maxFrameBytes: 'maxFrameBytes', memoryBudget: 'memoryBudget', stallTimeout: 'stallTimeout' };
  for (const key of ['maxClients', 'maxFrameBytes', 'memoryBudget', 'stallTimeout'] as const) {
    const v = options[key];
    if (v !== undefined && (!Number.isSafeInteger(v) || v < 1)) {
      throw new PixelrtsError('ERR_PIXELRTS_FRAMES_OPTIONS', `${names[key]} must be a positive integer, found ${v}`);
    }
  }
  const maxFrameBytes = options.maxFrameBytes ?? FRAME_LIMITS.maxFrameBytes;
  const memoryBudget = options.memoryBudget ?? FRAME_LIMITS.memoryBudget;
  if (memoryBudget < 2 * maxFrameBytes) {
    // A largest frame must fit beside the answers other clients leave unread (up to a quarter of
    // the budget), or its client could wait for room forever.
    throw new PixelrtsError('ERR_PIXELRTS_FRAMES_OPTIONS',
      `${names.memoryBudget} ${memoryBudget} is less than twice ${names.maxFrameBytes} ${maxFrameBytes}: ` +
      `raise ${names.memoryBudget} to at least ${2 * maxFrameBytes} or lower ${names.maxFrameBytes}`);
  }
  // The event callback holds the server weakly, so an unreferenced (unref'd) server can be collected.
  let ref: WeakRef<FrameServer> | null = null;
  const onEvent = (e: NativeFrameEvent): void => { ref?.deref()?._dispatch(e); };
  const { FrameServer: NativeServer } = native();
  // Listen errors come from the addon as PixelrtsErrors (ERR_PIXELRTS_FRAMES_LISTEN, _VSOCK, _RECORD).
  const handle: NativeFrameServer = new NativeServer({
    ...(tcp ? { tcp } : {}),
    ...(options.unix !== undefined ? { unix: options.unix } : {}),
    ...(vsock ? { vsock } : {}),
    ...(options.maxClients !== undefined ? { maxClients: options.maxClients } : {}),
    maxFrameBytes,
    memoryBudget,
    ...(options.stallTimeout !== undefined ? { stallTimeout: options.stallTimeout } : {}),
    settingNames: names,
    ...(options.record !== undefined ? { recordDir: options.record } : {}),
  }, onEvent);
  const server = new FrameServer(handle);
  ref = new WeakRef(server);
  const registry = finalizers;
  registry.register(server, handle);
  live.add(server);
  return server;
}

// Closes a collected server's native side at once rather than whenever its wrapper is finalized.
const finalizers = new FinalizationRegistry<NativeFrameServer>((handle) => handle.close());

/**
 * Starts the server `pixelrts boot --frame-export` needs: TCP on 127.0.0.1:`port` (default
 * 15937; a QEMU guest with user-mode networking reaches it as 10.0.2.2:port). Resolves to the
 * server and the port it listens on. Its messages name the command-line flags unless
 * `settingNames` says otherwise.
 */
export async function startFrameExport(port = DEFAULT_TCP.port, options: Omit<FrameServerOptions, 'tcp'> = {}):
  Promise<{ server: FrameServer; port: number }> {
  const server = await createFrameServer({ settingNames: 'flags', ...options, tcp: { host: DEFAULT_TCP.host, port } });
  const addr = server.address();
  return { server, port: addr && addr.transport === 'tcp' ? addr.port : port };
}
