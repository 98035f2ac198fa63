// The guest's screen as H.264 (#14): the native RFB display (QEMU's VNC on a Unix socket →
// framebuffer → encoder → subscribers, no JavaScript per frame) against the floor the issue
// names, screendump polling (QMP screendump to a PPM file, read, compared, converted and
// publish()ed from JavaScript), on the same guest in the same run: latency from a key press
// to the frame at a subscriber, frames per second and CPU while the screen scrolls, CPU while
// it is idle. Then synthetic 1080p damage from a small RFB server (every update a whole new
// frame): the native path against the same frames read and publish()ed by a JS RFB client.
// And the browser view: key press → frame decoded by WebCodecs in Debian's chromium (driven by
// puppeteer-core), against key press → frame at a plain subscriber in the same run, with the
// bytes per second the view's WebSocket carries for an idle and a scrolling screen.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createRequire } from 'node:module';
import { fileURLToPath } from 'node:url';
import { HxfrClient } from '../test/helpers/hxfr-client.mjs';

const require = createRequire(import.meta.url);
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const px = require(path.join(root, 'dist', 'index.js'));
const { buildDemoContainer } = require(path.join(root, 'dist', 'demo', 'image.js'));

const { startView } = require(path.join(root, 'dist', 'view', 'server.js'));
const SECONDS = Number(process.env.BENCH_SECONDS ?? 5);
const LATENCY_RUNS = Number(process.env.SCREEN_BENCH_KEYS ?? 6);
const POLL_MS = [100, 33];
const CLK_TCK = 100;  // Linux USER_HZ
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); const m = s.length >> 1; return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2; };

/** CPU seconds used so far by process `pid` (all its threads), from /proc. */
function cpuOf(pid) {
  const f = fs.readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = f.slice(f.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) / CLK_TCK;
}

/** CPU of this process and of `others` (pids) over `ms`, as a percentage of one core each. */
async function cpuOver(ms, others, during = sleep) {
  const a = [process.pid, ...others].map(cpuOf);
  const t0 = performance.now();
  await during(ms);
  const secs = (performance.now() - t0) / 1000;
  return [process.pid, ...others].map((p, i) => (100 * (cpuOf(p) - a[i])) / secs);
}

/** A subscriber of scanout 0 that timestamps every frame it receives. */
async function subscribe(server) {
  const c = await HxfrClient.connect({ port: server.address().port });
  c.subscribe(0);
  await c.next();
  const sub = { frames: 0, last: 0, close: () => c.close() };
  (async () => {
    for (;;) {
      try { await c.next(1e9); } catch { return; }
      sub.frames++;
      sub.last = performance.now();
    }
  })();
  return sub;
}

/** Screendump polling every `intervalMs`, publishing changed pictures from JavaScript. */
function startPolling(vm, server, intervalMs) {
  const file = path.join(vm.runtimeDir, 'bench-screendump.ppm');
  let stop = false;
  let prev = null;
  const done = (async () => {
    while (!stop) {
      const t0 = performance.now();
      await vm.qmp.execute('screendump', { filename: file, format: 'ppm' });
      const ppm = fs.readFileSync(file);
      if (!prev || !ppm.equals(prev)) {
        prev = ppm;
        // P6: "P6\nW H\n255\n", then RGB.
        const [header, width, height] = /^P6\s+(\d+)\s+(\d+)\s+255\s/.exec(ppm.toString('latin1', 0, 32));
        const w = Number(width), h = Number(height);
        const rgb = ppm.subarray(header.length);
        const bgrx = Buffer.alloc(w * h * 4);
        for (let i = 0, o = 0; i < w * h * 3; i += 3, o += 4) {
          bgrx[o] = rgb[i + 2]; bgrx[o + 1] = rgb[i + 1]; bgrx[o + 2] = rgb[i];
        }
        server.publish(0, { width: w, height: h, format: 'AR24', data: bgrx });
      }
      await sleep(Math.max(0, intervalMs - (performance.now() - t0)));
    }
    fs.rmSync(file, { force: true });
  })();
  return { stop: () => { stop = true; return done; } };
}

/**
 * Key press → first frame at the subscriber, `LATENCY_RUNS` times after `idleMs` of quiet each;
 * `afterInput` runs right after each key (the display's nudge).
 */
