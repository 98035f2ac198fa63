// A small HXFR client (../shared/spec/hxfr.md) for the tests and the benchmark: it speaks the
// protocol byte for byte as the guest does, independently of the native parser under test.
import net from 'node:net';
import { spawn } from 'node:child_process';

export const MAGIC = 0x52465848;
export const T = {
  FRAME_REQUEST: 0x01, FRAME_RESPONSE: 0x02, KEYFRAME_REQ: 0x03, CONFIG_REQ: 0x04, PING: 0x10, PONG: 0x11,
  ENABLE_SCANOUT: 0x20, DISABLE_SCANOUT: 0x21, SCANOUT_RESP: 0x22, SUBSCRIBE: 0x30, SUBSCRIBE_RESP: 0x31, ERROR: 0xff,
};
export const FOURCC = { AR24: 0x34325241, AB24: 0x34324241, NV12: 0x3231564e };

export function header(type, flags, session, payloadSize, magic = MAGIC) {
  const b = Buffer.alloc(12);
  b.writeUInt32LE(magic >>> 0, 0);
  b[4] = type;
  b[5] = flags;
  b.writeUInt16LE(session, 6);
  b.writeUInt32LE(payloadSize >>> 0, 8);
  return b;
}

/** FRAME_REQUEST bytes; `data` present → PIXEL_DATA flag. */
export function frameRequest({ width, height, format, stride = 0, pts = 0n, duration = 0n, forceKeyframe = false,
  resourceId = 0, data = null, session = 1 }) {
  const body = Buffer.alloc(44);
  body.writeUInt32LE(resourceId, 0);
  body.writeUInt32LE(width, 4);
  body.writeUInt32LE(height, 8);
  body.writeUInt32LE(typeof format === 'string' ? FOURCC[format] : format, 12);
  body.writeUInt32LE(stride, 16);
  body.writeBigInt64LE(BigInt(pts), 20);
  body.writeBigInt64LE(BigInt(duration), 28);
  body[36] = forceKeyframe ? 1 : 0;
  const px = data ? Buffer.from(data.buffer, data.byteOffset, data.byteLength) : Buffer.alloc(0);
  return [header(T.FRAME_REQUEST, data ? 1 : 0, session, 44 + px.length), body, px];
}

export function configRequest({ width = 0, height = 0, bitrate = 0, fpsNum = 60, fpsDen = 1, profile = 66, level = 40,
  realtime = 1, session = 1 }) {
  const b = Buffer.alloc(28);
  b.writeUInt32LE(width, 0);
  b.writeUInt32LE(height, 4);
  b.writeUInt32LE(bitrate, 8);
  b.writeUInt32LE(fpsNum, 12);
  b.writeUInt32LE(fpsDen, 16);
  b[20] = profile;
  b[21] = level;
  b[22] = realtime;
  return Buffer.concat([header(T.CONFIG_REQ, 0, session, 28), b]);
}

function u32(v) {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(v, 0);
  return b;
}

/** Parses one message body into a plain object. */
export function parseMessage(type, flags, session, payload) {
  const m = { type, flags, session, payload };
  if (type === T.FRAME_RESPONSE) {
    m.pts = payload.readBigInt64LE(0);
    m.dts = payload.readBigInt64LE(8);
    m.keyframe = payload[16] === 1;
    m.nalCount = payload.readUInt32LE(20);
    const nals = [];
    let off = 24;
    for (let i = 0; i < m.nalCount; i++) {
      const len = payload.readUInt32LE(off);
      nals.push(payload.subarray(off + 4, off + 4 + len));
      off += 4 + len;
    }
    m.nals = nals;
    m.au = nals[0];
  } else if (type === T.ERROR) {
    m.code = payload.readInt32LE(0);
    const text = payload.subarray(4, 260);
    m.message = text.subarray(0, text.indexOf(0) >= 0 ? text.indexOf(0) : text.length).toString('utf8');
  } else if (type === T.SUBSCRIBE_RESP) {
    m.scanout = payload.readUInt32LE(0);
    m.success = payload.readUInt32LE(4);
  } else if (type === T.SCANOUT_RESP) {
    m.scanout = payload.readUInt32LE(0);
    m.success = payload.readUInt32LE(4);
    const name = payload.subarray(8, 72);
    m.name = name.subarray(0, name.indexOf(0)).toString('utf8');
  }
  return m;
}

