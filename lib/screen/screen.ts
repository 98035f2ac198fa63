/**
 * The guest's screen as QEMU's own display holds it: screenshots as PNG (QMP `screendump`) and
 * the current size in pixels. A VM has a screen only when it was booted with one (`screen` or
 * `vnc`); without, every call fails with ERR_PIXELRTS_NO_DISPLAY and says how to get one.
 */
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { PixelrtsError } from '../errors';
import type { QmpExecutor } from '../vm/qmp';
import type { SubscribedFrame } from '../frames/subscriber';
import { ScreenFrameSource } from './frames';

/** A screen's size in pixels. */
export interface ScreenSize {
  width: number;
  height: number;
}

/** The screen of one VM (see createScreen). */
export interface Screen {
  /** The screen now, as the bytes of a PNG file (RGB, 8 bits a channel). */
  screenshot(): Promise<Buffer>;
  /** The screen's size now: it follows the guest's mode changes (text mode, a framebuffer). */
  size(): Promise<ScreenSize>;
  /**
   * Every change of the screen from now on as H.264 access units (Annex B; the first an IDR),
   * damage-driven: an idle screen yields nothing. `for await (const f of vm.screen.frames())`;
   * break to stop. Needs QEMU's VNC socket (a VM booted with `screen` or `vnc: true`).
   */
  frames(): AsyncGenerator<SubscribedFrame, void, undefined>;
}

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** Width and height from a PNG's IHDR chunk (the first chunk, at byte 8). */
export function pngSize(png: Buffer): ScreenSize {
  if (png.length < 24 || !png.subarray(0, 8).equals(PNG_SIGNATURE) || png.toString('latin1', 12, 16) !== 'IHDR') {
    throw new PixelrtsError('ERR_PIXELRTS_SCREEN', 'QEMU\'s screendump is not a PNG file; is this QEMU older than 7.1 (the first with PNG screendumps)?');
  }
  return { width: png.readUInt32BE(16), height: png.readUInt32BE(20) };
}

/**
 * The screen of the VM `id` through `qmp` (a QmpClient, or the control socket's qmp op). QEMU
 * writes each screenshot into `runtimeDir` (the VM's private 0700 directory, which QEMU and this
 * user share), from where it is read and removed. `vncSocket`, QEMU's VNC Unix socket, is where
 * frames() reads the screen; `close()` of the result stops that when the VM has exited.
 */
export function createScreen(qmp: QmpExecutor, runtimeDir: string, id: string, vncSocket?: string): Screen & { close(): Promise<void>; nudge(): void } {
  const source = new ScreenFrameSource(vncSocket, runtimeDir, id);
  const screenshot = async (): Promise<Buffer> => {
    const file = path.join(runtimeDir, `screendump-${crypto.randomBytes(6).toString('hex')}.png`);
    try {
      await qmp.execute('screendump', { filename: file, format: 'png' });
      return fs.readFileSync(file);
    } catch (err) {
      // QEMU 7.2: "There is no console to take a screendump from." (no display device at all).
      if (/no (Qemu)?console/i.test((err as Error).message)) {
        throw new PixelrtsError('ERR_PIXELRTS_NO_DISPLAY',
          `VM ${id} has no screen: it was booted without a display. Boot it with --screen (API: screen: true) or --vnc to give it one.`,
          { cause: err });
      }
      throw err;
    } finally {
      fs.rmSync(file, { force: true });
    }
  };
  return {
    screenshot,
    size: async () => pngSize(await screenshot()),
    frames: () => source.frames(),
    close: () => source.close(),
    nudge: () => source.nudge(),
  };
}