async function latencies(vm, sub, idleMs, afterInput) {
  const out = [];
  for (let i = 0; i < LATENCY_RUNS; i++) {
    await sleep(idleMs);
    const before = sub.frames;
    const sent = performance.now();
    if (i % 2) await vm.input.key('backspace'); else await vm.input.type('x');
    afterInput?.();
    while (sub.frames === before && performance.now() - sent < 10_000) await sleep(1);
    out.push(sub.last - sent);
    await sleep(300);  // the echo may take more than one frame
  }
  return out;
}

async function guest() {
  const { containerPath } = await buildDemoContainer({});
  const vm = await px.boot(containerPath, { accel: 'tcg', vnc: true });
  const lines = [];
  vm.console.on('line', (l) => lines.push(l));
  try {
    await vm.ready({ timeout: 120_000 });
    await sleep(3000);
    // No blinking cursor (two updates a second otherwise), then the screen is idle.
    await vm.input.type("printf '\\033[?25l'; clear; echo Bench:Ready >/dev/ttyS0\n");
    while (!lines.some((l) => l.trim() === 'Bench:Ready')) await sleep(100);
    await sleep(2000);
    const server = await px.createFrameServer({ tcp: 0 });
    const sub = await subscribe(server);
    const rows = [];
    const idleNothing = await cpuOver(SECONDS * 1000, [vm.pid]);
    console.log(`nothing reading the screen: idle CPU node ${idleNothing[0].toFixed(1)} %, QEMU ${idleNothing[1].toFixed(1)} %`);

    const display = (nudge) => () => {
      const d = px.startDisplay({ vncSocket: vm.vnc.socket, server });
      return { stop: async () => d.close(), afterInput: nudge ? () => d.nudge() : undefined };
    };
    const methods = [
      { name: 'native RFB display', start: display(false) },
      { name: 'RFB display + nudge()', start: display(true) },
      ...POLL_MS.map((ms) => ({ name: `screendump every ${ms} ms`, start: () => startPolling(vm, server, ms) })),
    ];
    for (const m of methods) {
      const source = m.start();
      await sleep(1500);
      const f0 = server.stats().frames;
      const idle = await cpuOver(SECONDS * 1000, [vm.pid]);
      const idleFrames = server.stats().frames - f0;
      const lat1 = await latencies(vm, sub, 1000, source.afterInput);
      const lat5 = await latencies(vm, sub, 5000, source.afterInput);
      // Scrolling: the shell prints numbers as fast as the guest can, for a while (tty1's shell
      // has no controlling terminal: Ctrl-C would not stop it).
      await vm.input.type(`end=$(($(date +%s)+${SECONDS + 4})); while [ $(date +%s) -lt $end ]; do echo $RANDOM $RANDOM $RANDOM; done; clear\n`);
      await sleep(2000);
      const s0 = sub.frames;
      const busy = await cpuOver(SECONDS * 1000, [vm.pid]);
      const fps = (sub.frames - s0) / SECONDS;
      await sleep(4000);
      await source.stop();
      rows.push({ name: m.name, idle, idleFrames, lat1, lat5, busy, fps });
      console.log(`${m.name.padEnd(25)} key→frame after 1 s idle: median ${median(lat1).toFixed(0)} ms (max ${Math.max(...lat1).toFixed(0)}), after 5 s idle: median ${median(lat5).toFixed(0)} ms (max ${Math.max(...lat5).toFixed(0)})` +
        ` | scrolling: ${fps.toFixed(1)} fps, CPU node ${busy[0].toFixed(1)} % QEMU ${busy[1].toFixed(1)} %` +
        ` | idle: ${idleFrames} encodes in ${SECONDS} s, CPU node ${idle[0].toFixed(1)} % QEMU ${idle[1].toFixed(1)} %`);
    }
    sub.close();
    await server.close();
    return rows;
  } finally {
    await vm.kill();
    await vm.exited;
  }
}

// A child process serving RFB on `socket`: each update request is answered with a whole new
// 1920x1080 Raw frame (a bar moving across a flat background).
const serverSource = (socket) => `
import { serveRfb, rawUpdate } from ${JSON.stringify(path.join(root, 'test', 'helpers', 'rfb-server.mjs'))};
const W = 1920, H = 1080;
const frames = [];
for (let i = 0; i < 8; i++) {
  const px = Buffer.alloc(W * H * 4);
  for (let p = 0; p < W * H; p++) { px[p * 4] = 160; px[p * 4 + 1] = 90; px[p * 4 + 2] = 40; }
  for (let y = 0; y < H; y++) for (let x = i * 200; x < i * 200 + 160; x++) px.fill(255, (y * W + x) * 4, (y * W + x) * 4 + 3);
  frames.push(rawUpdate(W, H, px));
}
await serveRfb(${JSON.stringify(socket)}, { width: W, height: H }, async (s, client) => {
  for (let i = 0; ; i++) {
    await client.nextRequest();
    if (!s.write(frames[i % frames.length])) await new Promise((r) => s.once('drain', r));
  }
});
console.log('listening');
`;

