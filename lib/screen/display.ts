/**
 * The guest's screen as a live frame source: QEMU's VNC server on the VM's private Unix socket,
 * read by an RFB client on a native thread that hands every changed picture to a frame server
 * scanout, where it is encoded once for all HXFR subscribers. No JavaScript runs per frame; an
 * idle screen costs nothing (QEMU sends no update, nothing is encoded), and a subscriber who
 * arrives meanwhile still gets the picture at once, as an IDR. docs/screen.md has the details
 * and the measurements.
 *
 * ```ts
 * const vm = await boot(file, { vnc: true });
 * const server = await createFrameServer({ tcp: 0 });
 * const display = startDisplay({ vncSocket: vm.vnc.socket, server, scanout: 0 });
 * ```
 */
import { EventEmitter } from 'node:events';
import './binding';
import type { NativeDisplay, NativeDisplayEvent, NativeDisplayStats } from './binding';
import { native } from '../native';
import { PixelrtsError, errorCode } from '../errors';
import type { FrameServer } from '../frames/server';
import type { ScreenSize } from './screen';

export interface DisplayOptions {
  /** QEMU's VNC server: a Unix socket without a password (`vm.vnc.socket` of a VM booted with `vnc: true`). */
  vncSocket: string;
  /** Where the screen is published. */
  server: FrameServer;
  /** The scanout subscribers ask for (default 0). */
  scanout?: number;
}

/** When nudge() makes QEMU look a second time. */
const NUDGE_AGAIN_MS = 20;

/** Counters since the display started. */
export type DisplayStats = NativeDisplayStats;

/** The events of a Display and their arguments (Display.on is typed by them). */
export interface DisplayEvents {
  /** Connected: QEMU's desktop name and the screen's size. */
  ready: [info: ScreenSize & { name: string }];
  /** The guest changed mode; the next frame subscribers get is an IDR of the new size. */
  resize: [size: ScreenSize];
  /**
   * The VNC server broke the protocol (ERR_PIXELRTS_DISPLAY_PROTOCOL); emitted only when an
   * 'error' listener exists. 'close' follows.
   */
  error: [error: PixelrtsError];
  /** The connection ended: QEMU exited, the server broke the protocol, or close() was called. */
  close: [reason: string];
  newListener: [event: string | symbol, listener: (...args: unknown[]) => void];
  removeListener: [event: string | symbol, listener: (...args: unknown[]) => void];
}

/** A running display (see startDisplay); its events are DisplayEvents. */
export class Display extends EventEmitter {
  #native: NativeDisplay | null;
  // The counters as they were when the display closed.
  #last: DisplayStats | null = null;
  readonly scanout: number;
  /** Resolves with the reason once the display is closed, however that happened. */
  readonly closed: Promise<string>;
  #resolveClosed!: (reason: string) => void;

  /** @internal Use startDisplay(). */
  constructor(handle: NativeDisplay, scanout: number) {
    super();
    this.#native = handle;
    this.scanout = scanout;
    this.closed = new Promise((resolve) => { this.#resolveClosed = resolve; });
  }

  /** @internal Dispatches one native event. */
  _dispatch(e: NativeDisplayEvent): void {
    switch (e.type) {
      case 'ready':
        this.emit('ready', { name: e.name, width: e.width, height: e.height });
        break;
      case 'resize':
        this.emit('resize', { width: e.width, height: e.height });
        break;
      case 'error':
        if (this.listenerCount('error') > 0) {
          this.emit('error', new PixelrtsError(errorCode(e.code, 'ERR_PIXELRTS_DISPLAY_PROTOCOL'), e.message));
        }
        break;
      case 'close':
        this.#finish(e.reason);
        break;
    }
  }

  /** Counters since the display started (the last ones once it is closed). */
  stats(): DisplayStats {
    return this.#native ? this.#native.stats() : this.#last as DisplayStats;
  }

  /**
   * Makes QEMU look at the screen now and 20 ms later. Its VNC server checks for changes less often the
   * longer the screen stays unchanged (every 30 ms, 50 ms more each time, up to every 3 s), so
   * the first change after a quiet spell can wait that long; a new connection resets it. Call
   * this right after sending input (vm.input) so its effect reaches subscribers at once
   * (docs/screen.md has the figures). QEMU sees a client connect and leave (VNC_CONNECTED and
   * VNC_DISCONNECTED QMP events). False when the display is closed or QEMU is gone.
   */
  nudge(): boolean {
    const handle = this.#native;
    if (!handle) return false;
    // QEMU looks at once, usually before the guest has drawn what the input does (a key's echo
    // takes it a few ms), and then not for 80 ms; a second nudge catches the change (measured
    // here: 20-36 ms from a key to its frame, against 83 ms with one nudge).
    setTimeout(() => this.#native?.nudge(), NUDGE_AGAIN_MS).unref();
    return handle.nudge();
  }

  /** Keeps the process alive while the display runs (the default). */
  ref(): this {
    this.#native?.ref();
    return this;
  }

  /** Lets the process exit while the display runs. */
  unref(): this {
    this.#native?.unref();
    return this;
  }

  /** Ends the connection to QEMU and stops the display's thread. */
  close(): void {
    this.#finish('closed');
  }

  #finish(reason: string): void {
    const handle = this.#native;
    if (!handle) return;
    this.#last = handle.stats();
    this.#native = null;
    handle.close();
    this.emit('close', reason);
    this.#resolveClosed(reason);
  }
}

// Typed on/once/off/emit: the events above, with their arguments.
export interface Display {
  on<E extends keyof DisplayEvents>(event: E, listener: (...args: DisplayEvents[E]) => void): this;
  once<E extends keyof DisplayEvents>(event: E, listener: (...args: DisplayEvents[E]) => void): this;
  off<E extends keyof DisplayEvents>(event: E, listener: (...args: DisplayEvents[E]) => void): this;
  emit<E extends keyof DisplayEvents>(event: E, ...args: DisplayEvents[E]): boolean;
}

/**
 * Connects to QEMU's VNC server on `vncSocket` and publishes the screen as `scanout` of
 * `server`, from a native thread. Throws ERR_PIXELRTS_DISPLAY_CONNECT when the socket cannot be
 * connected (the handshake then runs on the display's thread: a failure there is an 'error' and
 * a 'close').
 */
export function startDisplay(options: DisplayOptions): Display {
  const scanout = options.scanout ?? 0;
  if (!Number.isInteger(scanout) || scanout < 0 || scanout > 0xffff) {
    throw new PixelrtsError('ERR_PIXELRTS_DISPLAY_OPTIONS', `scanout must be an integer 0..65535, found ${scanout}`);
  }
  if (typeof options.vncSocket !== 'string' || options.vncSocket === '') {
    throw new PixelrtsError('ERR_PIXELRTS_DISPLAY_OPTIONS', 'vncSocket: expected the path of QEMU\'s VNC Unix socket (vm.vnc.socket of a VM booted with vnc: true)');
  }
  // Events arrive from the next turn of the event loop on, when `display` is set.
  let display: Display | undefined;
  const handle = new (native().Display)(options.server._nativeServer(), options.vncSocket, scanout,
    (e) => display?._dispatch(e));
  display = new Display(handle, scanout);
  return display;
}
