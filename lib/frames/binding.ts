/**
 * The frames concept's native binding (native/frames/): the typed signatures it adds to
 * `NativeAddon`. The native side owns the sockets, the event loop thread, the encoder threads
 * and the H.264 encoders; lib/frames/server.ts turns its events into an EventEmitter.
 */

/** Listener options as the native constructor takes them (lib/frames/server.ts fills in defaults). */
export interface NativeFrameServerOptions {
  tcp?: { host: string; port: number };
  unix?: string;
  vsock?: { port: number; cid?: number };
  maxClients?: number;
  maxFrameBytes?: number;
  memoryBudget?: number;
  stallTimeout?: number;
  /** How error messages name those settings (default: the option names). */
  settingNames?: { maxClients: string; maxFrameBytes: string; stallTimeout: string };
  /** Write each request-mode connection's H.264 elementary stream to recordDir/conn-N.h264. */
  recordDir?: string;
}

/** One bound listener. */
export type NativeAddress =
  | { transport: 'tcp'; host: string; port: number }
  | { transport: 'unix'; path: string }
  | { transport: 'vsock'; cid: number; port: number };

/** A raw frame handed to native code (publish, resolver answers). `format` is the DRM fourcc. */
export interface NativeFrame {
  width: number;
  height: number;
  format: number;
  stride?: number;
  data: Uint8Array;
}

/** Events from the server's threads, delivered on the JS thread. */
export type NativeFrameEvent =
  | { type: 'connection'; connection: number; transport: string; peer: string }
  | { type: 'disconnect'; connection: number; reason: string }
  | { type: 'error'; connection: number; code: string; message: string }
  | {
    type: 'frame'; connection: number; scanout: number; width: number; height: number;
    encodedWidth: number; encodedHeight: number; format: number; bytes: number; keyframe: boolean; pts: bigint; encodeMs: number;
  }
  | { type: 'scanout'; connection: number; scanout: number; enabled: boolean; width: number; height: number; refresh: number }
  | {
    type: 'resolve'; connection: number; token: number; resourceId: number; width: number; height: number;
    format: number; stride: number; pts: bigint;
  };

/** Counters since the server started. */
export interface NativeFrameStats {
  clients: number;
  connections: number;
  frames: number;
  published: number;
  bytesIn: number;
  bytesOut: number;
  drops: number;
  errors: number;
  downscaled: number;
  encodeMsTotal: number;
  convertMsTotal: number;
}

/** The native server object; `new FrameServer(options, onEvent)` listens at once or throws. */
export interface NativeFrameServer {
  addresses(): NativeAddress[];
  /** Queues the frame for encoding and pushing to subscribers of `scanout`; false when dropped or unsubscribed. */
  publish(scanout: number, pts: bigint, frame: NativeFrame): boolean;
  setResolver(enabled: boolean): void;
  /** Answers a 'resolve' event: a frame, or null for "not found" (ERROR -2 with `error` as its text). */
  answerResolve(token: number, frame: NativeFrame | null, error?: string): void;
  setFrameEvents(enabled: boolean): void;
  stats(): NativeFrameStats;
  ref(): void;
  unref(): void;
  /** Stops every thread and closes every socket; idempotent. */
  close(): void;
}

declare module '../native' {
  interface NativeAddon {
    FrameServer: new (options: NativeFrameServerOptions, onEvent: (event: NativeFrameEvent) => void) => NativeFrameServer;
  }
}
