// `npm run bench -- channel`: round-trip latency of the host ↔ VM channel with the demo guest
// under QEMU (TCG here): QMP `query-status`, and a `ping` through the command channel
// (host → guest agent → host), over the second UART (the default) and over virtio-serial. Baseline in the same run: an in-process Unix-socket echo round
// trip, the floor any socket protocol pays. 200 requests each after a warm-up; median and p99.
import { createRequire } from 'node:module';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const require = createRequire(import.meta.url);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { launchVm } = require('../dist/vm/vm.js');
const { buildDemoImage } = require('../dist/demo/image.js');

const N = 200;
const WARMUP = 20;
const cacheDir = process.env.PIXELRTS_TEST_CACHE ?? path.join(repoRoot, 'node_modules', '.cache', 'pixelrts-test');

function stats(samples) {
  const s = [...samples].sort((a, b) => a - b);
  const q = (p) => s[Math.min(s.length - 1, Math.ceil(p * s.length) - 1)];
  return { median: q(0.5), p99: q(0.99), min: s[0], max: s[s.length - 1] };
}

async function measure(fn) {
  for (let i = 0; i < WARMUP; i++) await fn();
  const samples = [];
  for (let i = 0; i < N; i++) {
    const t = process.hrtime.bigint();
    await fn();
    samples.push(Number(process.hrtime.bigint() - t) / 1e6);
  }
  return stats(samples);
}

async function echoBaseline() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'pixelrts-bench-'));
  const sockPath = path.join(dir, 'echo.sock');
  const server = net.createServer((s) => s.on('data', (d) => s.write(d)));
  await new Promise((r) => server.listen(sockPath, r));
  const client = net.createConnection({ path: sockPath });
  await new Promise((r) => client.once('connect', r));
  const line = JSON.stringify({ type: 'command', data: { message: 'ping' }, id: 'h1', direction: 'host-to-vm', timestamp: new Date().toISOString() }) + '\n';
  let buffered = '';
  let waiting = null;
  client.setEncoding('utf8');
  client.on('data', (d) => {
    buffered += d;
    if (buffered.endsWith('\n') && waiting) { buffered = ''; const w = waiting; waiting = null; w(); }
  });
  const result = await measure(() => new Promise((r) => { waiting = r; client.write(line); }));
  client.destroy();
  await new Promise((r) => server.close(r));
  fs.rmSync(dir, { recursive: true, force: true });
  return result;
}

const fmt = (x) => x.toFixed(3).padStart(8);
const row = (name, s, base) =>
  console.log(`${name.padEnd(34)} median ${fmt(s.median)} ms  p99 ${fmt(s.p99)} ms  (min ${fmt(s.min)}, max ${fmt(s.max)})` +
    (base ? `  median ×${(s.median / base.median).toFixed(1)} baseline` : ''));

async function bootDemo(demo, channel) {
  const vm = await launchVm({ kernel: demo.kernelPath, initrd: demo.initrdPath, cmdline: demo.cmdline, channel });
  await vm.console.waitFor('pixelrts demo ready', { timeout: 120000 });
  await new Promise((r) => vm.channel.once('heartbeat', r)); // the agent is up
  return vm;
}

const baseline = await echoBaseline();
const demo = await buildDemoImage({ cacheDir, onProgress: (l) => console.log(`demo: ${l}`) });
let vm = await bootDemo(demo, 'serial');
let qmp;
let ping;
let virtioPing;
try {
  console.log(`QEMU ${vm.accel} (${vm.accelReason}); ${N} requests each after ${WARMUP} warm-up`);
  qmp = await measure(() => vm.qmp.execute('query-status'));
  ping = await measure(() => vm.request({ data: 'ping' }, { timeout: 5000 }));
} finally {
  await vm.shutdown({ timeout: 10000 });
}
vm = await bootDemo(demo, 'virtio');
try {
  virtioPing = await measure(() => vm.request({ data: 'ping' }, { timeout: 5000 }));
} finally {
  await vm.shutdown({ timeout: 10000 });
}
row('baseline: Unix socket echo', baseline);
row('QMP query-status round trip', qmp, baseline);
row('command ping, 2nd UART (default)', ping, baseline);
row('command ping, virtio-serial', virtioPing, baseline);
console.log(`targets (TCG): QMP median <= 2 ms: ${qmp.median <= 2 ? 'met' : 'MISSED'}; command median <= 20 ms: ${ping.median <= 20 ? 'met' : 'MISSED'}`);