/** The baseline: an RFB client in JavaScript (full-frame Raw updates) that publish()es each frame. */
async function jsClient(socket, server) {
  const s = net.connect(socket);
  let buf = Buffer.alloc(0);
  let fb = null, W = 0, H = 0, stage = 'version', stopped = false;
  const request = () => {
    const r = Buffer.alloc(10);
    r[0] = 3; r[1] = 1; r.writeUInt16BE(W, 6); r.writeUInt16BE(H, 8);
    s.write(r);
  };
  // Chunks are joined once a whole message is there (joining each 64 KiB chunk onto an 8 MB
  // frame would make the baseline quadratic, not representative).
  let chunks = [], have = 0;
  const take = (need) => {
    if (buf.length >= need) return true;
    if (buf.length + have < need) return false;
    buf = Buffer.concat([buf, ...chunks]);
    chunks = []; have = 0;
    return true;
  };
  s.on('data', (d) => {
    chunks.push(d);
    have += d.length;
    for (;;) {
      if (stage === 'version') {
        if (!take(12)) return;
        buf = buf.subarray(12); s.write('RFB 003.008\n'); stage = 'sec';
      } else if (stage === 'sec') {
        if (!take(2) || !take(1 + buf[0])) return;
        buf = buf.subarray(1 + buf[0]); s.write(Buffer.from([1])); stage = 'result';
      } else if (stage === 'result') {
        if (!take(4)) return;
        buf = buf.subarray(4); s.write(Buffer.from([1])); stage = 'init';
      } else if (stage === 'init') {
        if (!take(24) || !take(24 + buf.readUInt32BE(20))) return;
        W = buf.readUInt16BE(0); H = buf.readUInt16BE(2);
        buf = buf.subarray(24 + buf.readUInt32BE(20));
        fb = Buffer.alloc(W * H * 4);
        const spf = Buffer.from([0, 0, 0, 0, 32, 24, 0, 1, 0, 255, 0, 255, 0, 255, 16, 8, 0, 0, 0, 0]);
        s.write(Buffer.concat([spf, Buffer.from([2, 0, 0, 1, 0, 0, 0, 0])]));
        request();
        stage = 'update';
      } else {
        // One whole-screen Raw rectangle per update: 4 + 12 + W*H*4 bytes.
        const need = 16 + W * H * 4;
        if (!take(need)) return;
        buf.copy(fb, 0, 16, need);
        buf = buf.subarray(need);
        if (!stopped) request();
        server.publish(0, { width: W, height: H, format: 'AR24', data: fb });
      }
    }
  });
  await new Promise((r) => s.once('connect', r));
  return { stop: () => { stopped = true; s.destroy(); } };
}

