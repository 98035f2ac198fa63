/**
 * The browser view: an HTTP server on 127.0.0.1 (a random port unless one is asked for) that
 * serves one page and one WebSocket, both only with the view's token in the URL (a random
 * 128-bit value; anything else gets 403, a WebSocket from another origin too). Each viewer is
 * a subscriber of the frame server's scanout: it gets an IDR at once and every frame after,
 * encoded once for all of them; when the last viewer leaves nobody subscribes and the screen
 * is not encoded. Keys and the pointer come back as QMP input events.
 */
import crypto from 'node:crypto';
import { EventEmitter } from 'node:events';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { WebSocketServer, type WebSocket } from 'ws';
import { PixelrtsError } from '../errors';
import { ScanoutSubscriber, type FrameServerEndpoint, type SubscribedFrame } from '../frames/subscriber';
import type { QmpExecutor } from '../vm/qmp';
import { pointerEvents } from '../screen/input';
import { qcodeForKeyCode } from '../screen/keymap';
import { VIEW_PAGE } from './page';

export interface ViewOptions {
  /** The frame server whose scanout is shown: its Unix socket (private), or a TCP port. */
  frames: FrameServerEndpoint;
  /** Default 0, the VM's screen. */
  scanout?: number;
  /** Where keys and the pointer go (vm.qmp, or a control socket's qmp). */
  qmp: QmpExecutor;
  /** Called after each input event: tells the screen's source to look for changes now. */
  onInput?: () => void;
  /** Default 127.0.0.1. Another address serves the view beyond this machine: the token still guards it. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
}

export interface ViewEvents {
  viewer: [info: { viewers: number; address: string }];
  'viewer-left': [info: { viewers: number }];
  /** An input event QEMU refused, or a viewer's malformed message. */
  warning: [err: PixelrtsError];
}

/** The largest message a viewer may send (a pointer or key event is under 200 bytes). */
const MAX_VIEWER_MESSAGE = 4096;
const BUTTONS: Array<[bit: number, button: string]> = [[1, 'left'], [2, 'right'], [4, 'middle']];
/**
 * Keys go to QEMU at most one per this many ms (QEMU's own send-key pace): a guest's PS/2
 * keyboard has a 16-byte queue, and a burst (a paste, a script typing) would overflow it.
 */
const KEY_SPACING_MS = 10;

/** `avc1.PPCCLL` from the SPS in front of a keyframe, for VideoDecoder.configure. */
export function codecString(au: Buffer): string | undefined {
  for (let i = 0; i + 7 < au.length; i++) {
    const startCode = au[i] === 0 && au[i + 1] === 0 && (au[i + 2] === 1 || (au[i + 2] === 0 && au[i + 3] === 1));
    if (!startCode) continue;
    const nal = i + (au[i + 2] === 1 ? 3 : 4);
    if ((au[nal] & 0x1f) === 7 && nal + 3 < au.length) {
      return `avc1.${[au[nal + 1], au[nal + 2], au[nal + 3]].map((b) => b.toString(16).padStart(2, '0')).join('').toUpperCase()}`;
    }
  }
  return undefined;
}

export class ViewServer extends EventEmitter {
  /** The page's address, token included: give it to the user's browser. */
  readonly url: string;
  readonly #http: http.Server;
  readonly #ws: WebSocketServer;
  readonly #token: string;
  readonly #options: ViewOptions;
  /** Key events in order, spaced (KEY_SPACING_MS), from every viewer. */
  #keys: Promise<void> = Promise.resolve();

