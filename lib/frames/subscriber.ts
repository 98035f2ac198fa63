/**
 * An HXFR subscriber (../shared/spec/hxfr.md, subscribe mode): connects to a frame server,
 * subscribes to one scanout and emits each pushed access unit (H.264, Annex B, SPS and PPS in
 * front of every keyframe). The server sends an IDR to each new subscriber first, so the
 * first `frame` event is always a keyframe. Used by the browser view; any HXFR server works.
 */
import { EventEmitter } from 'node:events';
import net from 'node:net';
import { PixelrtsError } from '../errors';

const MAGIC = 0x52465848;
const HEADER = 12;
const SUBSCRIBE = 0x30;
const SUBSCRIBE_RESP = 0x31;
const FRAME_RESPONSE = 0x02;
const ERROR = 0xff;
/** The largest message accepted from the server: an 8K IDR is far below this. */
const MAX_MESSAGE = 64 << 20;

/** One pushed frame. */
export interface SubscribedFrame {
  /** The whole access unit, Annex B. */
  au: Buffer;
  keyframe: boolean;
  /** The server's presentation timestamp (ns). */
  pts: bigint;
}

export interface SubscriberEvents {
  /** Subscribed: the server accepted the scanout. */
  subscribed: [];
  frame: [frame: SubscribedFrame];
  /** A protocol error, a refusal or the connection failing; `close` follows. */
  error: [err: PixelrtsError];
  close: [];
}

/** Where the frame server listens: TCP (host default 127.0.0.1) or a Unix socket. */
export type FrameServerEndpoint = { port: number; host?: string } | { path: string };

export class ScanoutSubscriber extends EventEmitter {
  readonly #socket: net.Socket;
  #buffered: Buffer[] = [];
  #bytes = 0;

  /** Subscribes to `scanout` (default 0) of the frame server at `endpoint`. */
  constructor(endpoint: FrameServerEndpoint, scanout = 0) {
    super();
    const where = 'path' in endpoint ? endpoint.path : `${endpoint.host ?? '127.0.0.1'}:${endpoint.port}`;
    this.#socket = 'path' in endpoint ? net.connect(endpoint.path) : net.connect(endpoint.port, endpoint.host ?? '127.0.0.1');
    this.#socket.setNoDelay(true);
    this.#socket.once('connect', () => {
      const msg = Buffer.alloc(HEADER + 4);
      msg.writeUInt32LE(MAGIC, 0);
      msg[4] = SUBSCRIBE;
      msg.writeUInt16LE(scanout, 6);
      msg.writeUInt32LE(4, 8);
      msg.writeUInt32LE(scanout, HEADER);
      this.#socket.write(msg);
    });
    this.#socket.on('data', (chunk: Buffer) => this.#onData(chunk));
    this.#socket.on('error', (err) => this.#fail(`the frame server at ${where}: ${err.message}`));
    this.#socket.on('close', () => this.emit('close'));
  }

  /** Ends the subscription. */
  close(): void {
    this.#socket.destroy();
  }

  #fail(message: string): void {
    this.emit('error', new PixelrtsError('ERR_PIXELRTS_FRAMES_PROTOCOL', message));
    this.#socket.destroy();
  }

  #onData(chunk: Buffer): void {
    this.#buffered.push(chunk);
    this.#bytes += chunk.length;
    while (this.#bytes >= HEADER) {
      const all = this.#buffered.length === 1 ? this.#buffered[0] : Buffer.concat(this.#buffered);
      this.#buffered = [all];
      if (all.readUInt32LE(0) !== MAGIC) return this.#fail('the frame server sent a message without the HXFR magic');
      const size = all.readUInt32LE(8);
      if (size > MAX_MESSAGE) return this.#fail(`the frame server sent a ${size}-byte message, over the ${MAX_MESSAGE}-byte limit`);
      if (all.length < HEADER + size) return;
      this.#handle(all[4], all.subarray(HEADER, HEADER + size));
      const rest = all.subarray(HEADER + size);
      this.#buffered = rest.length > 0 ? [rest] : [];
      this.#bytes = rest.length;
    }
  }

  #handle(type: number, body: Buffer): void {
    if (type === SUBSCRIBE_RESP) {
      if (body.length < 8 || body.readUInt32LE(4) !== 1) return this.#fail('the frame server refused the subscription');
      this.emit('subscribed');
    } else if (type === FRAME_RESPONSE) {
      if (body.length < 24 || body.readUInt32LE(20) < 1) return this.#fail('the frame server sent a frame without an access unit');
      const length = body.readUInt32LE(24);
      if (28 + length > body.length) return this.#fail('the frame server sent a frame whose length runs past its message');
      this.emit('frame', { au: Buffer.from(body.subarray(28, 28 + length)), keyframe: body[16] === 1, pts: body.readBigInt64LE(0) });
    } else if (type === ERROR) {
      const text = body.subarray(4, 260);
      const end = text.indexOf(0);
      this.#fail(`the frame server reported an error: ${text.subarray(0, end >= 0 ? end : text.length).toString('utf8')}`);
    }
    // Other types (PONG, ...) are not for a subscriber: skipped by their size, as the spec says.
  }
}

// Typed on/once/off/emit.
export interface ScanoutSubscriber {
  on<E extends keyof SubscriberEvents>(event: E, listener: (...args: SubscriberEvents[E]) => void): this;
  once<E extends keyof SubscriberEvents>(event: E, listener: (...args: SubscriberEvents[E]) => void): this;
  off<E extends keyof SubscriberEvents>(event: E, listener: (...args: SubscriberEvents[E]) => void): this;
  emit<E extends keyof SubscriberEvents>(event: E, ...args: SubscriberEvents[E]): boolean;
}