async function synthetic() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-screenbench-'));
  const socket = path.join(dir, 'rfb.sock');
  const child = spawn(process.execPath, ['--input-type=module', '-e', serverSource(socket)], { stdio: ['ignore', 'pipe', 'inherit'] });
  try {
    await new Promise((r) => child.stdout.once('data', r));
    const rows = [];
    for (const [name, start] of [
      ['native RFB display', (server) => { const d = px.startDisplay({ vncSocket: socket, server }); return { stop: () => d.close() }; }],
      ['JS RFB client + publish()', (server) => jsClient(socket, server)],
    ]) {
      const server = await px.createFrameServer({ tcp: 0 });
      const sub = await subscribe(server);
      const source = await start(server);
      await sleep(1000);
      const f0 = sub.frames;
      const [node, rfbServer] = await cpuOver(SECONDS * 1000, [child.pid]);
      const fps = (sub.frames - f0) / SECONDS;
      const st = server.stats();
      source.stop();
      sub.close();
      await server.close();
      rows.push({ name, fps, node, rfbServer });
      console.log(`1920x1080 full-frame damage, ${name.padEnd(26)}: ${fps.toFixed(1)} fps at the subscriber, CPU of this process ${node.toFixed(0)} % (${(node / Math.max(fps, 1e-9) * 10).toFixed(1)} ms per frame, of which encoding ${st.encodeMs.toFixed(1)} ms and the rest ${(node / Math.max(fps, 1e-9) * 10 - st.encodeMs).toFixed(1)} ms); RFB server ${rfbServer.toFixed(0)} %`);
      await sleep(500);
    }
    const [n, j] = rows;
    console.log(`native vs JS: ${(n.fps / j.fps).toFixed(2)}x the frame rate, ${((n.node / n.fps) / (j.node / j.fps)).toFixed(2)}x the CPU per frame`);
  } finally {
    child.kill();
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

async function browser() {
  if (!fs.existsSync('/usr/bin/chromium')) {
    console.log('browser part skipped: /usr/bin/chromium is missing (apt-get install chromium)');
    return;
  }
  const { default: puppeteer } = await import('puppeteer-core');
  const { containerPath } = await buildDemoContainer({});
  const vm = await px.boot(containerPath, { accel: 'tcg', vnc: true });
  const lines = [];
  vm.console.on('line', (l) => lines.push(l));
  const server = await px.createFrameServer({ tcp: 0 });
  const display = px.startDisplay({ vncSocket: vm.vnc.socket, server });
  const view = await startView({ frames: { port: server.address().port }, qmp: vm.qmp, onInput: () => display.nudge() });
  // What the view's WebSocket carries: counted at the frame server's side of the view.
  const browserArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'];
  const chromium = await puppeteer.launch({ executablePath: '/usr/bin/chromium', headless: true, args: browserArgs });
  try {
    await vm.ready({ timeout: 120_000 });
    await sleep(3000);
    await vm.input.type("printf '\\033[?25l'; clear; echo Bench:Ready >/dev/ttyS0\n");
    while (!lines.some((l) => l.trim() === 'Bench:Ready')) await sleep(100);
    const sub = await subscribe(server);
    const page = await chromium.newPage();
    await page.goto(view.url);
    await page.waitForFunction(() => window.pixelrtsView.decoded > 0, { timeout: 60_000 });
    await sleep(2000);
    const decoded = () => page.evaluate(() => window.pixelrtsView.decoded);
    const toSub = [];
    const toPage = [];
    for (let i = 0; i < LATENCY_RUNS; i++) {
      await sleep(1000);
      const before = { sub: sub.frames, page: await decoded() };
      const sent = performance.now();
      if (i % 2) await vm.input.key('backspace'); else await vm.input.type('x');
      display.nudge();
      await page.waitForFunction((n) => window.pixelrtsView.decoded > n, { polling: 2, timeout: 10_000 }, before.page);
      toPage.push(performance.now() - sent);
      if (sub.frames > before.sub) toSub.push(sub.last - sent);
      await sleep(300);
    }
    const bytes = async (ms) => {
      const b0 = await page.evaluate(() => window.pixelrtsView.bytes);
      await sleep(ms);
      return ((await page.evaluate(() => window.pixelrtsView.bytes)) - b0) / (ms / 1000);
    };
    const idleBytes = await bytes(SECONDS * 1000);
    await vm.input.type(`end=$(($(date +%s)+${SECONDS + 3})); while [ $(date +%s) -lt $end ]; do echo $RANDOM $RANDOM $RANDOM; done; clear\n`);
    display.nudge();
    await sleep(1500);
    const f0 = await decoded();
    const busyBytes = await bytes(SECONDS * 1000);
    const busyFps = ((await decoded()) - f0) / SECONDS;
    console.log(`browser view: key→decoded frame in chromium median ${median(toPage).toFixed(0)} ms (max ${Math.max(...toPage).toFixed(0)}); ` +
      `the same keys → frame at a plain subscriber median ${median(toSub).toFixed(0)} ms; WebSocket bytes/s idle ${idleBytes.toFixed(0)}, ` +
      `scrolling ${(busyBytes / 1024).toFixed(0)} KiB/s at ${busyFps.toFixed(1)} decoded fps`);
    sub.close();
  } finally {
    await chromium.close();
    await view.close();
    display.close();
    await server.close();
    await vm.kill();
    await vm.exited;
  }
}

const only = process.env.SCREEN_BENCH_PART;
if (!only || only === 'guest') await guest();
if (!only || only === 'synthetic') await synthetic();
if (!only || only === 'browser') await browser();