  /** @internal Use startView(). */
  constructor(server: http.Server, token: string, options: ViewOptions) {
    super();
    this.#http = server;
    this.#token = token;
    this.#options = options;
    const { port } = server.address() as AddressInfo;
    const host = options.host ?? '127.0.0.1';
    this.url = `http://${host.includes(':') ? `[${host}]` : host}:${port}/?token=${token}`;
    this.#ws = new WebSocketServer({ noServer: true, maxPayload: MAX_VIEWER_MESSAGE });
    server.on('request', (req, res) => this.#page(req, res));
    server.on('upgrade', (req, socket, head) => {
      if (!this.#allowed(req) || new URL(req.url ?? '/', 'http://x').pathname !== '/ws') {
        socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
        return;
      }
      this.#ws.handleUpgrade(req, socket, head, (ws) => this.#viewer(ws, req.socket.remoteAddress ?? ''));
    });
  }

  /** Viewers connected now. */
  get viewers(): number {
    return this.#ws.clients.size;
  }

  /** Disconnects every viewer and stops listening. */
  close(): Promise<void> {
    for (const ws of this.#ws.clients) ws.terminate();
    this.#ws.close();
    return new Promise((resolve) => this.#http.close(() => resolve()));
  }

  /** The token, compared in constant time; and for a WebSocket, the page's own origin. */
  #allowed(req: http.IncomingMessage): boolean {
    const given = Buffer.from(new URL(req.url ?? '/', 'http://x').searchParams.get('token') ?? '');
    const token = Buffer.from(this.#token);
    if (given.length !== token.length || !crypto.timingSafeEqual(given, token)) return false;
    const origin = req.headers.origin;
    return origin === undefined || origin === new URL(this.url).origin;
  }

  #page(req: http.IncomingMessage, res: http.ServerResponse): void {
    if (req.headers.upgrade) return;
    const path = new URL(req.url ?? '/', 'http://x').pathname;
    if (!this.#allowed(req) || path !== '/' || (req.method !== 'GET' && req.method !== 'HEAD')) {
      res.writeHead(403, { 'content-type': 'text/plain; charset=utf-8' });
      res.end('403: this view needs the token of its URL, as pixelrts printed it.\n');
      return;
    }
    res.writeHead(200, {
      'content-type': 'text/html; charset=utf-8',
      'cache-control': 'no-store',
      // Nothing from elsewhere, no framing by other sites, no token in a Referer.
      'content-security-policy': "default-src 'none'; script-src 'unsafe-inline'; style-src 'unsafe-inline'; connect-src 'self'; frame-ancestors 'none'",
      'referrer-policy': 'no-referrer',
    });
    res.end(req.method === 'HEAD' ? undefined : VIEW_PAGE);
  }

  #viewer(ws: WebSocket, address: string): void {
    const subscriber = new ScanoutSubscriber(this.#options.frames, this.#options.scanout ?? 0);
    let configured = false;
    let buttons = 0;
    subscriber.on('frame', (frame: SubscribedFrame) => {
      if (!configured) {
        const codec = frame.keyframe ? codecString(frame.au) : undefined;
        if (!codec) return;  // the first frame a subscriber gets is an IDR; wait for one
        ws.send(JSON.stringify({ type: 'config', codec }));
        configured = true;
      }
      // A viewer that cannot keep up loses frames until the next keyframe, never half of one.
      if (ws.bufferedAmount > 8 << 20 && !frame.keyframe) return;
      const head = Buffer.alloc(9);
      head[0] = frame.keyframe ? 1 : 0;
      head.writeBigUInt64LE(BigInt.asUintN(64, frame.pts / 1000n), 1);
      ws.send(Buffer.concat([head, frame.au]));
    });
    subscriber.on('error', (err) => this.emit('warning', err));
    subscriber.on('close', () => ws.close(1011, 'the frame server went away'));
    ws.on('close', () => {
      subscriber.close();
      this.emit('viewer-left', { viewers: this.viewers });
    });
    ws.on('error', () => { /* the viewer went away; close follows */ });
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      let msg: { type?: unknown; code?: unknown; down?: unknown; x?: unknown; y?: unknown; width?: unknown; height?: unknown; buttons?: unknown };
      try {
        msg = JSON.parse(data.toString()) as typeof msg;
      } catch {
        this.emit('warning', new PixelrtsError('ERR_PIXELRTS_INPUT', 'a viewer sent a message that is not JSON'));
        return;
      }
      const events: object[] = [];
      if (msg.type === 'key' && typeof msg.code === 'string') {
        const qcode = qcodeForKeyCode(msg.code);
        if (qcode) events.push({ type: 'key', data: { down: msg.down === true, key: { type: 'qcode', data: qcode } } });
      } else if (msg.type === 'pointer' && [msg.x, msg.y, msg.width, msg.height, msg.buttons].every(Number.isInteger)) {
        events.push(...pointerEvents(msg.x as number, msg.y as number, msg.width as number, msg.height as number));
        const now = msg.buttons as number;
        for (const [bit, button] of BUTTONS) {
          if ((now & bit) !== (buttons & bit)) events.push({ type: 'btn', data: { down: (now & bit) !== 0, button } });
        }
        buttons = now;
      }
      if (events.length === 0) return;
      const send = (): Promise<void> => this.#options.qmp.execute('input-send-event', { events }).then(
        () => this.#options.onInput?.(),
        (err: Error) => { this.emit('warning', new PixelrtsError('ERR_PIXELRTS_INPUT', `QEMU refused a viewer's input: ${err.message}`)); },
      );
      if (msg.type === 'key') this.#keys = this.#keys.then(send).then(() => new Promise((r) => setTimeout(r, KEY_SPACING_MS)));
      else void send();
    });
    this.emit('viewer', { viewers: this.viewers, address });
  }
}

/** Starts the view and resolves once it listens; `view.url` is what to open. */
export async function startView(options: ViewOptions): Promise<ViewServer> {
  const token = crypto.randomBytes(16).toString('hex');
  const server = http.createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', (err: NodeJS.ErrnoException) => reject(new PixelrtsError('ERR_PIXELRTS_VIEW',
      `cannot serve the view on ${options.host ?? '127.0.0.1'}:${options.port ?? 0}: ${err.code ?? err.message}; choose another port (or 0 for a free one).`)));
    server.listen(options.port ?? 0, options.host ?? '127.0.0.1', () => resolve());
  });
  return new ViewServer(server, token, options);
}

// Typed on/once/off/emit.
export interface ViewServer {
  on<E extends keyof ViewEvents>(event: E, listener: (...args: ViewEvents[E]) => void): this;
  once<E extends keyof ViewEvents>(event: E, listener: (...args: ViewEvents[E]) => void): this;
  off<E extends keyof ViewEvents>(event: E, listener: (...args: ViewEvents[E]) => void): this;
  emit<E extends keyof ViewEvents>(event: E, ...args: ViewEvents[E]): boolean;
}
