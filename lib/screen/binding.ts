/** Typed signatures of the native screen part (native/screen/screen_module.cc). */
import type { NativeFrameServer } from '../frames/binding';

/** The rare events of a display's thread (never one per frame), delivered on the JS thread. */
export type NativeDisplayEvent =
  | { type: 'ready'; name: string; width: number; height: number }
  | { type: 'resize'; width: number; height: number }
  | { type: 'error'; code: string; message: string }
  | { type: 'close'; reason: string };

/** A display's counters since it started. */
export interface NativeDisplayStats {
  /** FramebufferUpdates received from QEMU. */
  updates: number;
  /** Their Raw and CopyRect rectangles (the damage). */
  rects: number;
  /** The rectangles' area in pixels. */
  damagedPixels: number;
  /** Pictures handed to the frame server (updates with damage, and resizes). */
  published: number;
  /** Mode changes (DesktopSize). */
  resizes: number;
  /** Bytes read from the VNC socket. */
  bytesIn: number;
  /** The screen's size now (0 before QEMU's greeting). */
  width: number;
  height: number;
}

/** An RFB client on a native thread publishing to a frame server scanout; connects at once or throws. */
export interface NativeDisplay {
  stats(): NativeDisplayStats;
  /** Connects to the VNC socket and closes again at once (resets QEMU's refresh interval); false when nothing listens. */
  nudge(): boolean;
  ref(): void;
  unref(): void;
  /** Ends the connection and joins the thread; idempotent. */
  close(): void;
}

declare module '../native' {
  interface NativeAddon {
    Display: new (server: NativeFrameServer, socketPath: string, scanout: number,
      onEvent: (event: NativeDisplayEvent) => void) => NativeDisplay;
  }
}
