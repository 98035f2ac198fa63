// Frame export (HXFR request mode) from a loopback TCP client, as vsockenc drives it: one
// frame in flight, send → FRAME_RESPONSE round trip per frame; also two in flight (the
// server receives the next frame while encoding), which is the throughput ceiling.
// Baselines measured in the same run: an echo server (a child process that reads the same
// frames and answers without encoding: the transport's cost alone) and, from the server's
// own counters, colour conversion alone and encoding alone per frame.
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { HxfrClient, solidFrame, noiseFrame } from '../test/helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const { createFrameServer } = require('../dist/frames/server.js');

const cases = [];
for (const [w, h] of [[640, 480], [1280, 720], [1920, 1080]]) {
  for (const format of ['NV12', 'AR24']) cases.push({ w, h, format, content: 'desktop', make: frames });
}
cases.push({ w: 1920, h: 1080, format: 'NV12', content: 'busy', make: busyFrames });
// Odd sizes are encoded padded to even (docs/frames.md): the cost against 1920x1080 above.
for (const format of ['NV12', 'AR24']) cases.push({ w: 1919, h: 1079, format, content: 'desktop', make: frames });
// Too large for openh264 (level 5.2): halved to 2560x1440 before encoding (docs/frames.md "Large frames").
cases.push({ w: 5120, h: 2880, format: 'NV12', content: 'desktop', make: frames });
const seconds = Number(process.env.BENCH_SECONDS ?? 3);

// Desktop-like content: a flat background with a bar that moves 48 px per frame.
function frames(format, width, height, count = 8) {
  const out = [];
  for (let i = 0; i < count; i++) out.push(solidFrame(format, width, height, [40, 90, 160], { t: i * 3 }));
  return out;
}

// Harder content (a video playing in a window): the same, with a band a quarter of the frame
// high replaced every frame by fresh random 8x8 blocks (textured, unlike the flat desktop).
function busyFrames(format, width, height, count = 8) {
  const rows = height / 4;
  return frames(format, width, height, count).map((f, i) => {
    const blocks = noiseFrame('AR24', width / 8, rows / 8, i + 1).data;  // one byte per 8x8 block
    const data = Buffer.from(f.data);
    const top = ((i * 37) % ((height - rows) / 2)) * 2;
    const bpp = format === 'NV12' ? 1 : 4;
    for (let r = 0; r < rows; r++) {
      const off = (top + r) * f.stride;
      for (let x = 0; x < width * bpp; x++) data[off + x] = blocks[(r >> 3) * (width / 8) + ((x / bpp) >> 3)];
    }
    return { ...f, data };
  });
}

function percentile(sorted, p) {
  return sorted[Math.min(sorted.length - 1, Math.floor(sorted.length * p))];
}

async function sequential(port, list) {
  const c = await HxfrClient.connect({ port });
  const rtts = [];
  const t0 = performance.now();
  let i = 0;
  while (performance.now() - t0 < seconds * 1000) {
    const s = performance.now();
    const r = await c.request({ ...list[i % list.length], pts: BigInt(i) });
    if (r.type !== 0x02 && r.type !== 0x11) throw new Error(`unexpected answer ${r.type}: ${r.message}`);
    rtts.push(performance.now() - s);
    i++;
  }
  const total = performance.now() - t0;
  await c.close();
  rtts.sort((a, b) => a - b);
  return { fps: (rtts.length * 1000) / total, p50: percentile(rtts, 0.5), p99: percentile(rtts, 0.99), n: rtts.length };
}

async function pipelined(port, list, depth = 2) {
  const c = await HxfrClient.connect({ port });
  const t0 = performance.now();
  let sent = 0;
  let done = 0;
  for (; sent < depth; sent++) c.sendFrame({ ...list[sent % list.length], pts: BigInt(sent) });
  while (performance.now() - t0 < seconds * 1000) {
    await c.next();
    done++;
    c.sendFrame({ ...list[sent % list.length], pts: BigInt(sent) });
    sent++;
  }
  for (; done < sent; done++) await c.next();
  const total = performance.now() - t0;
  await c.close();
  return { fps: (done * 1000) / total };
}

