/**
 * `vm.screen.frames()`: the guest's screen as an async iterator of H.264 access units, for
 * scripts. The first time it is asked for, a frame server on a Unix socket in the VM's private
 * runtime directory and the native display behind it are started (nothing is encoded before);
 * each iterator is one subscriber of their scanout 0, so it begins with an IDR and then gets
 * every change, encoded once for every iterator and viewer. Breaking out of the loop ends the
 * subscription; when the VM exits the iterators end.
 */
import path from 'node:path';
import { PixelrtsError } from '../errors';
import { createFrameServer, type FrameServer } from '../frames/server';
import { ScanoutSubscriber, type SubscribedFrame } from '../frames/subscriber';
import { startDisplay, type Display } from './display';

/** Frames an iterator may fall behind by before it fails (about 4 s of a busy 60 fps screen). */
const MAX_QUEUED = 256;

export class ScreenFrameSource {
  #started: Promise<{ server: FrameServer; display: Display; socket: string }> | undefined;
  #display: Display | undefined;
  #closed = false;

  constructor(private readonly vncSocket: string | undefined, private readonly runtimeDir: string, private readonly id: string) {}

  /** Every frame of the screen from now on (see the module comment). */
  async *frames(): AsyncGenerator<SubscribedFrame, void, undefined> {
    const { socket } = await this.#start();
    const subscriber = new ScanoutSubscriber({ path: socket }, 0);
    const queue: SubscribedFrame[] = [];
    let failure: PixelrtsError | undefined;
    let ended = false;
    let wake: (() => void) | undefined;
    const notify = (): void => { wake?.(); wake = undefined; };
    subscriber.on('frame', (frame) => {
      if (queue.length >= MAX_QUEUED) {
        failure ??= new PixelrtsError('ERR_PIXELRTS_SCREEN',
          `vm.screen.frames() of VM ${this.id}: the loop fell ${MAX_QUEUED} frames behind the screen; handle each frame faster, or start again (the next frame is an IDR).`);
        subscriber.close();
      } else {
        queue.push(frame);
      }
      notify();
    });
    subscriber.on('error', (err) => { failure ??= err; notify(); });
    subscriber.on('close', () => { ended = true; notify(); });
    try {
      for (;;) {
        const next = queue.shift();
        if (next) {
          yield next;
          continue;
        }
        if (failure) throw failure;
        if (ended) return;
        await new Promise<void>((resolve) => { wake = resolve; });
      }
    } finally {
      subscriber.close();
    }
  }

  /**
   * After input: tells QEMU's VNC server to look at the screen now (Display.nudge), so the
   * change shows without its idle polling delay. Nothing when no iterator was ever started.
   */
  nudge(): void {
    this.#display?.nudge();
  }

  /** Stops the frame server and the display (the VM exited). Iterators end. */
  async close(): Promise<void> {
    this.#closed = true;
    const started = await this.#started?.catch(() => undefined);
    started?.display.close();
    await started?.server.close();
  }

  #start(): Promise<{ server: FrameServer; display: Display; socket: string }> {
    if (this.#closed) return Promise.reject(new PixelrtsError('ERR_PIXELRTS_SCREEN', `VM ${this.id} has exited: its screen has no more frames.`));
    if (this.vncSocket === undefined) {
      return Promise.reject(new PixelrtsError('ERR_PIXELRTS_NO_DISPLAY',
        `VM ${this.id} has no screen to stream: boot it with screen: true (CLI --screen), or vnc: true for a VNC socket.`));
    }
    const vncSocket = this.vncSocket;
    this.#started ??= (async () => {
      const socket = path.join(this.runtimeDir, 'screen-frames.sock');
      const server = await createFrameServer({ unix: socket });
      this.#display = startDisplay({ vncSocket, server, scanout: 0 });
      return { server, display: this.#display, socket };
    })();
    return this.#started;
  }
}