export class HxfrClient {
  /** Connects over TCP ({ port, host }) or a Unix socket ({ path }). */
  static connect(opts) {
    return new Promise((resolve, reject) => {
      const sock = opts.path ? net.connect(opts.path) : net.connect(opts.port, opts.host ?? '127.0.0.1');
      sock.once('error', reject);
      sock.once('connect', () => {
        sock.off('error', reject);
        resolve(new HxfrClient(sock));
      });
    });
  }

  constructor(sock) {
    this.sock = sock;
    sock.setNoDelay(true);
    this.chunks = [];
    this.buffered = 0;
    this.queue = [];
    this.waiters = [];
    this.ended = false;
    this.closed = new Promise((resolve) => sock.once('close', resolve));
    sock.on('data', (d) => this.#onData(d));
    sock.on('error', () => {});
    sock.on('close', () => {
      this.ended = true;
      for (const w of this.waiters.splice(0)) w.reject(new Error('connection closed'));
    });
  }

  #take(n) {
    const all = this.chunks.length === 1 ? this.chunks[0] : Buffer.concat(this.chunks);
    const out = all.subarray(0, n);
    const rest = all.subarray(n);
    this.chunks = rest.length ? [rest] : [];
    this.buffered -= n;
    return out;
  }

  #onData(d) {
    this.chunks.push(d);
    this.buffered += d.length;
    for (;;) {
      if (this.buffered < 12) return;
      const head = this.chunks[0].length >= 12 ? this.chunks[0] : Buffer.concat(this.chunks);
      if (head.readUInt32LE(0) !== MAGIC) throw new Error(`bad magic from server: 0x${head.readUInt32LE(0).toString(16)}`);
      const size = head.readUInt32LE(8);
      if (this.buffered < 12 + size) return;
      const msg = this.#take(12 + size);
      const parsed = parseMessage(msg[4], msg[5], msg.readUInt16LE(6), Buffer.from(msg.subarray(12)));
      const w = this.waiters.shift();
      if (w) w.resolve(parsed);
      else this.queue.push(parsed);
    }
  }

  /** The next message from the server; rejects after `timeoutMs` or when the connection closes. */
  next(timeoutMs = 20000) {
    if (this.queue.length > 0) return Promise.resolve(this.queue.shift());
    if (this.ended) return Promise.reject(new Error('connection closed'));
    return new Promise((resolve, reject) => {
      const w = {
        resolve: (m) => { clearTimeout(timer); resolve(m); },
        reject: (e) => { clearTimeout(timer); reject(e); },
      };
      const timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(w), 1);
        reject(new Error(`no message within ${timeoutMs} ms`));
      }, timeoutMs);
      this.waiters.push(w);
    });
  }

  write(...parts) {
    for (const p of parts.flat()) this.sock.write(p);
  }

  sendFrame(frame) { this.write(frameRequest(frame)); }
  ping(session = 1) { this.write(header(T.PING, 0, session, 0)); }
  keyframeRequest(session = 1) { this.write(header(T.KEYFRAME_REQ, 0, session, 0)); }
  config(c) { this.write(configRequest(c)); }
  subscribe(scanout) { this.write(header(T.SUBSCRIBE, 0, scanout, 4), u32(scanout)); }
  enableScanout(id, width, height, refresh) {
    const b = Buffer.alloc(16);
    b.writeUInt32LE(id, 0);
    b.writeUInt32LE(width, 4);
    b.writeUInt32LE(height, 8);
    b.writeUInt32LE(refresh, 12);
    this.write(header(T.ENABLE_SCANOUT, 0, 0, 16), b);
  }
  disableScanout(id) { this.write(header(T.DISABLE_SCANOUT, 0, 0, 4), u32(id)); }

  /** Sends a frame and waits for its answer. */
  async request(frame, timeoutMs) {
    this.sendFrame(frame);
    return this.next(timeoutMs);
  }

  close() {
    this.sock.destroy();
    return this.closed;
  }
}

/** NAL unit types of an Annex B access unit, in order. */
export function nalTypes(au) {
  const types = [];
  for (let i = 0; i + 3 < au.length; i++) {
    if (au[i] === 0 && au[i + 1] === 0 && (au[i + 2] === 1 || (au[i + 2] === 0 && au[i + 3] === 1))) {
      const start = au[i + 2] === 1 ? i + 3 : i + 4;
      types.push(au[start] & 0x1f);
      i = start;
    }
  }
  return types;
}

// --- synthetic frames ---------------------------------------------------------------

/** BT.601 limited-range YUV of an RGB colour (what the encoder's conversion aims at). */
export function rgbToYuv(r, g, b) {
  return [
    Math.round(16 + (65.481 * r + 128.553 * g + 24.966 * b) / 255),
    Math.round(128 + (-37.797 * r - 74.203 * g + 112 * b) / 255),
    Math.round(128 + (112 * r - 93.786 * g - 18.214 * b) / 255),
  ];
}