// The echo baseline: a separate process that parses HXFR framing and answers every
// FRAME_REQUEST with a PONG-sized message, so the round trip is the transport alone.
const echoSource = `
const net = require('node:net');
const server = net.createServer((s) => {
  let chunks = [], have = 0, need = 12, inBody = false;
  s.setNoDelay(true);
  s.on('data', (d) => {
    chunks.push(d); have += d.length;
    while (have >= need) {
      const all = Buffer.concat(chunks); chunks = [all.subarray(need)]; have -= need;
      if (!inBody) { need = all.readUInt32LE(8); inBody = true; if (need === 0) { inBody = false; need = 12; } }
      else { const a = Buffer.alloc(12); a.writeUInt32LE(0x52465848, 0); a[4] = 0x11; s.write(a); inBody = false; need = 12; }
    }
  });
});
server.listen(0, '127.0.0.1', () => console.log(server.address().port));`;

async function startEcho() {
  const p = spawn(process.execPath, ['-e', echoSource], { stdio: ['ignore', 'pipe', 'inherit'] });
  const port = await new Promise((resolve) => p.stdout.once('data', (d) => resolve(Number(String(d).trim()))));
  return { port, stop: () => p.kill() };
}

const echo = await startEcho();
const rows = [];
try {
  for (const { w, h, format, content, make } of cases) {
    {
      const list = make(format, w, h);
      const server = await createFrameServer({ tcp: 0 });
      const port = server.address().port;
      await sequential(port, list.slice(0, 2));  // warm-up: encoder creation, page faults
      const s0 = server.stats();
      const seq = await sequential(port, list);
      const s1 = server.stats();
      const pipe = await pipelined(port, list);
      await server.close();
      const n = s1.frames - s0.frames;
      const convertMs = (s1.convertMs * s1.frames - s0.convertMs * s0.frames) / n;
      const encodeMs = (s1.encodeMs * s1.frames - s0.encodeMs * s0.frames) / n - convertMs;
      const base = await sequential(echo.port, list);
      rows.push({ size: `${w}x${h}`, format, content, seq, pipe, convertMs, encodeMs, base });
      console.log(`${`${w}x${h}`.padEnd(9)} ${format} ${content.padEnd(7)}  1 in flight: ${seq.fps.toFixed(1).padStart(6)} fps, round trip p50 ${seq.p50.toFixed(2)} ms p99 ${seq.p99.toFixed(2)} ms` +
        ` | 2 in flight: ${pipe.fps.toFixed(1).padStart(6)} fps | convert ${convertMs.toFixed(2)} ms, encode ${encodeMs.toFixed(2)} ms/frame` +
        ` | echo baseline p50 ${base.p50.toFixed(2)} ms (${base.fps.toFixed(0)} fps) → round trip ${(seq.p50 / base.p50).toFixed(1)}x echo`);
    }
  }
} finally {
  echo.stop();
}
for (const format of ['NV12', 'AR24']) {
  const even = rows.find((r) => r.size === '1920x1080' && r.format === format && r.content === 'desktop');
  const odd = rows.find((r) => r.size === '1919x1079' && r.format === format);
  if (even && odd) {
    console.log(`odd size ${format}: 1919x1079 ${odd.seq.fps.toFixed(1)} fps vs 1920x1080 ${even.seq.fps.toFixed(1)} fps (1 in flight) → ` +
      `${(odd.seq.fps / even.seq.fps).toFixed(2)}x; convert ${odd.convertMs.toFixed(2)} vs ${even.convertMs.toFixed(2)} ms/frame`);
  }
}
const big = rows.find((r) => r.size === '5120x2880');
const hdNv12 = rows.find((r) => r.size === '1920x1080' && r.format === 'NV12' && r.content === 'desktop');
if (big && hdNv12) {
  console.log(`large frame NV12: 5120x2880 (encoded 2560x1440) ${big.seq.fps.toFixed(1)} fps vs 1920x1080 ${hdNv12.seq.fps.toFixed(1)} fps ` +
    `(1 in flight) → ${(big.seq.fps / hdNv12.seq.fps).toFixed(2)}x; convert + downscale ${big.convertMs.toFixed(2)} ms, encode ${big.encodeMs.toFixed(2)} ms/frame`);
}
const hd = rows.find((r) => r.size === '1920x1080' && r.format === 'NV12' && r.content === 'desktop');
if (hd) {
  console.log(`\ntarget 1080p NV12 ≥ 60 fps with p50 ≤ 16 ms: ${hd.seq.fps.toFixed(1)} fps at p50 ${hd.seq.p50.toFixed(2)} ms (1 in flight), ` +
    `${hd.pipe.fps.toFixed(1)} fps (2 in flight) → ${hd.seq.fps >= 60 && hd.seq.p50 <= 16 ? 'met' : 'NOT met'}`);
}