/**
 * A frame filled with one colour (plus a moving bar when `t` is given, so consecutive frames
 * differ). NV12 rows are padded to `stride` when it exceeds the width; RGB rows likewise. Odd
 * NV12 sizes without a stride are tightly packed: CbCr rows of ceil(width/2) pairs.
 */
export function solidFrame(format, width, height, [r, g, b], { stride, t } = {}) {
  const bar = t === undefined ? -1 : (t * 16) % width;
  if (format === 'NV12') {
    const s = stride ?? width;
    const uvStride = stride ?? 2 * Math.ceil(width / 2);
    const [y, u, v] = rgbToYuv(r, g, b);
    const data = Buffer.alloc(s * height + uvStride * Math.ceil(height / 2), 0x55);  // padding bytes are junk, on purpose
    for (let row = 0; row < height; row++) {
      data.fill(y, row * s, row * s + width);
      if (bar >= 0) data.fill(235, row * s + bar, row * s + Math.min(width, bar + 16));
    }
    for (let row = 0; row < Math.ceil(height / 2); row++) {
      const off = height * s + row * uvStride;
      for (let x = 0; x < Math.ceil(width / 2); x++) {
        data[off + 2 * x] = u;
        data[off + 2 * x + 1] = v;
      }
    }
    return { width, height, format, stride: s, data };
  }
  const s = stride ?? width * 4;
  const data = Buffer.alloc(s * height, 0x55);
  const px = format === 'AR24' ? [b, g, r, 255] : [r, g, b, 255];
  const pixel = Buffer.from(px);
  const row0 = Buffer.alloc(width * 4);
  for (let x = 0; x < width; x++) pixel.copy(row0, x * 4);
  for (let row = 0; row < height; row++) {
    row0.copy(data, row * s);
    if (bar >= 0) data.fill(255, row * s + bar * 4, row * s + Math.min(width, bar + 16) * 4);
  }
  return { width, height, format, stride: s, data };
}

/** Pseudo-random noise frame (hard to compress: large access units). */
export function noiseFrame(format, width, height, seed = 1) {
  const size = format === 'NV12' ? width * height * 3 / 2 : width * height * 4;
  const data = Buffer.alloc(size);
  let x = seed * 2654435761 >>> 0;
  for (let i = 0; i < size; i += 4) {
    x ^= x << 13; x >>>= 0; x ^= x >>> 17; x ^= x << 5; x >>>= 0;
    data.writeUInt32LE(x, i);
  }
  return { width, height, format, data };
}

// --- independent decoding (ffmpeg/ffprobe from Debian) -------------------------------

function run(cmd, args, input) {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ['pipe', 'pipe', 'pipe'] });
    const out = [];
    const err = [];
    p.stdout.on('data', (d) => out.push(d));
    p.stderr.on('data', (d) => err.push(d));
    p.on('error', reject);
    p.on('close', (code) => {
      if (code === 0) resolve(Buffer.concat(out));
      else reject(new Error(`${cmd} exited ${code}: ${Buffer.concat(err).toString().slice(-2000)}`));
    });
    p.stdin.on('error', () => {});
    p.stdin.end(input);
  });
}

/** ffprobe's view of an H.264 elementary stream: decoded frame count and size. */
export async function probeH264(stream) {
  const out = await run('ffprobe', ['-v', 'error', '-f', 'h264', '-count_frames', '-select_streams', 'v:0',
    '-show_entries', 'stream=width,height,nb_read_frames,profile', '-of', 'json', '-i', 'pipe:0'], stream);
  const s = JSON.parse(out.toString()).streams[0];
  return { width: s.width, height: s.height, frames: Number(s.nb_read_frames), profile: s.profile };
}

/** Decodes an H.264 elementary stream with ffmpeg to packed RGB24 frames. */
export async function decodeH264ToRgb(stream) {
  return run('ffmpeg', ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'rgb24', 'pipe:1'], stream);
}

/**
 * Decodes an H.264 elementary stream with ffmpeg to planar yuv420p frames, the decoder's own
 * output: no scaler, so no chroma interpolation smearing colours across 2x2 blocks.
 */
export async function decodeH264ToYuv420(stream) {
  return run('ffmpeg', ['-v', 'error', '-f', 'h264', '-i', 'pipe:0', '-f', 'rawvideo', '-pix_fmt', 'yuv420p', 'pipe:1'], stream);
}
